import Database from "better-sqlite3";
import { Kysely, SqliteDialect, sql } from "kysely";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createStatementCache } from "./statement-cache.js";

interface Db {
  items: { id: string; qty: number; note: string | null };
}

describe("createStatementCache", () => {
  let sqlite: Database.Database;
  let db: Kysely<Db>;

  beforeEach(() => {
    sqlite = new Database(":memory:");
    sqlite.exec("create table items (id text primary key, qty integer not null, note text)");
    db = new Kysely<Db>({ dialect: new SqliteDialect({ database: sqlite }) });
  });
  afterEach(async () => {
    await db.destroy();
  });

  const run = (query: { sql: string; parameters: readonly unknown[] }) =>
    sqlite.prepare(query.sql).run(...(query.parameters as unknown[]));

  it("builds a shape once and fills each call's values into its parameters", () => {
    const statement = createStatementCache();
    let builds = 0;
    const insert = (rows: Db["items"][]) =>
      statement(`items:${rows.length}`, rows, (values) => {
        builds++;
        return db
          .insertInto("items")
          .values(values)
          .onConflict((oc) =>
            oc.column("id").doUpdateSet((eb) => ({ qty: eb.ref("excluded.qty") })),
          )
          .compile();
      });

    const first = insert([{ id: "a", qty: 1, note: null }]);
    const second = insert([{ id: "b", qty: 2, note: "x" }]);
    const pair = insert([
      { id: "c", qty: 3, note: null },
      { id: "a", qty: 4, note: "y" },
    ]);
    expect(builds).toBe(2);
    expect(second.sql).toBe(first.sql);
    expect(second.parameters).toEqual(["b", 2, "x"]);
    expect(pair.parameters).toEqual(["c", 3, null, "a", 4, "y"]);
    for (const query of [first, second, pair]) run(query);
    expect(sqlite.prepare("select id, qty, note from items order by id").all()).toEqual([
      { id: "a", qty: 4, note: null },
      { id: "b", qty: 2, note: "x" },
      { id: "c", qty: 3, note: null },
    ]);
  });

  it("fills a value used several times in a sql template at every place", () => {
    const statement = createStatementCache();
    const bump = (values: { id: string; by: number }) =>
      statement("bump", values, (v) =>
        sql`update items set qty = qty + ${v.by} where id = ${v.id} and qty < ${v.by} + 100`.compile(
          db,
        ),
      );
    run(db.insertInto("items").values({ id: "a", qty: 1, note: null }).compile());
    bump({ id: "zzz", by: 1 });
    const query = bump({ id: "a", by: 5 });
    expect(query.parameters).toEqual([5, "a", 5]);
    run(query);
    expect(sqlite.prepare("select qty from items where id = 'a'").get()).toEqual({ qty: 6 });
  });

  it("refuses a build that writes a value into the SQL text instead of a parameter", () => {
    const statement = createStatementCache();
    expect(() =>
      statement("inlined", { id: "a" }, (v) =>
        sql`select * from items where id = ${sql.lit(v.id)}`.compile(db),
      ),
    ).toThrow(/statement inlined: a value was written into the SQL text/);
  });

  it("refuses a build whose parameters are not the given values, and undefined values", () => {
    const statement = createStatementCache();
    expect(() =>
      statement("constant", { id: "a" }, (v) =>
        sql`select * from items where id = ${v.id} and qty > ${0}`.compile(db),
      ),
    ).toThrow(/statement constant: parameter 0 is not one of its values/);
    expect(() =>
      statement("undefined", { id: undefined }, (v) =>
        sql`select * from items where id = ${v.id}`.compile(db),
      ),
    ).toThrow(/value id is undefined/);
  });
});
