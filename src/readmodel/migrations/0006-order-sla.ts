/**
 * Migration 0006: the orders table's SLA columns, for ListOrders' sla_state
 * filter: sla_at_risk_time (when the order's current SLA stage becomes at
 * risk; NULL while no clock runs) and sla_breached (1 once any stage was
 * breached). Orders saved before it carry no SLA clocks: NULL and 0 are right.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

export function createOrderSlaMigration(_dialect: ReadModelDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("orders").addColumn("sla_at_risk_time", "text").execute();
      await db.schema
        .alterTable("orders")
        .addColumn("sla_breached", "integer", (col) => col.notNull().defaultTo(0))
        .execute();
      // Only orders with a running clock are in it: AT_RISK reads a range of it.
      await db.schema
        .createIndex("orders_sla_at_risk_idx")
        .on("orders")
        .column("sla_at_risk_time")
        .where(sql.ref("sla_at_risk_time"), "is not", null)
        .execute();
      // Few orders breach: BREACHED reads only them, newest first.
      await db.schema
        .createIndex("orders_sla_breached_idx")
        .on("orders")
        .columns(["create_time", "order_id"])
        .where(sql.ref("sla_breached"), "<>", 0)
        .execute();
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropIndex("orders_sla_breached_idx").execute();
      await db.schema.dropIndex("orders_sla_at_risk_idx").execute();
      await db.schema.alterTable("orders").dropColumn("sla_breached").execute();
      await db.schema.alterTable("orders").dropColumn("sla_at_risk_time").execute();
    },
  };
}
