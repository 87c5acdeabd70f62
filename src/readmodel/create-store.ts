/**
 * Picks the read-model back-end from configuration.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createSqliteStore } from "./sqlite.js";
import type { OrderStore } from "./store.js";

/** Options of {@link createStore}. */
export interface CreateStoreOptions {
  /**
   * `postgres://…` or `postgresql://…` selects PostgreSQL; `sqlite:PATH` or
   * `file:PATH` (also `file:///abs/path`) a SQLite file; empty or absent the
   * SQLite file `${dataDir}/readmodel.sqlite`.
   */
  databaseUrl?: string;
  /** The git-ignored data folder of the embedded default. */
  dataDir: string;
  /** HMAC key of page tokens; every API replica must use the same one. */
  pageTokenSecret: string | Uint8Array;
  /** PostgreSQL pool size per process. */
  poolSize?: number;
  /** SQLite only: see SqliteStoreOptions.walAutocheckpointPages. */
  walAutocheckpointPages?: number;
}

/** What {@link resolveStoreLocation} decided. */
export type StoreLocation =
  | { kind: "postgres"; connectionString: string }
  | { kind: "sqlite"; filename: string };

/**
 * Maps a database URL to a back-end and location, without opening anything
 * (so configuration validation can report a bad URL at start).
 *
 * @throws for a URL with any other scheme, rather than silently falling back to SQLite.
 */
export function resolveStoreLocation(
  databaseUrl: string | undefined,
  dataDir: string,
): StoreLocation {
  const url = databaseUrl?.trim() ?? "";
  if (url === "") return { kind: "sqlite", filename: join(dataDir, "readmodel.sqlite") };
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: "postgres", connectionString: url };
  if (/^file:\/\//i.test(url)) return { kind: "sqlite", filename: fileURLToPath(url) };
  const sqlitePath = /^(?:sqlite|file):(?:\/\/(?=\/))?(.+)$/i.exec(url)?.[1];
  if (sqlitePath !== undefined) return { kind: "sqlite", filename: sqlitePath };
  throw new Error(
    "database URL must start with postgres://, postgresql://, sqlite: or file: (got scheme " +
      `${JSON.stringify(url.split(":")[0])})`,
  );
}

/** Opens the configured read model, with migrations applied. */
export async function createStore(options: CreateStoreOptions): Promise<OrderStore> {
  const location = resolveStoreLocation(options.databaseUrl, options.dataDir);
  if (location.kind === "postgres") {
    // Loaded only for PostgreSQL: SQLite deployments never load the pg driver.
    const { createPostgresStore } = await import("./postgres.js");
    return createPostgresStore({
      connectionString: location.connectionString,
      pageTokenSecret: options.pageTokenSecret,
      poolSize: options.poolSize,
    });
  }
  return createSqliteStore({
    filename: location.filename,
    pageTokenSecret: options.pageTokenSecret,
    // The embedded default makes the same trade as its Temporal dev server
    // (WAL + synchronous=normal): it survives a process crash, and only a power
    // loss can cost the last commits. An fsync per version tripled SubmitOrder's
    // latency (the bench). Production runs on PostgreSQL.
    synchronous: "NORMAL",
    ...(options.walAutocheckpointPages !== undefined
      ? { walAutocheckpointPages: options.walAutocheckpointPages }
      : {}),
  });
}
