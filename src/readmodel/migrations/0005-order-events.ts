/**
 * Migration 0005: the order event log (order_events), written by saveOrder in
 * the same transaction as each new version, with the counter that gives every
 * event its position (order_event_sequence), and the publishers' cursors
 * (event_publishers). Orders saved before it get one event each with their
 * current snapshot, so that their later events continue a sequence that
 * starts at 1.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

/** Creates migration 0005 for a dialect. Column types follow 0001. */
export function createOrderEventsMigration(dialect: ReadModelDialect): Migration {
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  const json = dialect === "postgres" ? sql`jsonb` : sql`text`;

  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("order_events")
        .addColumn("position", "bigint", (col) => col.primaryKey())
        .addColumn("order_id", key, (col) => col.notNull())
        .addColumn("sequence", "bigint", (col) => col.notNull())
        .addColumn("version", "bigint", (col) => col.notNull())
        .addColumn("type", "text", (col) => col.notNull())
        .addColumn("time", "text", (col) => col.notNull())
        .addColumn("previous_status", "text")
        .addColumn("reasons", "text", (col) => col.notNull())
        .addColumn("snapshot", json, (col) => col.notNull())
        .addUniqueConstraint("order_events_order_sequence_key", ["order_id", "sequence"])
        .addUniqueConstraint("order_events_order_version_key", ["order_id", "version"])
        .execute();

      // One row: the last position handed out. Taking the next one locks the
      // row until the transaction commits, so positions become visible in
      // their order (a reader that has seen position n never sees a smaller
      // one appear later).
      await db.schema
        .createTable("order_event_sequence")
        .addColumn("id", "integer", (col) => col.primaryKey())
        .addColumn("last_position", "bigint", (col) => col.notNull())
        .execute();

      await db.schema
        .createTable("event_publishers")
        .addColumn("name", key, (col) => col.primaryKey())
        .addColumn("position", "bigint", (col) => col.notNull())
        .addColumn("lease_owner", "text")
        .addColumn("lease_until", key)
        .execute();

      await sql`
        insert into order_events
          (position, order_id, sequence, version, type, time, previous_status, reasons, snapshot)
        select row_number() over (order by create_time, order_id), order_id, 1, version,
               case when version = 1 then 'CREATED' else 'UPDATED' end,
               update_time, null, '[]', snapshot
        from orders
      `.execute(db);
      await sql`
        insert into order_event_sequence (id, last_position)
        select 1, coalesce(max(position), 0) from order_events
      `.execute(db);
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("event_publishers").execute();
      await db.schema.dropTable("order_event_sequence").execute();
      await db.schema.dropTable("order_events").execute();
    },
  };
}
