/**
 * Migration 0008: the rank of the write that stored each order row, version,
 * timeline entry and event (`write_rank`, 0 for everything stored before).
 *
 * The workflow writes its versions from inside workflow tasks (a local
 * activity). A task whose worker dies before completing it runs again, and
 * may write the same version number with other content (it may have more
 * events to apply by then): "the first write of a version wins" kept the
 * abandoned attempt's snapshot, and an order whose last version was written
 * so stayed at that snapshot for good. Writes now carry a rank (the history
 * length the task saw, always higher for a later attempt); a write of the
 * same version with a higher rank replaces the stored one.
 */

import type { Kysely, Migration } from "kysely";
import type { ReadModelDialect } from "../tables.js";

const TABLES = ["orders", "order_versions", "order_timeline", "order_events"] as const;

export function createWriteRankMigration(_dialect: ReadModelDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      for (const table of TABLES) {
        await db.schema
          .alterTable(table)
          .addColumn("write_rank", "bigint", (col) => col.notNull().defaultTo(0))
          .execute();
      }
    },

    async down(db: Kysely<unknown>) {
      for (const table of TABLES) {
        await db.schema.alterTable(table).dropColumn("write_rank").execute();
      }
    },
  };
}
