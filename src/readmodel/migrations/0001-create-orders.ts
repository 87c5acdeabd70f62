/**
 * Migration 0001: the orders and order_timeline tables with their indexes.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

/**
 * Creates migration 0001 for a dialect. Only column types differ: PostgreSQL
 * gets jsonb for the snapshot and byte-order ("C") collation for the text keys.
 */
export function createOrdersMigration(dialect: ReadModelDialect): Migration {
  // Keyset pagination compares (create_time, order_id) in SQL and the tests
  // compare with JavaScript's code-unit order; SQLite's default BINARY collation
  // is byte order, and "C" gives PostgreSQL the same regardless of the
  // database's locale (and is faster to compare and index).
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  const json = dialect === "postgres" ? sql`jsonb` : sql`text`;

  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("orders")
        .addColumn("order_id", key, (col) => col.primaryKey())
        .addColumn("customer_id", key, (col) => col.notNull())
        .addColumn("status", "text", (col) => col.notNull())
        .addColumn("create_time", key, (col) => col.notNull())
        .addColumn("update_time", key, (col) => col.notNull())
        .addColumn("version", "bigint", (col) => col.notNull())
        .addColumn("snapshot", json, (col) => col.notNull())
        .execute();

      // ListOrders for one customer, newest first (the keyset order).
      await db.schema
        .createIndex("orders_customer_id_create_time_idx")
        .on("orders")
        .columns(["customer_id", "create_time desc", "order_id desc"])
        .execute();
      // ListOrders by status across customers (operators' views).
      await db.schema
        .createIndex("orders_status_create_time_idx")
        .on("orders")
        .columns(["status", "create_time desc", "order_id desc"])
        .execute();
      // ListOrders without filters.
      await db.schema
        .createIndex("orders_create_time_idx")
        .on("orders")
        .columns(["create_time desc", "order_id desc"])
        .execute();

      await db.schema
        .createTable("order_timeline")
        .addColumn("order_id", key, (col) =>
          col.notNull().references("orders.order_id").onDelete("cascade"),
        )
        .addColumn("sequence", "integer", (col) => col.notNull())
        .addColumn("time", "text", (col) => col.notNull())
        .addColumn("actor", "text", (col) => col.notNull())
        .addColumn("from_status", "text")
        .addColumn("to_status", "text", (col) => col.notNull())
        .addColumn("reason", "text", (col) => col.notNull())
        .addColumn("version", "bigint", (col) => col.notNull())
        .addPrimaryKeyConstraint("order_timeline_pkey", ["order_id", "sequence"])
        .execute();
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("order_timeline").execute();
      await db.schema.dropTable("orders").execute();
    },
  };
}
