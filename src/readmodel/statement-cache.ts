/**
 * Compiled statements reused by shape. Kysely builds an operation tree and
 * compiles it to SQL on every call, which costs more CPU than running the
 * statement on SQLite; saveOrder runs the same few statements with new values
 * on every write. A template is built and compiled by Kysely once per shape
 * (the caller's key: which statement, how many rows), with a placeholder in
 * place of every value; each call then only fills the parameter list from
 * the new values. The SQL text stays Kysely's, for either dialect.
 */

import { type CompiledQuery, createQueryId } from "kysely";

/**
 * The values of one statement: a flat record of leaf values, or a list of
 * such records (the rows of a multi-row insert). Undefined leaves are not
 * allowed: Kysely leaves such a column out, which would change the shape.
 */
export type StatementValues =
  | Readonly<Record<string, unknown>>
  | readonly Readonly<Record<string, unknown>>[];

/** A value's place: its record's index in a row list (-1 for a flat record) and its key. */
interface Slot {
  row: number;
  key: string;
}

interface Template {
  compiled: CompiledQuery;
  slots: Slot[];
}

// A NUL-prefixed marker no real value starts with; checked on every template.
const MARK = "\u0000oms-slot\u0000";

/**
 * Returns `statement(key, values, build)`: what `build(values)` compiles
 * to, with the SQL of the first call under that key and the
 * parameters of `values`. `build` must give the same SQL for every `values`
 * of one key: the key names the statement and every count that shapes it,
 * and `build` may use the values only as values (not to choose clauses).
 * At most `limit` shapes are kept (then the cache starts over).
 */
export function createStatementCache(limit = 256) {
  const templates = new Map<string, Template>();

  function template<V extends StatementValues>(
    key: string,
    values: V,
    build: (values: V) => CompiledQuery,
  ): Template {
    const placeholders = (
      Array.isArray(values)
        ? values.map((row, index) => marked(row as Record<string, unknown>, index))
        : marked(values as Record<string, unknown>, -1)
    ) as V;
    const compiled = build(placeholders);
    if (compiled.sql.includes(MARK)) {
      throw new Error(`statement ${key}: a value was written into the SQL text, not a parameter`);
    }
    const slots = compiled.parameters.map((parameter): Slot => {
      if (typeof parameter !== "string" || !parameter.startsWith(MARK)) {
        throw new Error(
          `statement ${key}: parameter ${String(parameter)} is not one of its values`,
        );
      }
      const [row, name] = JSON.parse(parameter.slice(MARK.length)) as [number, string];
      return { row, key: name };
    });
    return { compiled, slots };
  }

  return function statement<V extends StatementValues>(
    key: string,
    values: V,
    build: (values: V) => CompiledQuery,
  ): CompiledQuery {
    let found = templates.get(key);
    if (found === undefined) {
      found = template(key, values, build);
      if (templates.size >= limit) templates.clear();
      templates.set(key, found);
    }
    const rows = values as readonly Readonly<Record<string, unknown>>[];
    const flat = values as Readonly<Record<string, unknown>>;
    const parameters = found.slots.map(({ row, key: name }) => {
      const value = row < 0 ? flat[name] : rows[row]?.[name];
      if (value === undefined) throw new Error(`statement ${key}: no value for ${name}`);
      return value;
    });
    return { ...found.compiled, queryId: createQueryId(), parameters };
  };
}

/** The record with every value replaced by its marker. */
function marked(record: Record<string, unknown>, row: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) throw new Error(`value ${key} is undefined`);
    out[key] = MARK + JSON.stringify([row, key]);
  }
  return out;
}
