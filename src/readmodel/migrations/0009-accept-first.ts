/**
 * Migration 0009: accept-first SubmitOrder.
 *
 * - `order_submissions`: the submission fingerprint of every order accepted
 *   since this migration, kept for good, so that a repeated SubmitOrder is
 *   judged from the read model (same fingerprint: the stored order; another:
 *   ALREADY_EXISTS). Orders accepted before it have no row; the API judges
 *   them by their workflow's memo, as before.
 * - `workflow_starts`: one row per accepted order whose workflow has not been
 *   started yet, written in the same transaction as the order's version 1 and
 *   holding everything the start needs. Deleted once the workflow exists;
 *   claimed with a lease (like the notification outbox) by the start
 *   dispatcher of every API process; `parked_time` set when a start can never
 *   succeed (a conflicting workflow exists), for an operator.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

export function createAcceptFirstMigration(dialect: ReadModelDialect): Migration {
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  const json = dialect === "postgres" ? sql`jsonb` : sql`text`;

  return {
    async up(db: Kysely<unknown>) {
      // No foreign keys: both are written with the order row, in one
      // transaction, and must never block or be blocked by its writers.
      await db.schema
        .createTable("order_submissions")
        .addColumn("order_id", key, (col) => col.primaryKey())
        .addColumn("fingerprint", "text", (col) => col.notNull())
        .execute();
      await db.schema
        .createTable("workflow_starts")
        .addColumn("order_id", key, (col) => col.primaryKey())
        .addColumn("fingerprint", "text", (col) => col.notNull())
        .addColumn("request", json, (col) => col.notNull())
        .addColumn("create_time", key, (col) => col.notNull())
        .addColumn("attempts", "integer", (col) => col.notNull().defaultTo(0))
        .addColumn("available_at", key, (col) => col.notNull())
        .addColumn("claim_token", "text")
        .addColumn("last_error", "text", (col) => col.notNull().defaultTo(""))
        .addColumn("parked_time", key)
        .execute();
      // What a claim scans: starts still to make, by due time.
      await db.schema
        .createIndex("workflow_starts_due_idx")
        .on("workflow_starts")
        .columns(["available_at", "order_id"])
        .where(sql.ref("parked_time"), "is", null)
        .execute();
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("workflow_starts").execute();
      await db.schema.dropTable("order_submissions").execute();
    },
  };
}
