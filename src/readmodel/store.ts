/**
 * The read model: the queryable copy of every order that the workflows write
 * (docs/spec.md section 6) and the API reads. Two back-ends implement
 * {@link OrderStore}: SQLite for the embedded default and PostgreSQL for
 * scaled-out deployments; both pass the same contract test suite.
 */

import type { HoldType } from "../domain/holds.js";
import type { Order, OrderStatus, TimelineEntry } from "../domain/order.js";
import type { OrderChangeEvent } from "../domain/order-events.js";

/** AIP-158: the page size used when the caller asks for 0 (unspecified). */
export const DEFAULT_PAGE_SIZE = 50;
/** AIP-158: larger page sizes are clamped to this, not rejected. */
export const MAX_PAGE_SIZE = 500;

/** Where a shipping-service shipment belongs; see {@link OrderStore.findShipment}. */
export interface ShipmentOwner {
  orderId: string;
  fulfillmentId: string;
}

/** Options of {@link OrderStore.saveOrder}. */
export interface SaveOrderOptions {
  /**
   * Orders writes of the same version: a write replaces the stored one of its
   * version (snapshot, timeline entries, version history) only with a higher
   * rank, and then adds an event with the corrected snapshot. The workflow
   * passes its history length (a later attempt of a workflow task sees a
   * longer history); the API's own write of version 1 has rank 0. Default 0.
   */
  writeRank?: number;
}

/** The outcome of {@link OrderStore.saveOrder}. */
export interface SaveOrderResult {
  /**
   * True when this call wrote the snapshot; false when the store already held
   * the same or a newer version (a retry, a replay or a late write).
   */
  applied: boolean;
}

/**
 * A customer notification waiting in the transactional outbox: written by
 * {@link OrderStore.saveOrder} in the same transaction as the order version it
 * announces, and delivered by the notification dispatcher (src/outbox).
 */
export interface OutboxMessage {
  /**
   * Unique; the notification service's idempotency key
   * (`<orderId>:notify:<kind>:<subject>`), so that a message delivered twice
   * reaches the customer once.
   */
  messageId: string;
  orderId: string;
  customerId: string;
  /** A `notifications.v1.NotificationTemplate` name other than UNSPECIFIED, e.g. "ORDER_ACCEPTED". */
  kind: string;
  /** Tells notifications of one kind within an order apart (e.g. a fulfillment id); may be empty. */
  subject: string;
  data: Record<string, string>;
  /** ISO-8601, when the message was created (the transition's time). */
  createTime: string;
  /**
   * The order version that announces the message, when it is older than the
   * version of the write carrying it (the workflow's first write carries the
   * accepted notification of version 1 again). Such a message is queued only
   * if the store does not have that version: the write that stored it queued
   * the message in the same transaction, and it may since have been delivered
   * and deleted. Absent: the write's own version.
   */
  version?: number;
}

/**
 * An outbox message claimed by {@link OrderStore.claimOutbox}: no other
 * claimant gets it until the lease ends or the claim is settled with
 * {@link OrderStore.completeOutbox}, {@link OrderStore.retryOutbox} or
 * {@link OrderStore.deadLetterOutbox}.
 */
export interface ClaimedOutboxMessage extends OutboxMessage {
  /** How many times the message has been claimed, this claim included (1 on the first). */
  attempts: number;
  /** Identifies this claim; retry and dead-letter apply only while it is the current one. */
  claimToken: string;
  /** The error of the previous attempt; empty on the first. */
  lastError: string;
}

/** A message that was given up on; see {@link OrderStore.deadLetterOutbox}. */
export interface DeadLetterOutboxMessage extends OutboxMessage {
  attempts: number;
  /** The error of the last attempt. */
  lastError: string;
  /** ISO-8601 (UTC), when it was given up on. */
  deadLetterTime: string;
}

/** The options of {@link OrderStore.claimOutbox}. */
export interface ClaimOutboxOptions {
  /** At most this many messages; a positive safe integer. */
  limit: number;
  /** How long the claim holds; after it another claimant may take the message. Positive. */
  leaseMs: number;
  /** The claimant's clock; `new Date()` by default (tests pass a later time to expire leases). */
  now?: Date;
}

/**
 * What starting an order's workflow takes, recorded at acceptance: plain JSON,
 * passed to `client.workflow.start` as it is.
 */
export interface WorkflowStartRequest {
  workflowType: string;
  workflowId: string;
  taskQueue: string;
  args: unknown[];
  memo: Record<string, unknown>;
}

/** A workflow start still to make; see {@link OrderStore.acceptOrder}. */
export interface WorkflowStart {
  orderId: string;
  /** The submission fingerprint, also in `request.memo`. */
  fingerprint: string;
  request: WorkflowStartRequest;
  /** ISO-8601 (UTC), when the order was accepted. */
  createTime: string;
}

/** A workflow start claimed by {@link OrderStore.claimWorkflowStarts}. */
export interface ClaimedWorkflowStart extends WorkflowStart {
  /** Claims so far, this one included. */
  attempts: number;
  /** Identifies this claim; retry and park apply only while it is the current one. */
  claimToken: string;
  /** The error of the previous attempt; empty on the first. */
  lastError: string;
}

/** A start given up on; see {@link OrderStore.parkWorkflowStart}. */
export interface ParkedWorkflowStart extends WorkflowStart {
  attempts: number;
  lastError: string;
  /** ISO-8601 (UTC), when it was parked. */
  parkedTime: string;
}

/** What {@link OrderStore.acceptOrder} records. */
export interface OrderAcceptance {
  /** Version 1. */
  order: Order;
  entries: readonly TimelineEntry[];
  outbox: readonly OutboxMessage[];
  /** The submission fingerprint, kept for good (idempotency of SubmitOrder). */
  fingerprint: string;
  /** The workflow start to make. */
  start: WorkflowStartRequest;
  /**
   * How long the start record is left to the accepting process before any
   * start dispatcher may claim it. Default 0.
   */
  startGraceMs?: number;
  /** The writer's clock; `new Date()` by default. */
  now?: Date;
}

/**
 * ListOrders' SLA filter, judged at query time from the orders' SLA columns:
 * AT_RISK, the clock is running and its current stage's at-risk time has
 * passed; BREACHED, some stage was breached.
 */
export type SlaFilter = "AT_RISK" | "BREACHED";

/** The query of {@link OrderStore.listOrders}. */
export interface ListOrdersQuery {
  /** Only this customer's orders; empty or absent means every customer. */
  customerId?: string;
  /** Only orders in one of these statuses; empty or absent means any status. */
  statuses?: readonly OrderStatus[];
  /** Only orders with an active hold of one of these types; empty or absent means no such filter. */
  holdTypes?: readonly HoldType[];
  /** Only orders with at least one active hold. */
  onHold?: boolean;
  /** Only orders at risk of breaching their current SLA stage, or that breached one; absent: no such filter. */
  sla?: SlaFilter;
  /** The time AT_RISK is judged at; `new Date()` by default (tests pass their own). */
  now?: Date;
  /** 0 means {@link DEFAULT_PAGE_SIZE}; above {@link MAX_PAGE_SIZE} is clamped; negative throws. */
  pageSize: number;
  /** `nextPageToken` of the previous page, issued for the same filters; empty for the first page. */
  pageToken?: string;
}

/** One page of {@link OrderStore.listOrders}. */
export interface ListOrdersPage {
  /** Newest first: by create time descending, then order id descending. */
  orders: Order[];
  /** Opaque token for the next page; empty when this is the last page. */
  nextPageToken: string;
}

/** The query of {@link OrderStore.listOrderEvents}. */
export interface ListOrderEventsQuery {
  /** Exclusive lower bound of positions; 0 means from the oldest. */
  afterPosition: number;
  /** At most this many events; a positive safe integer. */
  limit: number;
  /** Only this order's events; empty or absent means every order's. */
  orderId?: string;
}

/** The read-model store. Every method is safe to call concurrently. */
export interface OrderStore {
  /** Which back-end this is, for logs and health output. */
  readonly kind: "sqlite" | "postgres";

  /**
   * Writes an order snapshot and its timeline entries in one transaction.
   *
   * The snapshot replaces the stored one only when `order.version` is greater
   * than the stored version, so a retried, replayed or out-of-order write never
   * moves an order backwards. Timeline entries are keyed by (order id,
   * sequence): an entry that is already stored is left alone, never duplicated,
   * even when the snapshot itself was not applied (a late write may still carry
   * entries that are missing).
   *
   * In the same transaction, and likewise whether or not the snapshot was
   * applied:
   * - the snapshot is recorded as its version in the version history (see
   *   {@link getOrderVersionsAfter}); a version already recorded keeps its
   *   first snapshot, so every version saved exists there exactly once, also
   *   when it arrives late;
   * - every fulfillment with a non-empty `shipment.shipmentId` is recorded as
   *   that shipment's owner (see {@link findShipment}); a shipment id already
   *   recorded keeps its first owner;
   * - every message of `outbox` is inserted into the transactional outbox
   *   unless a message with its id is already there (a retried or replayed
   *   save writes nothing twice), due at once. A message is in the outbox if
   *   and only if the version that carries it was stored. (Once delivered,
   *   a message is deleted, so a save repeated after that inserts it again;
   *   its id is the notification service's idempotency key, which keeps the
   *   customer from getting it twice.)
   *
   * - when the snapshot is the order's newest stored version and has no
   *   event yet, it becomes the order's next event (see
   *   {@link listOrderEvents}), with the next position of the event log; a
   *   late version (older than the stored one) or a repeated save adds none,
   *   so an order's events follow its versions, one each, in order.
   *
   * @throws when a message has an empty id, belongs to another order, or has
   *   an invalid `createTime` (nothing is written).
   */
  saveOrder(
    order: Order,
    entries: readonly TimelineEntry[],
    outbox?: readonly OutboxMessage[],
    options?: SaveOrderOptions,
  ): Promise<SaveOrderResult>;

  /** The latest stored snapshot, or null for an unknown order. */
  getOrder(orderId: string): Promise<Order | null>;

  /** The stored version alone (no snapshot decoding), or null for an unknown order. */
  getOrderVersion(orderId: string): Promise<number | null>;

  /**
   * The stored snapshot only if its version is greater than `afterVersion`,
   * else null (also null for an unknown order). This is what WatchOrder polls.
   */
  getOrderIfNewer(orderId: string, afterVersion: number): Promise<Order | null>;

  /**
   * The order's recorded versions greater than `afterVersion`, ascending by
   * version, at most `limit` of them; empty for an unknown order or when none
   * is newer. Every version ever passed to {@link saveOrder} is recorded,
   * including ones that arrived after a newer one (so a later call can return
   * a version below one an earlier call returned). For an order saved before
   * the version history existed (read-model migration 0002), history starts
   * at the version it had then. This is what WatchOrder streams: resume with
   * the last version sent as `afterVersion`.
   *
   * @param afterVersion exclusive lower bound; any safe integer (negative means from the start).
   * @param limit maximum number of snapshots returned; a positive safe integer.
   * @throws {RangeError} for an `afterVersion` or `limit` out of those ranges.
   */
  getOrderVersionsAfter(orderId: string, afterVersion: number, limit: number): Promise<Order[]>;

  /**
   * The order and fulfillment that own a shipping-service shipment id, or
   * null for an unknown (or empty) id. Used to route courier events to the
   * order's workflow. Known from the first save of a snapshot that carries
   * the id; for orders saved before read-model migration 0002, from that
   * migration's backfill.
   */
  findShipment(shipmentId: string): Promise<ShipmentOwner | null>;

  /**
   * A page of orders, newest first, with keyset pagination so that orders
   * created between two pages cause neither duplicates nor gaps.
   *
   * @throws {InvalidPageSizeError} for a negative or non-integer page size.
   * @throws {InvalidPageTokenError} for a malformed or forged token, or one issued for other filters.
   */
  listOrders(query: ListOrdersQuery): Promise<ListOrdersPage>;

  /** The order's timeline ordered by sequence; empty for an unknown order. */
  getHistory(orderId: string): Promise<TimelineEntry[]>;

  /**
   * Claims up to `limit` outbox messages that are due (new, retry time
   * reached, or a previous claim's lease over), oldest due first, and leases
   * them for `leaseMs`: until then no other claimant, in this process or
   * another sharing the database, gets them. Each claim counts as an attempt.
   * A claimant that dies leaves its messages to be claimed again when the
   * lease ends. Dead letters are never claimed.
   *
   * @throws {RangeError} for a `limit` or `leaseMs` out of range.
   */
  claimOutbox(options: ClaimOutboxOptions): Promise<ClaimedOutboxMessage[]>;

  /**
   * Deletes delivered messages, in one statement, whoever holds them now
   * (they were delivered either way). Ids already gone are ignored.
   */
  completeOutbox(messageIds: readonly string[]): Promise<void>;

  /**
   * Ends a claim after a failed attempt: the message becomes due again at
   * `notBefore`, keeping `error` as its last error.
   *
   * @returns false, changing nothing, when the claim is no longer current
   *   (its lease ended and the message was claimed again, or it was settled).
   */
  retryOutbox(
    claim: Pick<ClaimedOutboxMessage, "messageId" | "claimToken">,
    options: { error: string; notBefore: Date },
  ): Promise<boolean>;

  /**
   * Ends a claim by giving up on the message: it stays in the outbox as a
   * dead letter with `error`, and is never claimed again.
   *
   * @returns false, changing nothing, when the claim is no longer current.
   */
  deadLetterOutbox(
    claim: Pick<ClaimedOutboxMessage, "messageId" | "claimToken">,
    error: string,
    now?: Date,
  ): Promise<boolean>;

  /** Dead letters, oldest first, at most `limit` (default 100). */
  listDeadLetters(options?: { limit?: number }): Promise<DeadLetterOutboxMessage[]>;

  /** How many dead letters there are. */
  countDeadLetters(): Promise<number>;

  /** How many messages are still to deliver: due, claimed, or waiting for a retry (no dead letters). */
  countPendingOutbox(): Promise<number>;

  /**
   * Order events after a position, ascending, at most `limit`. Positions are
   * handed out in commit order, so a reader that resumes after the last
   * position it saw misses nothing: no event ever appears below it later.
   * Positions may skip numbers; an order's sequence numbers never do.
   *
   * @throws {RangeError} for an `afterPosition` or `limit` out of range.
   */
  listOrderEvents(query: ListOrderEventsQuery): Promise<OrderChangeEvent[]>;

  /**
   * Takes (or renews) the lease of the event publisher `name` for `owner`
   * until `now + leaseMs`, creating the publisher at position 0 if new.
   *
   * @returns the position published so far, or null when another owner's
   *   lease has not ended (nothing changes then).
   */
  acquireEventPublisher(
    name: string,
    owner: string,
    leaseMs: number,
    now?: Date,
  ): Promise<number | null>;

  /**
   * Records that `name` has published everything up to `position`, and
   * renews the lease, if `owner` still holds it.
   *
   * @returns false, changing nothing, when the lease is no longer the owner's.
   */
  advanceEventPublisher(
    name: string,
    owner: string,
    position: number,
    leaseMs: number,
    now?: Date,
  ): Promise<boolean>;

  /**
   * Accept-first SubmitOrder: in one transaction, stores `order` (as
   * {@link saveOrder} with rank 0 would: snapshot, version history, timeline
   * entries, outbox messages, event), the submission fingerprint, and a
   * workflow start record (see {@link claimWorkflowStarts}), due after
   * `startGraceMs`. Writes nothing when the order already exists (whether
   * or not it has a fingerprint): judge that with
   * {@link getSubmissionFingerprint}.
   *
   * @returns accepted false when the order already existed.
   */
  acceptOrder(acceptance: OrderAcceptance): Promise<{ accepted: boolean }>;

  /** The fingerprint its acceptance recorded; null for an unknown order or one accepted before migration 0009. */
  getSubmissionFingerprint(orderId: string): Promise<string | null>;

  /** The order's workflow start record if its workflow has not been started yet (parked ones too), else null. */
  getWorkflowStart(orderId: string): Promise<(WorkflowStart & { parked: boolean }) | null>;

  /**
   * Claims up to `limit` workflow starts that are due (the grace after
   * acceptance over, a retry time reached, or a previous claim's lease over),
   * oldest due first, for `leaseMs`, like {@link claimOutbox}. Parked starts
   * are never claimed.
   */
  claimWorkflowStarts(options: ClaimOutboxOptions): Promise<ClaimedWorkflowStart[]>;

  /** Deletes the start record: the workflow exists. Whoever holds it; unknown ids are ignored. */
  completeWorkflowStart(orderId: string): Promise<void>;

  /**
   * Ends a claim after a failed start: due again at `notBefore`.
   *
   * @returns false, changing nothing, when the claim is no longer current.
   */
  retryWorkflowStart(
    claim: Pick<ClaimedWorkflowStart, "orderId" | "claimToken">,
    options: { error: string; notBefore: Date },
  ): Promise<boolean>;

  /**
   * Gives up on a start (a conflicting workflow exists): it stays, parked
   * with `error`, for an operator, and is never claimed again. Applies to the
   * record whoever holds it.
   *
   * @returns false when there is no unparked record for the order.
   */
  parkWorkflowStart(orderId: string, error: string, now?: Date): Promise<boolean>;

  /** Parked starts, oldest first, at most `limit` (default 100). */
  listParkedWorkflowStarts(options?: { limit?: number }): Promise<ParkedWorkflowStart[]>;

  /** How many starts are still to make (parked ones not counted). */
  countPendingWorkflowStarts(): Promise<number>;

  /** Resolves when the database answers a trivial query; rejects otherwise. For health checks. */
  ping(): Promise<void>;

  /** Releases connections. The store is unusable afterwards. */
  close(): Promise<void>;
}

/** Base class of the read model's caller errors, which the API maps to INVALID_ARGUMENT. */
export class ReadModelArgumentError extends Error {
  /** The request field at fault, as the API names it. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.field = field;
  }
}

/** A page token that is malformed, forged, or was issued for other filters. */
export class InvalidPageTokenError extends ReadModelArgumentError {
  constructor(message = "page_token is invalid or was issued for a different query") {
    super("page_token", message);
  }
}

/** A page size that is negative or not an integer. */
export class InvalidPageSizeError extends ReadModelArgumentError {
  constructor(pageSize: number) {
    super("page_size", `page_size must be a non-negative integer, got ${pageSize}`);
  }
}

/**
 * Applies AIP-158 to a requested page size: 0 means the default, larger than
 * the maximum is clamped, negative (or not an integer) is an error.
 */
export function effectivePageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw new InvalidPageSizeError(requested);
  }
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}
