/**
 * The SQLite back-end of the read model: the embedded default for `oms dev`
 * and single-machine deployments.
 */

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { type CompiledQuery, Kysely, type QueryResult, SqliteDialect } from "kysely";
import { createKyselyOrderStore, type WriteTransactionRunner } from "./kysely-store.js";
import { migrateReadModel } from "./migrations/index.js";
import { checkPageTokenSecret } from "./page-token.js";
import type { OrderStore } from "./store.js";
import type { ReadModelDatabase } from "./tables.js";

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions {
  /** Database file; its folder is created if missing. `:memory:` works for throwaway stores. */
  filename: string;
  /** HMAC key of page tokens; every API replica must use the same one. */
  pageTokenSecret: string | Uint8Array;
  /**
   * How long a write waits for another process's write lock before failing.
   * Default 5000 ms. The wait does not block the thread: see
   * createSynchronousTransactionRunner.
   */
  busyTimeoutMs?: number;
  /**
   * SQLite's `synchronous` pragma. FULL (the default) makes each commit durable
   * across power loss; NORMAL is faster in WAL mode but can lose the latest
   * transitions on an OS crash, and a lost terminal transition is never written again.
   */
  synchronous?: "FULL" | "NORMAL";
  /**
   * SQLite's `wal_autocheckpoint`: the committing connection that finds the
   * WAL longer than this many pages copies it into the database file (and
   * fsyncs), synchronously. Default 1000 (SQLite's); 0 never.
   */
  walAutocheckpointPages?: number;
  /** Apply pending migrations before returning. Default true. */
  migrate?: boolean;
}

/**
 * Opens (creating if needed) a SQLite read model and applies its migrations.
 * Several processes may open the same file: WAL lets readers run alongside
 * the single writer, and busy_timeout makes writers queue instead of failing.
 */
export async function createSqliteStore(options: SqliteStoreOptions): Promise<OrderStore> {
  checkPageTokenSecret(options.pageTokenSecret);
  const { filename } = options;
  if (filename !== ":memory:" && filename !== "") {
    mkdirSync(dirname(filename), { recursive: true });
  }
  const sqlite = new Database(filename);
  const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
  try {
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
    sqlite.pragma(`synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
    sqlite.pragma("foreign_keys = ON");
    if (options.walAutocheckpointPages !== undefined) {
      sqlite.pragma(
        `wal_autocheckpoint = ${Math.max(0, Math.trunc(options.walAutocheckpointPages))}`,
      );
    }
  } catch (error) {
    sqlite.close();
    throw error;
  }

  const prepare = createStatementPreparer(sqlite);
  const db = new Kysely<ReadModelDatabase>({
    // Kysely prepares every query it runs anew: reads (GetOrder, every
    // WatchOrder poll) reuse their prepared statements instead.
    dialect: new SqliteDialect({
      database: { prepare, close: () => sqlite.close() },
    }),
  });
  try {
    if (options.migrate ?? true) await migrateExclusively(db, sqlite, filename);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return createKyselyOrderStore(db, {
    dialect: "sqlite",
    pageTokenSecret: options.pageTokenSecret,
    runWriteTransaction: createSynchronousTransactionRunner(sqlite, prepare, busyTimeoutMs),
  });
}

/** Tails of the in-process migration queues, by database file. */
const migrationQueues = new Map<string, Promise<void>>();

/**
 * Applies migrations while holding SQLite's write lock, so that they are
 * atomic (SQLite has transactional DDL, though Kysely does not use it there)
 * and so that processes starting together migrate one after the other instead
 * of racing to create the same tables (Kysely's migration lock is a no-op on
 * SQLite). Stores opened together in one process queue here first: the write
 * lock is held across awaits, and a second connection of this thread waiting
 * for it would block the thread that has to release it.
 */
async function migrateExclusively(
  db: Kysely<ReadModelDatabase>,
  sqlite: Database.Database,
  filename: string,
): Promise<void> {
  const migrate = async (): Promise<void> => {
    sqlite.exec("BEGIN IMMEDIATE");
    try {
      await migrateReadModel(db, "sqlite");
      sqlite.exec("COMMIT");
    } catch (error) {
      if (sqlite.inTransaction) sqlite.exec("ROLLBACK");
      throw error;
    }
  };
  if (filename === ":memory:" || filename === "") return migrate();

  const key = resolve(filename);
  const run = (migrationQueues.get(key) ?? Promise.resolve()).then(migrate);
  const tail = run.catch(() => {});
  migrationQueues.set(key, tail);
  try {
    await run;
  } finally {
    if (migrationQueues.get(key) === tail) migrationQueues.delete(key);
  }
}

// Distinct statement texts are few (one upsert, timeline inserts by batch
// size, a read per query shape); the cap only guards against unbounded growth.
const STATEMENT_CACHE_LIMIT = 256;

/**
 * better-sqlite3's prepare with the statements kept by SQL text: preparing
 * (parsing and planning) costs more than running a short statement. A
 * statement still iterating (a streamed query) is not shared; PRAGMAs are
 * prepared anew (some take effect only when prepared).
 */
function createStatementPreparer(sqlite: Database.Database): (sql: string) => Database.Statement {
  const statements = new Map<string, Database.Statement>();
  return (sql) => {
    let statement = statements.get(sql);
    if (statement !== undefined && !statement.busy) return statement;
    statement = sqlite.prepare(sql);
    if (/^\s*pragma\b/i.test(sql)) return statement;
    if (statements.size >= STATEMENT_CACHE_LIMIT) statements.clear();
    statements.set(sql, statement);
    return statement;
  };
}

/**
 * Runs a write transaction from BEGIN to COMMIT in one synchronous call.
 *
 * better-sqlite3 is synchronous, and its busy handler sleeps on the calling
 * thread. With an async Kysely transaction, a second connection to the same
 * file in the same process (say an API and a worker store in `oms dev`) can
 * start writing while the first awaits between its statements: the second then
 * sleeps the whole thread for busy_timeout waiting for a lock the first can
 * never release, and fails with SQLITE_BUSY. Holding the write lock only
 * within one synchronous call rules that out. BEGIN IMMEDIATE takes the write
 * lock up front, so a write never fails on a read-to-write upgrade.
 *
 * While another process holds the write lock (the worker's saves, the API's
 * accept write), BEGIN IMMEDIATE fails at once (busy_timeout 0 for the
 * attempt) and the attempt is repeated after a short timer, until
 * `busyTimeoutMs` has passed: the wait never sleeps the thread, so the
 * process's other calls go on meanwhile (SQLite's own busy handler slept the
 * whole event loop for 1 to 100 ms per try).
 */
function createSynchronousTransactionRunner(
  sqlite: Database.Database,
  prepare: (sql: string) => Database.Statement,
  busyTimeoutMs: number,
): WriteTransactionRunner {
  const transaction = sqlite.transaction((queries: readonly CompiledQuery[]) =>
    queries.map((query): QueryResult<unknown> => {
      const statement = prepare(query.sql);
      const parameters = query.parameters as unknown[];
      if (statement.reader) return { rows: statement.all(parameters) };
      const { changes } = statement.run(parameters);
      return { rows: [], numAffectedRows: BigInt(changes) };
    }),
  );
  // busy_timeout takes effect when its PRAGMA is prepared, so it is not a
  // cached statement; exec runs it without the statement object and result
  // rows that pragma() makes (a quarter of the CPU, twice per write).
  const restoreBusyTimeout = `PRAGMA busy_timeout = ${busyTimeoutMs}`;
  const attempt = (queries: readonly CompiledQuery[]) => {
    sqlite.exec("PRAGMA busy_timeout = 0");
    try {
      return transaction.immediate(queries);
    } finally {
      sqlite.exec(restoreBusyTimeout);
    }
  };
  return async (queries) => {
    const started = performance.now();
    for (let tries = 0; ; tries++) {
      try {
        return attempt(queries);
      } catch (error) {
        const waited = performance.now() - started;
        if (!isBusy(error) || waited >= busyTimeoutMs) throw error;
        await sleep(
          Math.min(BUSY_RETRY_DELAYS_MS[tries] ?? BUSY_RETRY_MAX_DELAY_MS, busyTimeoutMs - waited),
        );
      }
    }
  };
}

/** Delays between attempts while another process writes; then BUSY_RETRY_MAX_DELAY_MS each. */
const BUSY_RETRY_DELAYS_MS = [0, 1, 1, 2, 2, 3, 4, 5, 6, 8];
const BUSY_RETRY_MAX_DELAY_MS = 10;

/** SQLITE_BUSY and its extended codes: the lock is someone else's; nothing was written. */
function isBusy(error: unknown): boolean {
  return error instanceof Database.SqliteError && error.code.startsWith("SQLITE_BUSY");
}
