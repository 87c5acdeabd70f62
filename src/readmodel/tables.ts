/**
 * Kysely table types of the read model, as the migrations create them.
 */

import type { ColumnType } from "kysely";

/** The SQL dialects the read model runs on; migrations differ only in column types. */
export type ReadModelDialect = "sqlite" | "postgres";

/**
 * Integers that PostgreSQL's `bigint` hands back as strings (pg does not
 * convert int8 to avoid precision loss); SQLite hands back numbers.
 */
type BigintColumn = ColumnType<number | string, number, number>;

/** One row per order: the latest snapshot plus the columns that queries filter and sort on. */
export interface OrdersTable {
  order_id: string;
  customer_id: string;
  status: string;
  /** Fixed-width UTC ISO-8601 (`YYYY-MM-DDTHH:mm:ss.sssZ`), so text order is time order. */
  create_time: string;
  /** Same format as create_time. */
  update_time: string;
  version: BigintColumn;
  /** The whole `Order` as JSON: text on SQLite (a string when read), jsonb on PostgreSQL (parsed when read). */
  snapshot: ColumnType<unknown, string, string>;
  /**
   * The types of the order's active holds, sorted, as "|FRAUD_REVIEW|MANUAL|";
   * '' when it has none. Added by migration 0004.
   */
  active_holds: ColumnType<string, string | undefined, string>;
  /**
   * When the order's current SLA stage becomes at risk (same format as
   * create_time); NULL while no SLA clock runs. Added by migration 0006.
   */
  sla_at_risk_time: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 once any SLA stage was breached, else 0. Added by migration 0006. */
  sla_breached: ColumnType<number, number | undefined, number>;
  /** The rank of the write that stored it (migration 0008; see SaveOrderOptions.writeRank). */
  write_rank: ColumnType<number | string, number | undefined, number>;
}

/** One row per timeline entry; (order_id, sequence) is the primary key. */
export interface OrderTimelineTable {
  order_id: string;
  sequence: ColumnType<number, number, never>;
  /** The entry's time exactly as the workflow wrote it. */
  time: string;
  actor: string;
  from_status: string | null;
  to_status: string;
  reason: string;
  version: BigintColumn;
  /** The rank of the write that stored it (migration 0008; see SaveOrderOptions.writeRank). */
  write_rank: ColumnType<number | string, number | undefined, number>;
}

/**
 * Every version of every order, append-only; (order_id, version) is the
 * primary key. Added by migration 0002.
 */
export interface OrderVersionsTable {
  order_id: string;
  version: ColumnType<number | string, number, never>;
  /** The `Order` of that version as JSON, stored like {@link OrdersTable.snapshot}. */
  snapshot: ColumnType<unknown, string, string>;
  /** The rank of the write that stored it (migration 0008; see SaveOrderOptions.writeRank). */
  write_rank: ColumnType<number | string, number | undefined, number>;
}

/**
 * Which order and fulfillment own a shipping-service shipment id, to route
 * courier events. Added by migration 0002.
 */
export interface ShipmentsTable {
  shipment_id: ColumnType<string, string, never>;
  order_id: ColumnType<string, string, never>;
  fulfillment_id: ColumnType<string, string, never>;
}

/**
 * The transactional outbox of customer notifications: written with the order
 * version that announces them, deleted once delivered, kept as dead letters
 * when given up on. Added by migration 0003.
 */
export interface NotificationOutboxTable {
  /** The notification service's idempotency key. */
  message_id: ColumnType<string, string, never>;
  order_id: ColumnType<string, string, never>;
  customer_id: ColumnType<string, string, never>;
  kind: ColumnType<string, string, never>;
  subject: ColumnType<string, string, never>;
  /** `Record<string, string>` as JSON, stored like {@link OrdersTable.snapshot}. */
  data: ColumnType<unknown, string, never>;
  /** As the message gave it. */
  create_time: ColumnType<string, string, never>;
  /** Claims so far. */
  attempts: ColumnType<number, number | undefined, number>;
  /**
   * Fixed-width UTC ISO-8601: when the message may next be claimed (its
   * creation, a retry time, or the end of the current claim's lease).
   */
  available_at: string;
  /** The current (or last) claim; null before the first and after a retry. */
  claim_token: string | null;
  last_error: ColumnType<string, string | undefined, string>;
  /** Set (fixed-width UTC ISO-8601) when the message became a dead letter. */
  dead_letter_time: string | null;
}

/**
 * The order event log: one row per stored version that was the order's
 * newest when saved. Added by migration 0005.
 */
export interface OrderEventsTable {
  /**
   * Global, in commit order; from order_event_sequence. On PostgreSQL NULL
   * until the sequencer hands the committed event its position (migration 0007).
   */
  position: ColumnType<number | string | null, number | null, never>;
  order_id: ColumnType<string, string, never>;
  /** 1, 2, 3, … per order. */
  sequence: ColumnType<number | string, number, never>;
  version: ColumnType<number | string, number, never>;
  type: ColumnType<string, string, never>;
  /** The version's update time (fixed-width UTC ISO-8601). */
  time: ColumnType<string, string, never>;
  previous_status: ColumnType<string | null, string | null, never>;
  /** `string[]` as JSON text. */
  reasons: ColumnType<string, string, never>;
  /** The `Order` of that version, stored like {@link OrdersTable.snapshot}. */
  snapshot: ColumnType<unknown, string, never>;
  /** The rank of the write whose version it carries (migration 0008). */
  write_rank: ColumnType<number | string, number | undefined, never>;
}

/** One row (id 1): the last event position handed out. Added by migration 0005. */
export interface OrderEventSequenceTable {
  id: number;
  last_position: BigintColumn;
}

/** How far each event publisher has got, and who holds it. Added by migration 0005. */
export interface EventPublishersTable {
  name: string;
  /** The last position published (0: none). */
  position: BigintColumn;
  lease_owner: string | null;
  /** Fixed-width UTC ISO-8601. */
  lease_until: string | null;
}

/** The fingerprint of each order's submission (migration 0009; orders accepted before have none). */
export interface OrderSubmissionsTable {
  order_id: ColumnType<string, string, never>;
  fingerprint: ColumnType<string, string, never>;
}

/**
 * Workflow starts still to make: one per accepted order until its workflow
 * exists. Added by migration 0009.
 */
export interface WorkflowStartsTable {
  order_id: ColumnType<string, string, never>;
  fingerprint: ColumnType<string, string, never>;
  /** `WorkflowStartRequest` as JSON, stored like {@link OrdersTable.snapshot}. */
  request: ColumnType<unknown, string, never>;
  /** Fixed-width UTC ISO-8601: when the order was accepted. */
  create_time: ColumnType<string, string, never>;
  /** Claims so far. */
  attempts: ColumnType<number, number | undefined, number>;
  /** Fixed-width UTC ISO-8601: when the start may next be claimed. */
  available_at: string;
  claim_token: string | null;
  last_error: ColumnType<string, string | undefined, string>;
  /** Set (fixed-width UTC ISO-8601) when the start was given up on, for an operator. */
  parked_time: string | null;
}

/** The read model's database as Kysely sees it. */
export interface ReadModelDatabase {
  orders: OrdersTable;
  order_timeline: OrderTimelineTable;
  order_versions: OrderVersionsTable;
  shipments: ShipmentsTable;
  notification_outbox: NotificationOutboxTable;
  order_events: OrderEventsTable;
  order_event_sequence: OrderEventSequenceTable;
  event_publishers: EventPublishersTable;
  order_submissions: OrderSubmissionsTable;
  workflow_starts: WorkflowStartsTable;
}
