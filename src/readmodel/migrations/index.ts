/**
 * The read model's versioned migrations, applied with Kysely's Migrator.
 *
 * The migration set is a static object in code rather than a folder scan, so
 * the bundled and the tsx-run server see exactly the same migrations.
 */

import { type Kysely, type Migration, type MigrationResult, Migrator } from "kysely";
import type { ReadModelDialect } from "../tables.js";
import { createOrdersMigration } from "./0001-create-orders.js";
import { createOrderVersionsAndShipmentsMigration } from "./0002-order-versions-and-shipments.js";
import { createNotificationOutboxMigration } from "./0003-notification-outbox.js";
import { createOrderHoldsMigration } from "./0004-order-holds.js";
import { createOrderEventsMigration } from "./0005-order-events.js";
import { createOrderSlaMigration } from "./0006-order-sla.js";
import { createEventPositionsAfterCommitMigration } from "./0007-event-positions-after-commit.js";
import { createWriteRankMigration } from "./0008-write-rank.js";
import { createAcceptFirstMigration } from "./0009-accept-first.js";

/** Bookkeeping tables, named so they cannot collide with anything else sharing the database. */
export const MIGRATION_TABLE = "oms_readmodel_migration";
/** @see MIGRATION_TABLE */
export const MIGRATION_LOCK_TABLE = "oms_readmodel_migration_lock";

/**
 * Every migration, keyed by name; names sort in the order they must run.
 * Append new ones; never edit or rename one that has shipped.
 */
export function createReadModelMigrations(dialect: ReadModelDialect): Record<string, Migration> {
  return {
    "0001_create_orders": createOrdersMigration(dialect),
    "0002_order_versions_and_shipments": createOrderVersionsAndShipmentsMigration(dialect),
    "0003_notification_outbox": createNotificationOutboxMigration(dialect),
    "0004_order_holds": createOrderHoldsMigration(dialect),
    "0005_order_events": createOrderEventsMigration(dialect),
    "0006_order_sla": createOrderSlaMigration(dialect),
    "0007_event_positions_after_commit": createEventPositionsAfterCommitMigration(dialect),
    "0008_write_rank": createWriteRankMigration(dialect),
    "0009_accept_first": createAcceptFirstMigration(dialect),
  };
}

/**
 * Applies every pending migration. Safe to call from several processes at
 * once: Kysely's Migrator takes a lock (an advisory lock on PostgreSQL), so
 * exactly one of them migrates and the others find nothing left to do.
 *
 * @returns the migrations this call applied.
 * @throws when a migration fails; the failed migration's transaction is rolled back.
 */
export async function migrateReadModel<DB>(
  db: Kysely<DB>,
  dialect: ReadModelDialect,
): Promise<MigrationResult[]> {
  const migrations = createReadModelMigrations(dialect);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === "Error")?.migrationName;
    throw new Error(
      `read-model migration ${failed ?? "setup"} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return results;
}
