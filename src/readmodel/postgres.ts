/**
 * The PostgreSQL back-end of the read model, for deployments that run several
 * API and worker processes (`OMS_DATABASE_URL`).
 */

import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { createKyselyOrderStore } from "./kysely-store.js";
import { migrateReadModel } from "./migrations/index.js";
import { checkPageTokenSecret } from "./page-token.js";
import type { OrderStore } from "./store.js";
import type { ReadModelDatabase } from "./tables.js";

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…`, as libpq and pg accept it. */
  connectionString: string;
  /** HMAC key of page tokens; every API replica must use the same one. */
  pageTokenSecret: string | Uint8Array;
  /** Maximum connections of this process's pool. Default 10. */
  poolSize?: number;
  /** Shown in pg_stat_activity, to tell API and worker connections apart. Default "oms". */
  applicationName?: string;
  /**
   * Called when an idle pooled connection fails (server restart, network cut).
   * The pool drops that connection and opens a new one on demand; without a
   * listener the 'error' event would crash the process. Default: ignore.
   */
  onIdleConnectionError?: (error: Error) => void;
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
}

/**
 * Connects to PostgreSQL and applies pending migrations. Any number of
 * processes may do this at once against one database: migrations serialize on
 * an advisory lock and every write is a single conflict-aware statement.
 */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<OrderStore> {
  checkPageTokenSecret(options.pageTokenSecret);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? "oms",
  });
  const onIdleConnectionError = options.onIdleConnectionError ?? (() => {});
  pool.on("error", (error) => onIdleConnectionError(error));
  // A connection that fails while checked out (between the statements of a
  // transaction, say) also emits 'error', and the pool listens only to idle
  // ones: with no listener that event would crash the process. The failure
  // itself reaches the caller through its query or its next one.
  pool.on("connect", (client) => client.on("error", () => {}));

  const db = new Kysely<ReadModelDatabase>({ dialect: new PostgresDialect({ pool }) });
  try {
    if (options.migrate ?? true) await migrateReadModel(db, "postgres");
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return createKyselyOrderStore(db, {
    dialect: "postgres",
    pageTokenSecret: options.pageTokenSecret,
  });
}
