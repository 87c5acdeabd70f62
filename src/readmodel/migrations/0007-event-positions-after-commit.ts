/**
 * Migration 0007 (PostgreSQL only): order events get their global position
 * after their transaction has committed, from a sequencer, instead of inside
 * it.
 *
 * Before, every saveOrder took the next position from the one-row counter,
 * which locked that row until commit: every write of every order, from every
 * process, queued behind the previous one's commit (its WAL flush included).
 * Under load most connections of a pool waited on that lock, and a slow
 * commit stalled all orders at once. Now a version's event is inserted with
 * no position, and positions are handed out in batches by whoever reads the
 * log (see `sequenceOrderEvents` in kysely-store.ts), under the counter's
 * lock, to events that have already committed; so readers still see
 * positions appear in increasing order, and one flush covers a whole batch.
 *
 * SQLite serializes writers anyway: there the counter stays in the write.
 */

import { type Kysely, type Migration, sql } from "kysely";
import type { ReadModelDialect } from "../tables.js";

export function createEventPositionsAfterCommitMigration(dialect: ReadModelDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== "postgres") return;
      await sql`alter table order_events drop constraint order_events_pkey`.execute(db);
      await sql`alter table order_events alter column position drop not null`.execute(db);
      await db.schema
        .createIndex("order_events_position_key")
        .unique()
        .on("order_events")
        .column("position")
        .execute();
      // The sequencer's work list: only events still waiting for a position.
      await db.schema
        .createIndex("order_events_unpositioned_idx")
        .on("order_events")
        .columns(["order_id", "sequence"])
        .where(sql.ref("position"), "is", null)
        .execute();
    },

    async down(db: Kysely<unknown>) {
      if (dialect !== "postgres") return;
      // Events still waiting get their positions, as the sequencer would give them.
      await sql`
        with b as (
          select order_id, sequence, row_number() over (order by order_id, sequence) as rn
          from order_events where position is null
        )
        update order_events e set position = s.last_position + b.rn
        from b, order_event_sequence s
        where s.id = 1 and e.order_id = b.order_id and e.sequence = b.sequence`.execute(db);
      await sql`
        update order_event_sequence
        set last_position = (select coalesce(max(position), 0) from order_events)
        where id = 1`.execute(db);
      await db.schema.dropIndex("order_events_unpositioned_idx").execute();
      await db.schema.dropIndex("order_events_position_key").execute();
      await sql`alter table order_events alter column position set not null`.execute(db);
      await sql`alter table order_events add primary key (position)`.execute(db);
    },
  };
}
