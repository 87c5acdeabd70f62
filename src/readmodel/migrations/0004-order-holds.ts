/**
 * Migration 0004: the orders table's active_holds column (the types of the
 * order's active holds, for ListOrders' hold filters) and a partial index
 * over the orders on hold. Orders saved before it had no holds: '' is right.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

export function createOrderHoldsMigration(_dialect: ReadModelDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable("orders")
        .addColumn("active_holds", "text", (col) => col.notNull().defaultTo(""))
        .execute();
      // Few orders are on hold at a time: ListOrders(on_hold) reads only them, newest first.
      await db.schema
        .createIndex("orders_on_hold_idx")
        .on("orders")
        .columns(["create_time", "order_id"])
        .where(sql.ref("active_holds"), "<>", "")
        .execute();
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex("orders_on_hold_idx").execute();
      await db.schema.alterTable("orders").dropColumn("active_holds").execute();
    },
  };
}
