/**
 * Migration 0002: the order_versions table (every version of every order, for
 * WatchOrder) and the shipments table (shipment id → order and fulfillment,
 * for routing courier events), both backfilled from the orders table.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

/**
 * Creates migration 0002 for a dialect. Column types follow 0001: jsonb and
 * "C" collation on PostgreSQL, text on SQLite.
 */
export function createOrderVersionsAndShipmentsMigration(dialect: ReadModelDialect): Migration {
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  const json = dialect === "postgres" ? sql`jsonb` : sql`text`;

  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("order_versions")
        .addColumn("order_id", key, (col) =>
          col.notNull().references("orders.order_id").onDelete("cascade"),
        )
        .addColumn("version", "bigint", (col) => col.notNull())
        .addColumn("snapshot", json, (col) => col.notNull())
        .addPrimaryKeyConstraint("order_versions_pkey", ["order_id", "version"])
        .execute();

      await db.schema
        .createTable("shipments")
        .addColumn("shipment_id", key, (col) => col.primaryKey())
        .addColumn("order_id", key, (col) =>
          col.notNull().references("orders.order_id").onDelete("cascade"),
        )
        .addColumn("fulfillment_id", "text", (col) => col.notNull())
        .execute();
      // Keeps the foreign key's cascade (and any per-order lookup) off a full scan.
      await db.schema
        .createIndex("shipments_order_id_idx")
        .on("shipments")
        .column("order_id")
        .execute();

      // Orders saved before this migration: their latest snapshot is the only
      // version left to record (older ones were overwritten), and their
      // shipments must be routable before the order's next save.
      await sql`
        insert into order_versions (order_id, version, snapshot)
        select order_id, version, snapshot from orders
      `.execute(db);
      await (dialect === "postgres"
        ? sql`
            insert into shipments (shipment_id, order_id, fulfillment_id)
            select f.value -> 'shipment' ->> 'shipmentId', o.order_id,
                   coalesce(f.value ->> 'fulfillmentId', '')
            from orders o
            cross join lateral jsonb_array_elements(
              case when jsonb_typeof(o.snapshot -> 'fulfillments') = 'array'
                   then o.snapshot -> 'fulfillments' else '[]'::jsonb end
            ) as f(value)
            where coalesce(f.value -> 'shipment' ->> 'shipmentId', '') <> ''
            order by o.order_id, f.value -> 'shipment' ->> 'shipmentId'
            on conflict do nothing
          `
        : sql`
            insert into shipments (shipment_id, order_id, fulfillment_id)
            select json_extract(f.value, '$.shipment.shipmentId'), o.order_id,
                   coalesce(json_extract(f.value, '$.fulfillmentId'), '')
            from orders o, json_each(o.snapshot, '$.fulfillments') f
            where json_type(o.snapshot, '$.fulfillments') = 'array'
              and json_type(f.value, '$.shipment.shipmentId') = 'text'
              and json_extract(f.value, '$.shipment.shipmentId') <> ''
            order by o.order_id, json_extract(f.value, '$.shipment.shipmentId')
            on conflict do nothing
          `
      ).execute(db);
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("shipments").execute();
      await db.schema.dropTable("order_versions").execute();
    },
  };
}
