/**
 * The {@link OrderStore} implementation shared by both back-ends. Everything
 * here is plain Kysely that compiles to valid SQL on SQLite and PostgreSQL;
 * the back-end modules build the Kysely instance and, for SQLite, say how a
 * write transaction runs.
 */

import { randomUUID } from "node:crypto";
import { type CompiledQuery, type Kysely, type QueryResult, type Selectable, sql } from "kysely";
import { activeHolds } from "../domain/holds.js";
import type { Order, OrderStatus, TimelineEntry } from "../domain/order.js";
import { type OrderChangeEvent, summarizeChange } from "../domain/order-events.js";
import { currentSlaStage, slaBreached } from "../domain/sla.js";
import { createPageTokenCodec, type PageFilter } from "./page-token.js";
import { createStatementCache } from "./statement-cache.js";
import {
  type ClaimedOutboxMessage,
  type ClaimedWorkflowStart,
  type DeadLetterOutboxMessage,
  effectivePageSize,
  type ListOrdersPage,
  type ListOrdersQuery,
  type OrderStore,
  type OutboxMessage,
  type ParkedWorkflowStart,
  type SaveOrderOptions,
  type SaveOrderResult,
  type ShipmentOwner,
  type WorkflowStart,
  type WorkflowStartRequest,
} from "./store.js";
import type {
  NotificationOutboxTable,
  ReadModelDatabase,
  ReadModelDialect,
  WorkflowStartsTable,
} from "./tables.js";

/**
 * Runs compiled statements, in order, in one transaction, and returns their
 * results; rolls back and rejects if any fails.
 */
export type WriteTransactionRunner = (
  queries: readonly CompiledQuery[],
) => Promise<QueryResult<unknown>[]>;

/** Options of {@link createKyselyOrderStore}. */
export interface KyselyOrderStoreOptions {
  dialect: ReadModelDialect;
  /** HMAC key of page tokens; every API replica must use the same one. */
  pageTokenSecret: string | Uint8Array;
  /**
   * How saveOrder's statements are run. Default: a Kysely transaction. SQLite
   * replaces it with a synchronous one (see sqlite.ts).
   */
  runWriteTransaction?: WriteTransactionRunner;
}

// Keeps one INSERT below SQLite's bound-variable limit (32766; 8 per row) with
// a wide margin; a single transition writes one or two entries anyway. The
// shipment inserts (3 per row) use the same batch size.
const TIMELINE_INSERT_BATCH = 500;

/** Most events one sequencer run positions (PostgreSQL); the next read takes the rest. */
const EVENT_SEQUENCER_BATCH = 5_000;

/** Rows in slices of at most TIMELINE_INSERT_BATCH, one statement each. */
function inBatches<T>(rows: readonly T[]): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < rows.length; i += TIMELINE_INSERT_BATCH) {
    batches.push(rows.slice(i, i + TIMELINE_INSERT_BATCH));
  }
  return batches;
}

/** The active_holds column: the active holds' types, sorted and deduplicated, as "|A|B|". */
function activeHoldsColumn(order: Order): string {
  const types = [...new Set(activeHolds(order).map((h) => h.type))].sort();
  return types.length === 0 ? "" : `|${types.join("|")}|`;
}

/** The SLA columns: the current stage's at-risk time (NULL while no clock runs) and whether any stage was breached. */
function slaColumns(order: Order): { sla_at_risk_time: string | null; sla_breached: number } {
  const clock = currentSlaStage(order);
  return {
    sla_at_risk_time:
      clock === null ? null : sortableTime(clock.atRiskTime, "sla atRiskTime", order.orderId),
    sla_breached: slaBreached(order) ? 1 : 0,
  };
}

/** Plain code-unit order of ids: the same lock order for every writer. */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** saveOrder with the statements acceptOrder runs in its transaction. */
type SaveOrderWith = (
  order: Order,
  entries: readonly TimelineEntry[],
  outbox: readonly OutboxMessage[],
  options: SaveOrderOptions,
  extra: { before?: CompiledQuery[]; after?: CompiledQuery[] },
) => Promise<SaveOrderResult>;

/** Wraps a migrated database in the {@link OrderStore} interface; `close` destroys `db`. */
export function createKyselyOrderStore(
  db: Kysely<ReadModelDatabase>,
  options: KyselyOrderStoreOptions,
): OrderStore {
  const tokens = createPageTokenCodec(options.pageTokenSecret);
  const runWriteTransaction =
    options.runWriteTransaction ??
    ((queries) =>
      db.transaction().execute(async (trx) => {
        const results: QueryResult<unknown>[] = [];
        for (const query of queries) results.push(await trx.executeQuery(query));
        return results;
      }));
  let closing: Promise<void> | undefined;
  // See saveOrder's event and sequenceOrderEvents.
  const positionNow = options.dialect === "sqlite";
  const jsonType = options.dialect === "postgres" ? sql`jsonb` : sql`text`;
  // The statements of every write (saveOrder, claimOutbox) and of the hot
  // reads, compiled once per shape.
  const statement = createStatementCache();

  /**
   * PostgreSQL: gives committed events that have no position yet their
   * positions, in one short transaction under the counter row's lock, so
   * sequencers run one at a time and every batch's positions follow the
   * previous batch's: a reader that has seen position n never sees a smaller
   * one appear later. Each order's events are numbered in their sequence
   * order (its version n+1 commits only after version n: the order row's
   * lock). A sequencer already at work is not waited for: what it leaves
   * behind gets its position on the next read.
   */
  async function sequenceOrderEvents(): Promise<void> {
    // Most reads find nothing waiting: one cheap look at the partial index
    // spares them a transaction and a lock attempt on the counter row.
    const waiting = await sql`select 1 from order_events where position is null limit 1`.execute(
      db,
    );
    if (waiting.rows.length === 0) return;
    await db.transaction().execute(async (trx) => {
      const counter = await sql`
        select last_position from order_event_sequence where id = 1 for update skip locked`.execute(
        trx,
      );
      if (counter.rows.length === 0) return;
      // A statement of its own, after the lock: its snapshot includes every
      // batch committed before this sequencer got the lock.
      await sql`
        with b as (
          select order_id, sequence, row_number() over (order by order_id, sequence) as rn
          from order_events where position is null
          order by order_id, sequence
          limit ${EVENT_SEQUENCER_BATCH}
        ), u as (
          update order_events e set position = s.last_position + b.rn
          from b, order_event_sequence s
          where s.id = 1 and e.order_id = b.order_id and e.sequence = b.sequence
          returning e.position
        )
        update order_event_sequence
        set last_position = last_position + (select count(*) from u)
        where id = 1`.execute(trx);
    });
  }

  // Typed with acceptOrder's way into saveOrder, which wrappers of the store do not pass on.
  const store: OrderStore & { saveOrder: SaveOrderWith } = {
    kind: options.dialect,

    async saveOrder(
      order: Order,
      entries: readonly TimelineEntry[],
      outbox: readonly OutboxMessage[] = [],
      options: SaveOrderOptions = {},
      // acceptOrder's statements, run in the same transaction around these.
      extra: { before?: CompiledQuery[]; after?: CompiledQuery[] } = {},
    ): Promise<SaveOrderResult> {
      const rank = options.writeRank ?? 0;
      if (!Number.isSafeInteger(rank) || rank < 0) {
        throw new RangeError(`writeRank must be a non-negative safe integer, got ${rank}`);
      }
      checkOrder(order);
      for (const entry of entries) checkEntry(order, entry);
      for (const message of outbox) checkOutboxMessage(order, message);
      const row = {
        order_id: order.orderId,
        customer_id: order.customerId,
        status: order.status,
        create_time: sortableTime(order.createTime, "createTime", order.orderId),
        update_time: sortableTime(order.updateTime, "updateTime", order.orderId),
        version: order.version,
        snapshot: JSON.stringify(order),
        active_holds: activeHoldsColumn(order),
        write_rank: rank,
        ...slaColumns(order),
      };
      // Ascending sequence order makes concurrent writers of one order take
      // the same row locks in the same order on PostgreSQL (no deadlocks).
      // One row per sequence (the first given): PostgreSQL's upsert may not
      // touch a row twice in one statement.
      const timeline = [...new Map([...entries].reverse().map((e) => [e.sequence, e])).values()]
        .sort((a, b) => a.sequence - b.sequence)
        .map((entry) => ({
          order_id: entry.orderId,
          sequence: entry.sequence,
          time: entry.time,
          actor: entry.actor,
          // null, not absent, in every row: a multi-row statement has one shape.
          from_status: entry.fromStatus ?? null,
          to_status: entry.toStatus,
          reason: entry.reason,
          version: entry.version,
          write_rank: rank,
        }));

      // One statement decides and writes atomically: on PostgreSQL the
      // conflicting row is locked and the WHERE re-checked against its latest
      // version, so concurrent writers from any number of processes converge
      // on the highest version. RETURNING yields a row only when it wrote.
      const upsert = statement("orders", row, (values) =>
        db
          .insertInto("orders")
          .values(values)
          .onConflict((oc) =>
            oc
              .column("order_id")
              .doUpdateSet((eb) => ({
                customer_id: eb.ref("excluded.customer_id"),
                status: eb.ref("excluded.status"),
                create_time: eb.ref("excluded.create_time"),
                update_time: eb.ref("excluded.update_time"),
                version: eb.ref("excluded.version"),
                snapshot: eb.ref("excluded.snapshot"),
                active_holds: eb.ref("excluded.active_holds"),
                sla_at_risk_time: eb.ref("excluded.sla_at_risk_time"),
                sla_breached: eb.ref("excluded.sla_breached"),
                write_rank: eb.ref("excluded.write_rank"),
              }))
              // A newer version, or the same one from a later attempt of the
              // workflow task that wrote it (SaveOrderOptions.writeRank).
              .where((eb) =>
                eb.or([
                  eb("orders.version", "<", eb.ref("excluded.version")),
                  eb.and([
                    eb("orders.version", "=", eb.ref("excluded.version")),
                    eb("orders.write_rank", "<", eb.ref("excluded.write_rank")),
                  ]),
                ]),
              ),
          )
          .returning("order_id")
          .compile(),
      );

      // Entries go in even when the snapshot was stale: a late write can
      // still carry entries that nobody else delivered. An entry already
      // there stays, unless this write outranks the one that stored it.
      const inserts: CompiledQuery[] = [];
      for (const batch of inBatches(timeline)) {
        inserts.push(
          statement(`order_timeline:${batch.length}`, batch, (rows) =>
            db
              .insertInto("order_timeline")
              .values(rows)
              .onConflict((oc) =>
                oc
                  .columns(["order_id", "sequence"])
                  .doUpdateSet((eb) => ({
                    time: eb.ref("excluded.time"),
                    actor: eb.ref("excluded.actor"),
                    from_status: eb.ref("excluded.from_status"),
                    to_status: eb.ref("excluded.to_status"),
                    reason: eb.ref("excluded.reason"),
                    version: eb.ref("excluded.version"),
                    write_rank: eb.ref("excluded.write_rank"),
                  }))
                  .whereRef("order_timeline.write_rank", "<", "excluded.write_rank"),
              )
              .compile(),
          ),
        );
      }

      // The version history keeps one snapshot per version: the first saved,
      // unless a later attempt of the workflow task outranks it. After the
      // upsert, so that the order row its foreign key needs exists.
      const versionRow = {
        order_id: order.orderId,
        version: order.version,
        snapshot: row.snapshot,
        write_rank: rank,
      };
      const version = statement("order_versions", versionRow, (values) =>
        db
          .insertInto("order_versions")
          .values(values)
          .onConflict((oc) =>
            oc
              .columns(["order_id", "version"])
              .doUpdateSet((eb) => ({
                snapshot: eb.ref("excluded.snapshot"),
                write_rank: eb.ref("excluded.write_rank"),
              }))
              .whereRef("order_versions.write_rank", "<", "excluded.write_rank"),
          )
          .compile(),
      );

      // Shipment owners, deduplicated and in ascending id order (same lock
      // order for every writer); a known id keeps its first owner.
      const owners = new Map<string, string>();
      for (const fulfillment of order.fulfillments ?? []) {
        const shipmentId = fulfillment.shipment?.shipmentId ?? "";
        if (shipmentId !== "" && !owners.has(shipmentId)) {
          owners.set(shipmentId, fulfillment.fulfillmentId);
        }
      }
      const shipments = [...owners]
        .sort(([a], [b]) => compareIds(a, b))
        .map(([shipmentId, fulfillmentId]) => ({
          shipment_id: shipmentId,
          order_id: order.orderId,
          fulfillment_id: fulfillmentId,
        }));
      for (const batch of inBatches(shipments)) {
        inserts.push(
          statement(`shipments:${batch.length}`, batch, (rows) =>
            db
              .insertInto("shipments")
              .values(rows)
              .onConflict((oc) => oc.column("shipment_id").doNothing())
              .compile(),
          ),
        );
      }

      // Outbox messages, in ascending id order (same lock order for every
      // writer); one already there (a retry, a replay) is left alone. Due now:
      // the writer's clock, not the message's time, which may come from
      // another machine's.
      const availableAt = new Date().toISOString();
      const byId = [...new Map(outbox.map((message) => [message.messageId, message]))].sort(
        ([a], [b]) => compareIds(a, b),
      );
      const outboxRow = (message: OutboxMessage) => ({
        message_id: message.messageId,
        order_id: message.orderId,
        customer_id: message.customerId,
        kind: message.kind,
        subject: message.subject,
        data: JSON.stringify(message.data),
        create_time: message.createTime,
        available_at: availableAt,
      });
      const messages: ReturnType<typeof outboxRow>[] = [];
      for (const [, message] of byId) {
        const announcedBy = message.version;
        if (announcedBy === undefined || announcedBy >= order.version) {
          messages.push(outboxRow(message));
          continue;
        }
        // Announced by an earlier version (the accepted notification, which
        // the workflow's first write carries again): that version's write
        // queued it in its own transaction, so it is queued here only if the
        // store never had that version (the API died before writing it). Once
        // delivered and deleted, it is not queued, nor sent, a second time.
        inserts.push(
          statement("notification_outbox:earlier", { ...outboxRow(message), announcedBy }, (v) =>
            sql`
        insert into notification_outbox
          (message_id, order_id, customer_id, kind, subject, data, create_time, available_at)
        select ${v.message_id}, ${v.order_id}, ${v.customer_id}, ${v.kind}, ${v.subject},
               cast(${v.data} as ${jsonType}),
               ${v.create_time}, ${v.available_at}
        where not exists (
          select 1 from order_versions v where v.order_id = ${v.order_id} and v.version = ${v.announcedBy})
        on conflict (message_id) do nothing`.compile(db),
          ),
        );
      }
      for (const batch of inBatches(messages)) {
        inserts.push(
          statement(`notification_outbox:${batch.length}`, batch, (rows) =>
            db
              .insertInto("notification_outbox")
              .values(rows)
              .onConflict((oc) => oc.column("message_id").doNothing())
              .compile(),
          ),
        );
      }

      // The version's event, last. It applies only when this version is the
      // stored one and the order has no event for it (or a newer one) yet;
      // the order row, locked by the upsert, keeps that true, and makes the
      // per-order sequence number gapless. Its global position: on SQLite
      // (one writer at a time) the counter's next value, taken here; on
      // PostgreSQL none yet: the sequencer hands it out once this transaction
      // has committed (see sequenceOrderEvents), so no write waits for another
      // order's commit.
      const summary = summarizeChange(order, entries);
      const event = {
        orderId: order.orderId,
        version: order.version,
        rank,
        type: summary.type,
        previousStatus: summary.previousStatus,
        reasons: JSON.stringify(summary.reasons),
      };
      const noEventYet = (e: typeof event) =>
        sql`not exists (select 1 from order_events e where e.order_id = ${e.orderId} and e.version >= ${e.version})`;
      const takePosition = positionNow
        ? [
            statement("order_event_sequence", event, (e) =>
              sql`
        update order_event_sequence set last_position = last_position + 1
        where id = 1
          and exists (select 1 from orders o where o.order_id = ${e.orderId} and o.version = ${e.version})
          and ${noEventYet(e)}`.compile(db),
            ),
          ]
        : [];
      const appendEvent = statement("order_events", event, (e) => {
        const firstEvent = sql`not exists (select 1 from order_events e where e.order_id = ${e.orderId})`;
        return sql`
        insert into order_events
          (position, order_id, sequence, version, type, time, previous_status, reasons, snapshot, write_rank)
        select ${positionNow ? sql`s.last_position` : sql`null`}, o.order_id,
               coalesce((select max(e.sequence) from order_events e where e.order_id = o.order_id), 0) + 1,
               o.version,
               case when ${firstEvent} then 'CREATED' else cast(${e.type} as text) end,
               o.update_time,
               case when ${firstEvent} then null else cast(${e.previousStatus} as text) end,
               cast(${e.reasons} as text),
               o.snapshot, o.write_rank
        from order_event_sequence s
        join orders o on o.order_id = ${e.orderId} and o.version = ${e.version}
        where s.id = 1 and ${noEventYet(e)}`.compile(db);
      });
      // A write that outranks the one whose version an event carries (a
      // later attempt of the workflow task that wrote it) corrects that
      // event in place: a consumer reading the log from then on gets the
      // version the order went on with. (One that already received the event
      // keeps what it got; see docs/design.md.) Rank 0 outranks nothing.
      const correctEvent = statement("order_events:correct", event, (e) =>
        sql`
        update order_events
        set snapshot = o.snapshot, time = o.update_time, write_rank = o.write_rank,
            reasons = cast(${e.reasons} as text),
            -- An order's first event stays CREATED, whichever write it carries.
            type = case when order_events.type = 'CREATED' then order_events.type
                        else cast(${e.type} as text) end,
            previous_status = case when order_events.type = 'CREATED' then null
                                   else cast(${e.previousStatus} as text) end
        from orders o
        where o.order_id = ${e.orderId} and o.version = ${e.version}
          and o.write_rank = ${e.rank}
          and order_events.order_id = o.order_id and order_events.version = o.version
          and order_events.write_rank < o.write_rank`.compile(db),
      );

      const before = extra.before ?? [];
      const results = await runWriteTransaction([
        ...before,
        upsert,
        version,
        ...inserts,
        ...takePosition,
        appendEvent,
        ...(rank > 0 ? [correctEvent] : []),
        ...(extra.after ?? []),
      ]);
      return { applied: (results[before.length]?.rows.length ?? 0) > 0 };
    },

    async getOrder(orderId) {
      // The hot reads (GetOrder, every WatchOrder poll) skip Kysely's build and compile.
      const query = statement("orders:get", { orderId }, (v) =>
        db.selectFrom("orders").select("snapshot").where("order_id", "=", v.orderId).compile(),
      );
      const [row] = (await db.executeQuery(query)).rows as { snapshot: unknown }[];
      return row === undefined ? null : jsonColumn<Order>(row.snapshot);
    },

    async getOrderVersion(orderId) {
      const row = await db
        .selectFrom("orders")
        .select("version")
        .where("order_id", "=", orderId)
        .executeTakeFirst();
      return row === undefined ? null : Number(row.version);
    },

    async getOrderIfNewer(orderId, afterVersion) {
      const row = await db
        .selectFrom("orders")
        .select("snapshot")
        .where("order_id", "=", orderId)
        .where("version", ">", afterVersion)
        .executeTakeFirst();
      return row === undefined ? null : jsonColumn<Order>(row.snapshot);
    },

    async getOrderVersionsAfter(orderId, afterVersion, limit) {
      if (!Number.isSafeInteger(afterVersion)) {
        throw new RangeError(`afterVersion must be a safe integer, got ${afterVersion}`);
      }
      checkLimit(limit);
      const query = statement("order_versions:after", { orderId, afterVersion, limit }, (v) =>
        db
          .selectFrom("order_versions")
          .select("snapshot")
          .where("order_id", "=", v.orderId)
          .where("version", ">", v.afterVersion)
          .orderBy("version", "asc")
          .limit(v.limit)
          .compile(),
      );
      const { rows } = await db.executeQuery(query);
      return (rows as { snapshot: unknown }[]).map((row) => jsonColumn<Order>(row.snapshot));
    },

    async findShipment(shipmentId): Promise<ShipmentOwner | null> {
      if (shipmentId === "") return null;
      const row = await db
        .selectFrom("shipments")
        .select(["order_id", "fulfillment_id"])
        .where("shipment_id", "=", shipmentId)
        .executeTakeFirst();
      return row === undefined
        ? null
        : { orderId: row.order_id, fulfillmentId: row.fulfillment_id };
    },

    async listOrders(query: ListOrdersQuery): Promise<ListOrdersPage> {
      const pageSize = effectivePageSize(query.pageSize);
      const filter: PageFilter = {
        customerId: query.customerId ?? "",
        statuses: query.statuses ?? [],
        holdTypes: query.holdTypes ?? [],
        onHold: query.onHold ?? false,
        ...(query.sla ? { sla: query.sla } : {}),
      };
      const after = query.pageToken ? tokens.decode(query.pageToken, filter) : undefined;

      let select = db.selectFrom("orders").select(["snapshot", "create_time", "order_id"]);
      if (query.customerId) select = select.where("customer_id", "=", query.customerId);
      if (query.statuses !== undefined && query.statuses.length > 0) {
        select = select.where("status", "in", [...query.statuses]);
      }
      if (query.onHold) select = select.where("active_holds", "<>", "");
      const holdTypes = query.holdTypes ?? [];
      if (holdTypes.length > 0) {
        select = select.where(({ or, eb }) =>
          or(holdTypes.map((type) => eb("active_holds", "like", `%|${type}|%`))),
        );
      }
      if (query.sla === "BREACHED") select = select.where("sla_breached", "<>", 0);
      if (query.sla === "AT_RISK") {
        const now = (query.now ?? new Date()).toISOString();
        select = select.where("sla_at_risk_time", "<=", now);
      }
      if (after !== undefined) {
        // Keyset: strictly after the previous page's last row in sort order.
        // Orders created meanwhile sort before it and so never shift later
        // pages, unlike an OFFSET.
        select = select.where(({ eb, refTuple, tuple }) =>
          eb(refTuple("create_time", "order_id"), "<", tuple(after.createTime, after.orderId)),
        );
      }
      // One extra row tells whether another page exists without a COUNT.
      const rows = await select
        .orderBy("create_time", "desc")
        .orderBy("order_id", "desc")
        .limit(pageSize + 1)
        .execute();

      const page = rows.slice(0, pageSize);
      const last = page.at(-1);
      const nextPageToken =
        rows.length > pageSize && last !== undefined
          ? tokens.encode({ createTime: last.create_time, orderId: last.order_id }, filter)
          : "";
      return { orders: page.map((row) => jsonColumn<Order>(row.snapshot)), nextPageToken };
    },

    async getHistory(orderId) {
      const rows = await db
        .selectFrom("order_timeline")
        .selectAll()
        .where("order_id", "=", orderId)
        .orderBy("sequence", "asc")
        .execute();
      return rows.map(
        (row): TimelineEntry => ({
          orderId: row.order_id,
          sequence: Number(row.sequence),
          time: row.time,
          actor: row.actor,
          fromStatus: row.from_status as TimelineEntry["fromStatus"],
          toStatus: row.to_status as TimelineEntry["toStatus"],
          reason: row.reason,
          version: Number(row.version),
        }),
      );
    },

    async claimOutbox({ limit, leaseMs, now = new Date() }): Promise<ClaimedOutboxMessage[]> {
      checkLimit(limit);
      const dueBy = isoTime(now, "now");
      const leaseUntil = leaseEnd(now, leaseMs);
      const claimToken = randomUUID();
      // PostgreSQL: concurrent claimants lock the rows they pick and skip the
      // ones another has locked, so each row goes to one of them; a row
      // another claimant updated meanwhile is re-checked against the WHERE
      // (no longer due) before it is locked. The pick is a materialized CTE,
      // evaluated once: as a plain IN subquery the planner may rescan it, and
      // a LIMIT under FOR UPDATE then let one claim take more than `limit`.
      // SQLite: the statement runs in a write transaction (BEGIN IMMEDIATE),
      // so claims are serialized anyway.
      const claim = statement(
        "notification_outbox:claim",
        { dueBy, limit, leaseUntil, claimToken },
        (v) =>
          db
            .with(
              (cte) => cte("due").materialized(),
              (qb) =>
                qb
                  .selectFrom("notification_outbox")
                  .select("message_id")
                  .where("dead_letter_time", "is", null)
                  .where("available_at", "<=", v.dueBy)
                  .orderBy("available_at")
                  .orderBy("message_id")
                  .limit(v.limit)
                  .$if(options.dialect === "postgres", (select) => select.forUpdate().skipLocked()),
            )
            .updateTable("notification_outbox")
            .set({
              attempts: sql<number>`attempts + 1`,
              available_at: v.leaseUntil,
              claim_token: v.claimToken,
            })
            .where("message_id", "in", (eb) => eb.selectFrom("due").select("due.message_id"))
            .where("dead_letter_time", "is", null)
            .where("available_at", "<=", v.dueBy)
            .returningAll()
            .compile(),
      );
      const [result] = await runWriteTransaction([claim]);
      const rows = (result?.rows ?? []) as OutboxRow[];
      return rows
        .map(
          (row): ClaimedOutboxMessage => ({
            ...outboxMessage(row),
            attempts: Number(row.attempts),
            claimToken,
            lastError: row.last_error,
          }),
        )
        .sort((a, b) => compareIds(a.messageId, b.messageId));
    },

    async completeOutbox(messageIds) {
      if (messageIds.length === 0) return;
      const deletes: CompiledQuery[] = [];
      for (const ids of inBatches(messageIds)) {
        deletes.push(db.deleteFrom("notification_outbox").where("message_id", "in", ids).compile());
      }
      await runWriteTransaction(deletes);
    },

    async retryOutbox(claim, { error, notBefore }) {
      const [result] = await runWriteTransaction([
        db
          .updateTable("notification_outbox")
          .set({
            available_at: isoTime(notBefore, "notBefore"),
            claim_token: null,
            last_error: error,
          })
          .where("message_id", "=", claim.messageId)
          .where("claim_token", "=", claim.claimToken)
          .where("dead_letter_time", "is", null)
          .compile(),
      ]);
      return Number(result?.numAffectedRows ?? 0) > 0;
    },

    async deadLetterOutbox(claim, error, now = new Date()) {
      const [result] = await runWriteTransaction([
        db
          .updateTable("notification_outbox")
          .set({ dead_letter_time: isoTime(now, "now"), claim_token: null, last_error: error })
          .where("message_id", "=", claim.messageId)
          .where("claim_token", "=", claim.claimToken)
          .where("dead_letter_time", "is", null)
          .compile(),
      ]);
      return Number(result?.numAffectedRows ?? 0) > 0;
    },

    async listDeadLetters({ limit = 100 } = {}): Promise<DeadLetterOutboxMessage[]> {
      checkLimit(limit);
      const rows = await db
        .selectFrom("notification_outbox")
        .selectAll()
        .where("dead_letter_time", "is not", null)
        .orderBy("dead_letter_time")
        .orderBy("message_id")
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        ...outboxMessage(row),
        attempts: Number(row.attempts),
        lastError: row.last_error,
        deadLetterTime: row.dead_letter_time ?? "",
      }));
    },

    async countDeadLetters() {
      const row = await db
        .selectFrom("notification_outbox")
        .select((eb) => eb.fn.countAll().as("count"))
        .where("dead_letter_time", "is not", null)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async countPendingOutbox() {
      const row = await db
        .selectFrom("notification_outbox")
        .select((eb) => eb.fn.countAll().as("count"))
        .where("dead_letter_time", "is", null)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async listOrderEvents({ afterPosition, limit, orderId }): Promise<OrderChangeEvent[]> {
      if (!Number.isSafeInteger(afterPosition) || afterPosition < 0) {
        throw new RangeError(
          `afterPosition must be a non-negative safe integer, got ${afterPosition}`,
        );
      }
      checkLimit(limit);
      if (!positionNow) await sequenceOrderEvents();
      const rows = await db
        .selectFrom("order_events")
        .selectAll()
        .where("position", ">", afterPosition)
        .$if(orderId !== undefined && orderId !== "", (q) =>
          q.where("order_id", "=", orderId as string),
        )
        .orderBy("position", "asc")
        .limit(limit)
        .execute();
      return rows.map(
        (row): OrderChangeEvent => ({
          position: Number(row.position),
          orderId: row.order_id,
          sequence: Number(row.sequence),
          type: row.type as OrderChangeEvent["type"],
          time: row.time,
          order: jsonColumn<Order>(row.snapshot),
          previousStatus: row.previous_status as OrderStatus | null,
          reasons: JSON.parse(row.reasons) as string[],
        }),
      );
    },

    async acquireEventPublisher(name, owner, leaseMs, now = new Date()) {
      const until = leaseEnd(now, leaseMs);
      const [, result] = await runWriteTransaction([
        db
          .insertInto("event_publishers")
          .values({ name, position: 0, lease_owner: null, lease_until: null })
          .onConflict((oc) => oc.column("name").doNothing())
          .compile(),
        db
          .updateTable("event_publishers")
          .set({ lease_owner: owner, lease_until: until })
          .where("name", "=", name)
          .where((eb) =>
            eb.or([
              eb("lease_owner", "is", null),
              eb("lease_owner", "=", owner),
              eb("lease_until", "<=", isoTime(now, "now")),
            ]),
          )
          .returning("position")
          .compile(),
      ]);
      const row = result?.rows[0] as { position: number | string } | undefined;
      return row === undefined ? null : Number(row.position);
    },

    async advanceEventPublisher(name, owner, position, leaseMs, now = new Date()) {
      if (!Number.isSafeInteger(position) || position < 0) {
        throw new RangeError(`position must be a non-negative safe integer, got ${position}`);
      }
      const [result] = await runWriteTransaction([
        db
          .updateTable("event_publishers")
          .set({ position, lease_until: leaseEnd(now, leaseMs) })
          .where("name", "=", name)
          .where("lease_owner", "=", owner)
          .compile(),
      ]);
      return Number(result?.numAffectedRows ?? 0) > 0;
    },

    async acceptOrder({
      order,
      entries,
      outbox,
      fingerprint,
      start,
      startGraceMs = 0,
      now = new Date(),
    }) {
      if (!Number.isFinite(startGraceMs) || startGraceMs < 0) {
        throw new RangeError(`startGraceMs must be a non-negative number, got ${startGraceMs}`);
      }
      // First. An order accepted since migration 0009 has a fingerprint:
      // inserting it again fails on the key, and with it the whole
      // transaction (a repeated or concurrent submit; on PostgreSQL the second
      // of two concurrent ones waits for the first's commit, then fails). An
      // order accepted before has a row but no fingerprint: nothing is
      // inserted, and the save below changes nothing (version 1 at rank 0
      // never replaces a stored version, and the order's event and timeline
      // entry exist); only its accepted notification, if already delivered,
      // is queued again under its idempotency key (the notification service
      // does not send it twice).
      const submission = sql`
        insert into order_submissions (order_id, fingerprint)
        select ${order.orderId}, ${fingerprint}
        where not exists (
          select 1 from orders o where o.order_id = ${order.orderId}
            and not exists (select 1 from order_submissions s where s.order_id = o.order_id))`.compile(
        db,
      );
      const record = sql`
        insert into workflow_starts (order_id, fingerprint, request, create_time, available_at)
        select order_id, fingerprint,
               cast(${JSON.stringify(start)} as ${options.dialect === "postgres" ? sql`jsonb` : sql`text`}),
               ${isoTime(now, "now")},
               ${isoTime(new Date(now.getTime() + startGraceMs), "now + startGraceMs")}
        from order_submissions where order_id = ${order.orderId} and fingerprint = ${fingerprint}`.compile(
        db,
      );
      try {
        const { applied } = await store.saveOrder(
          order,
          entries,
          outbox,
          {},
          {
            before: [submission],
            after: [record],
          },
        );
        return { accepted: applied };
      } catch (err) {
        // The key conflict of a repeated submit; anything else is a failure.
        if ((await store.getOrderVersion(order.orderId)) !== null) return { accepted: false };
        throw err;
      }
    },

    async getSubmissionFingerprint(orderId) {
      const row = await db
        .selectFrom("order_submissions")
        .select("fingerprint")
        .where("order_id", "=", orderId)
        .executeTakeFirst();
      return row?.fingerprint ?? null;
    },

    async getWorkflowStart(orderId) {
      const row = await db
        .selectFrom("workflow_starts")
        .selectAll()
        .where("order_id", "=", orderId)
        .executeTakeFirst();
      return row === undefined ? null : { ...workflowStart(row), parked: row.parked_time !== null };
    },

    async claimWorkflowStarts({ limit, leaseMs, now = new Date() }) {
      checkLimit(limit);
      const dueBy = isoTime(now, "now");
      const leaseUntil = leaseEnd(now, leaseMs);
      const claimToken = randomUUID();
      // As claimOutbox: a materialized pick, rows locked and skipped on PostgreSQL.
      const claim = db
        .with(
          (cte) => cte("due").materialized(),
          (qb) =>
            qb
              .selectFrom("workflow_starts")
              .select("order_id")
              .where("parked_time", "is", null)
              .where("available_at", "<=", dueBy)
              .orderBy("available_at")
              .orderBy("order_id")
              .limit(limit)
              .$if(options.dialect === "postgres", (select) => select.forUpdate().skipLocked()),
        )
        .updateTable("workflow_starts")
        .set((eb) => ({
          attempts: eb("attempts", "+", 1),
          available_at: leaseUntil,
          claim_token: claimToken,
        }))
        .where("order_id", "in", (eb) => eb.selectFrom("due").select("due.order_id"))
        .where("parked_time", "is", null)
        .where("available_at", "<=", dueBy)
        .returningAll()
        .compile();
      const [result] = await runWriteTransaction([claim]);
      const rows = (result?.rows ?? []) as WorkflowStartRow[];
      return rows
        .map(
          (row): ClaimedWorkflowStart => ({
            ...workflowStart(row),
            attempts: Number(row.attempts),
            claimToken,
            lastError: row.last_error,
          }),
        )
        .sort((a, b) => compareIds(a.orderId, b.orderId));
    },

    async completeWorkflowStart(orderId) {
      await runWriteTransaction([
        db.deleteFrom("workflow_starts").where("order_id", "=", orderId).compile(),
      ]);
    },

    async retryWorkflowStart(claim, { error, notBefore }) {
      const [result] = await runWriteTransaction([
        db
          .updateTable("workflow_starts")
          .set({
            available_at: isoTime(notBefore, "notBefore"),
            claim_token: null,
            last_error: error,
          })
          .where("order_id", "=", claim.orderId)
          .where("claim_token", "=", claim.claimToken)
          .where("parked_time", "is", null)
          .compile(),
      ]);
      return Number(result?.numAffectedRows ?? 0) > 0;
    },

    async parkWorkflowStart(orderId, error, now = new Date()) {
      const [result] = await runWriteTransaction([
        db
          .updateTable("workflow_starts")
          .set({ parked_time: isoTime(now, "now"), claim_token: null, last_error: error })
          .where("order_id", "=", orderId)
          .where("parked_time", "is", null)
          .compile(),
      ]);
      return Number(result?.numAffectedRows ?? 0) > 0;
    },

    async listParkedWorkflowStarts({ limit = 100 } = {}): Promise<ParkedWorkflowStart[]> {
      checkLimit(limit);
      const rows = await db
        .selectFrom("workflow_starts")
        .selectAll()
        .where("parked_time", "is not", null)
        .orderBy("parked_time")
        .orderBy("order_id")
        .limit(limit)
        .execute();
      return rows.map((row) => ({
        ...workflowStart(row),
        attempts: Number(row.attempts),
        lastError: row.last_error,
        parkedTime: row.parked_time ?? "",
      }));
    },

    async countPendingWorkflowStarts() {
      const row = await db
        .selectFrom("workflow_starts")
        .select((eb) => eb.fn.countAll().as("count"))
        .where("parked_time", "is", null)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    },

    async ping() {
      await sql`select 1`.execute(db);
    },

    close() {
      // pg's Pool.end throws when called twice; callers (shutdown hooks, tests)
      // should not have to coordinate.
      closing ??= db.destroy();
      return closing;
    },
  };
  return store;
}

/**
 * The sortable form of an ISO-8601 time: UTC, millisecond precision, fixed
 * width, so that text comparison in either database is time comparison. The
 * snapshot keeps the caller's original string.
 */
function sortableTime(value: string, field: string, orderId: string): string {
  const millis = Date.parse(value);
  const normalized = Number.isNaN(millis) ? "" : new Date(millis).toISOString();
  // Years outside 0000–9999 get a sign and six digits, which would break the
  // fixed width that ordering relies on.
  if (normalized.length !== 24) {
    throw new Error(
      `order ${orderId}: ${field} ${JSON.stringify(value)} is not a valid ISO-8601 time`,
    );
  }
  return normalized;
}

/** A row of the workflow starts as read back. */
type WorkflowStartRow = Selectable<WorkflowStartsTable>;

function workflowStart(row: WorkflowStartRow): WorkflowStart {
  return {
    orderId: row.order_id,
    fingerprint: row.fingerprint,
    request: jsonColumn<WorkflowStartRequest>(row.request),
    createTime: row.create_time,
  };
}

/** A row of the outbox as read back. */
type OutboxRow = Selectable<NotificationOutboxTable>;

function outboxMessage(row: OutboxRow): OutboxMessage {
  return {
    messageId: row.message_id,
    orderId: row.order_id,
    customerId: row.customer_id,
    kind: row.kind,
    subject: row.subject,
    data: jsonColumn<Record<string, string>>(row.data),
    createTime: row.create_time,
  };
}

function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive safe integer, got ${limit}`);
  }
}

function leaseEnd(now: Date, leaseMs: number): string {
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) {
    throw new RangeError(`leaseMs must be a positive number, got ${leaseMs}`);
  }
  return isoTime(new Date(now.getTime() + leaseMs), "now + leaseMs");
}

/** Fixed-width UTC ISO-8601 of a valid date, so that text order is time order. */
function isoTime(value: Date, what: string): string {
  const text = Number.isNaN(value.getTime()) ? "" : value.toISOString();
  if (text.length !== 24) throw new RangeError(`${what} is not a usable time: ${String(value)}`);
  return text;
}

function checkOutboxMessage(order: Order, message: OutboxMessage): void {
  if (message.messageId === "") {
    throw new Error(`order ${order.orderId}: outbox message id must not be empty`);
  }
  if (message.orderId !== order.orderId) {
    throw new Error(
      `outbox message ${message.messageId} belongs to order ${message.orderId}, not ${order.orderId}`,
    );
  }
  if (Number.isNaN(Date.parse(message.createTime))) {
    throw new Error(
      `outbox message ${message.messageId}: createTime ${JSON.stringify(message.createTime)} is not a valid ISO-8601 time`,
    );
  }
}

function checkOrder(order: Order): void {
  if (order.orderId === "") throw new Error("order.orderId must not be empty");
  if (!Number.isSafeInteger(order.version) || order.version < 0) {
    throw new Error(
      `order ${order.orderId}: version must be a non-negative integer, got ${order.version}`,
    );
  }
}

function checkEntry(order: Order, entry: TimelineEntry): void {
  if (entry.orderId !== order.orderId) {
    throw new Error(
      `timeline entry ${entry.sequence} belongs to order ${entry.orderId}, not ${order.orderId}`,
    );
  }
  if (!Number.isSafeInteger(entry.sequence) || entry.sequence < 1) {
    throw new Error(
      `order ${order.orderId}: timeline sequence must be a positive integer, got ${entry.sequence}`,
    );
  }
}

/** A JSON column as read back: text on SQLite, already parsed jsonb on PostgreSQL. */
function jsonColumn<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}
