/**
 * Migration 0003: the notification_outbox table, the transactional outbox that
 * saveOrder writes customer notifications into and the notification
 * dispatcher (src/outbox) delivers from.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

/** Creates migration 0003 for a dialect. Column types follow 0001. */
export function createNotificationOutboxMigration(dialect: ReadModelDialect): Migration {
  const key = dialect === "postgres" ? sql`text collate "C"` : sql`text`;
  const json = dialect === "postgres" ? sql`jsonb` : sql`text`;

  return {
    async up(db: Kysely<unknown>) {
      // No foreign key to orders: a message outlives nothing it depends on,
      // and dead letters must stay whatever happens to the order row.
      await db.schema
        .createTable("notification_outbox")
        .addColumn("message_id", key, (col) => col.primaryKey())
        .addColumn("order_id", key, (col) => col.notNull())
        .addColumn("customer_id", "text", (col) => col.notNull())
        .addColumn("kind", "text", (col) => col.notNull())
        .addColumn("subject", "text", (col) => col.notNull())
        .addColumn("data", json, (col) => col.notNull())
        .addColumn("create_time", "text", (col) => col.notNull())
        .addColumn("attempts", "integer", (col) => col.notNull().defaultTo(0))
        .addColumn("available_at", key, (col) => col.notNull())
        .addColumn("claim_token", "text")
        .addColumn("last_error", "text", (col) => col.notNull().defaultTo(""))
        .addColumn("dead_letter_time", key)
        .execute();
      // What a claim scans: messages still to deliver, by due time. Partial,
      // so dead letters never weigh on it.
      await db.schema
        .createIndex("notification_outbox_due_idx")
        .on("notification_outbox")
        .columns(["available_at", "message_id"])
        .where(sql.ref("dead_letter_time"), "is", null)
        .execute();
      await db.schema
        .createIndex("notification_outbox_dead_letter_idx")
        .on("notification_outbox")
        .columns(["dead_letter_time", "message_id"])
        .where(sql.ref("dead_letter_time"), "is not", null)
        .execute();
    },

    async down(db: Kysely<unknown>) {
      await db.schema.dropTable("notification_outbox").execute();
    },
  };
}
