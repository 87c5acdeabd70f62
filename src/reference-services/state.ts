import { mkdirSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

/**
 * Where the reference services keep their state: a SQLite database (a file,
 * or `:memory:`), with the records held in memory as well, so that the
 * stores keep their synchronous, Map-shaped code.
 *
 * Every operation of a store runs in one transaction ({@link ReferenceState.transaction};
 * {@link ReferenceState.transactional} wraps a store's methods). The store
 * changes its records in memory as before; when the outermost transaction
 * ends, every record it touched whose JSON changed is written in one SQLite
 * transaction, so an operation's writes (an authorization, its ledger entry
 * and the idempotency result of the call) are on disk together or not at all;
 * an operation that changed nothing opens no SQLite transaction. When the operation
 * throws, or the write fails, the touched records are put back as they were
 * last written, in memory too.
 *
 * A record counts as touched when it is read with `get`, written with `set`
 * or removed with `delete` inside the transaction, so changing a record that
 * `get` returned in place is saved. Iterating (`values`, `entries`, …) and
 * `peek` are for reading: change a record you iterate over or peek at only
 * after you `get` it.
 */
export interface ReferenceState {
  /** The database file, or ":memory:". */
  readonly file: string;
  /**
   * Runs `fn` as one transaction; inside another, as part of it. `fn` must be
   * synchronous: a transaction cannot span an await.
   */
  transaction<T>(fn: () => T): T;
  /** The persistent map of a table (one instance per table). */
  map<V>(table: MapTable): PersistentMap<V>;
  /** The append-only log of a table (one instance per table). */
  log<V>(table: LogTable): AppendLog<V>;
  /** `api` with each method (and getter) run as one transaction. */
  transactional<T extends object>(api: T): T;
  /** Closes the database; the state is unusable afterwards. */
  close(): void;
}

/**
 * Tables holding keyed records (JSON in `value`), in insertion order. A new
 * one needs a migration that creates it (below).
 */
export type MapTable =
  | "inventory_catalog"
  | "inventory_stock"
  | "inventory_held"
  | "payment_authorizations"
  | "shipping_shipments"
  | "courier_reports"
  | "idempotency_results";

/** Tables holding an append-only sequence of records (likewise). */
export type LogTable = "payment_ledger" | "notifications_sent";

const mapTable = (t: MapTable) => `CREATE TABLE ${t} (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;
const logTable = (t: LogTable) =>
  `CREATE TABLE ${t} (seq INTEGER PRIMARY KEY, value TEXT NOT NULL);`;

/**
 * The schema, one entry per version (`PRAGMA user_version`); a database is
 * brought up to date when it is opened. Only ever append: a file at version
 * N runs the entries from N on.
 */
const MIGRATIONS: readonly string[] = [
  [
    mapTable("inventory_catalog"),
    mapTable("inventory_stock"),
    mapTable("inventory_held"),
    mapTable("payment_authorizations"),
    mapTable("shipping_shipments"),
    mapTable("courier_reports"),
    mapTable("idempotency_results"),
    logTable("payment_ledger"),
    logTable("notifications_sent"),
  ].join("\n"),
];

/**
 * How long opening a file waits for another process's lock: long enough for
 * a process that is exiting, short enough to fail fast when one is running.
 */
const LOCK_WAIT_MS = 2_000;

/** The state of the store that {@link ReferenceState.transactional} returned, for its services. */
const owners = new WeakMap<object, ReferenceState>();

/** The state behind a store made by {@link ReferenceState.transactional}. */
export function stateOf(store: object): ReferenceState {
  const state = owners.get(store);
  if (state === undefined) {
    throw new Error("this store keeps no reference state");
  }
  return state;
}

/** What takes part in a transaction: a map or log with changes to write. */
interface Participant {
  /** Works out what changed since last saved (no I/O); false when nothing did. */
  prepare(): boolean;
  /** Writes what prepare() found (inside the SQLite transaction). */
  write(): void;
  /** The write committed: what was written is now the saved state. */
  settle(): void;
  /** Puts the in-memory records back as last saved. */
  rollback(): void;
}

/**
 * Opens (creating it if needed) the state database and brings its schema up
 * to date. A file is opened in WAL mode and locked for this process alone,
 * so a second process on the same file fails at once instead of diverging.
 *
 * @param file a path, or ":memory:" (the default) for state that ends with the process
 */
export function openReferenceState(file = ":memory:"): ReferenceState {
  if (file !== ":memory:") mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: LOCK_WAIT_MS });
  try {
    if (file !== ":memory:") {
      // Set before WAL: the WAL index then lives in this process, and the lock is never released.
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      // Survives the process being killed at any point; only a power loss can lose the last commits.
      db.pragma("synchronous = NORMAL");
    }
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  // One transaction function for the life of the database, not one per operation.
  const writeChanges = db.transaction((changed: Participant[]) => {
    for (const p of changed) p.write();
  });
  let active: Set<Participant> | undefined;
  const join = (participant: Participant, what: string): void => {
    if (active === undefined) {
      throw new Error(`reference state: ${what} outside a transaction`);
    }
    active.add(participant);
  };
  const maps = new Map<MapTable, PersistentMap<unknown>>();
  const logs = new Map<LogTable, AppendLog<unknown>>();

  const state: ReferenceState = {
    file,
    transaction<T>(fn: () => T): T {
      if (active !== undefined) return fn();
      const participants = new Set<Participant>();
      active = participants;
      try {
        const result = fn();
        if (typeof (result as { then?: unknown } | undefined)?.then === "function") {
          throw new Error("reference state: a transaction cannot span an await");
        }
        // Only what changed is written; an operation that changed nothing
        // (a read, a repeated call answered from its idempotency record)
        // opens no SQLite transaction at all.
        const changed: Participant[] = [];
        for (const p of participants) if (p.prepare()) changed.push(p);
        if (changed.length > 0) writeChanges(changed);
        for (const p of participants) p.settle();
        return result;
      } catch (err) {
        for (const p of participants) p.rollback();
        throw err;
      } finally {
        active = undefined;
      }
    },
    map<V>(table: MapTable): PersistentMap<V> {
      let map = maps.get(table);
      if (map === undefined) {
        map = new PersistentMap<unknown>(db, table, join);
        maps.set(table, map);
      }
      return map as PersistentMap<V>;
    },
    log<V>(table: LogTable): AppendLog<V> {
      let log = logs.get(table);
      if (log === undefined) {
        log = AppendLog.open<unknown>(db, table, join);
        logs.set(table, log);
      }
      return log as AppendLog<V>;
    },
    transactional<T extends object>(api: T): T {
      const wrapped = {} as T;
      for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(api))) {
        const { value, get } = d;
        if (typeof value === "function") {
          d.value = (...args: unknown[]) => state.transaction(() => value.apply(api, args));
        }
        if (get !== undefined) {
          d.get = () => state.transaction(() => get.call(api));
        }
        Object.defineProperty(wrapped, name, d);
      }
      owners.set(wrapped, state);
      return wrapped;
    },
    close() {
      db.close();
    },
  };
  return state;
}

function migrate(db: Database.Database): void {
  // EXCLUSIVE takes the file's lock now (and, in locking_mode EXCLUSIVE, keeps it).
  db.exec("BEGIN EXCLUSIVE");
  try {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `reference state ${db.name} has schema version ${version}, newer than this code (${MIGRATIONS.length})`,
      );
    }
    for (const [i, sql] of MIGRATIONS.entries()) {
      if (i < version) continue;
      db.exec(sql);
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

type Join = (participant: Participant, what: string) => void;

/**
 * A `Map` from string keys whose records are saved in a table when the
 * transaction that changed them ends. See {@link ReferenceState} for what
 * counts as a change.
 */
export class PersistentMap<V> extends Map<string, V> implements Participant {
  /** Each key's JSON as last written. */
  readonly #saved = new Map<string, string>();
  /** Keys read or changed in the current transaction. */
  readonly #touched = new Set<string>();
  /** What prepare() found changed (JSON, or undefined: removed), for write() and settle(). */
  #written = new Map<string, string | undefined>();
  readonly #upsert: Database.Statement;
  readonly #remove: Database.Statement;
  readonly #join: Join;

  constructor(db: Database.Database, table: MapTable, join: Join) {
    super();
    this.#join = join;
    this.#upsert = db.prepare(
      `INSERT INTO ${table} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    this.#remove = db.prepare(`DELETE FROM ${table} WHERE key = ?`);
    const rows = db.prepare(`SELECT key, value FROM ${table} ORDER BY rowid`).all() as {
      key: string;
      value: string;
    }[];
    for (const { key, value } of rows) {
      super.set(key, decode(value) as V);
      this.#saved.set(key, value);
    }
  }

  #touch(key: string, what: string): void {
    this.#join(this, what);
    this.#touched.add(key);
  }

  override get(key: string): V | undefined {
    this.#touch(key, "get");
    return super.get(key);
  }

  /**
   * Reads a record without touching it, like iterating: for reading only (a
   * record changed through `peek` is not saved). Costs nothing at commit.
   */
  peek(key: string): V | undefined {
    return super.get(key);
  }

  override set(key: string, value: V): this {
    this.#touch(key, "set");
    return super.set(key, value);
  }

  override delete(key: string): boolean {
    this.#touch(key, "delete");
    return super.delete(key);
  }

  override clear(): void {
    for (const key of super.keys()) this.#touch(key, "clear");
    super.clear();
  }

  prepare(): boolean {
    this.#written.clear();
    for (const key of this.#touched) {
      if (super.has(key)) {
        const json = encode(super.get(key));
        if (json !== this.#saved.get(key)) this.#written.set(key, json);
      } else if (this.#saved.has(key)) {
        this.#written.set(key, undefined);
      }
    }
    return this.#written.size > 0;
  }

  write(): void {
    for (const [key, json] of this.#written) {
      if (json === undefined) this.#remove.run(key);
      else this.#upsert.run(key, json);
    }
  }

  settle(): void {
    for (const [key, json] of this.#written) {
      if (json === undefined) this.#saved.delete(key);
      else this.#saved.set(key, json);
    }
    this.#written.clear();
    this.#touched.clear();
  }

  rollback(): void {
    for (const key of this.#touched) {
      const json = this.#saved.get(key);
      if (json === undefined) super.delete(key);
      else super.set(key, decode(json) as V);
    }
    this.#written.clear();
    this.#touched.clear();
  }
}

/**
 * An array whose `push` appends to a table when the transaction ends (and is
 * undone if it fails). Other array methods read it; nothing else changes it.
 */
export class AppendLog<V> extends Array<V> implements Participant {
  // map, filter, … return plain arrays.
  static override get [Symbol.species]() {
    return Array;
  }

  #insert!: Database.Statement;
  #join!: Join;
  /** The length at the start of the current transaction. */
  #saved = 0;

  static open<V>(db: Database.Database, table: LogTable, join: Join): AppendLog<V> {
    const log = new AppendLog<V>();
    log.#join = join;
    log.#insert = db.prepare(`INSERT INTO ${table} (value) VALUES (?)`);
    const rows = db.prepare(`SELECT value FROM ${table} ORDER BY seq`).pluck().all() as string[];
    for (const json of rows) Array.prototype.push.call(log, decode(json));
    log.#saved = log.length;
    return log;
  }

  override push(...items: V[]): number {
    this.#join(this, "push");
    return super.push(...items);
  }

  prepare(): boolean {
    return this.length > this.#saved;
  }

  write(): void {
    for (let i = this.#saved; i < this.length; i++) {
      this.#insert.run(encode(this[i]));
    }
  }

  settle(): void {
    this.#saved = this.length;
  }

  rollback(): void {
    this.length = this.#saved;
  }
}

/** JSON with the types records hold beyond it: bigint, Date, Map, bytes. */
export function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, json: unknown) {
    const raw = this[key];
    if (typeof raw === "bigint") return { $bigint: raw.toString() };
    if (raw instanceof Date) return { $date: raw.toISOString() };
    if (raw instanceof Map) return { $map: [...raw] };
    if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString("base64") };
    return json;
  });
}

/** The inverse of {@link encode}. */
export function decode(json: string): unknown {
  return JSON.parse(json, (_key, value: unknown) => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
    const tagged = value as Record<string, unknown>;
    const keys = Object.keys(tagged);
    if (keys.length !== 1) return value;
    if (typeof tagged.$bigint === "string") return BigInt(tagged.$bigint);
    if (typeof tagged.$date === "string") return new Date(tagged.$date);
    if (Array.isArray(tagged.$map)) return new Map(tagged.$map as [unknown, unknown][]);
    if (typeof tagged.$bytes === "string")
      return new Uint8Array(Buffer.from(tagged.$bytes, "base64"));
    return value;
  });
}
