import { condition, workflowInfo } from "@temporalio/workflow";
import { acceptedEntry, acceptedNotification } from "../domain/new-order.js";
import {
  type NotificationKind,
  type OrderNotification,
  orderNotification,
} from "../domain/notification.js";
import type { Fulfillment, Order, OrderStatus, TimelineEntry } from "../domain/order.js";

/** What one read-model write carries: a version, its timeline entries and its notifications. */
export interface OrderSnapshot {
  order: Order;
  entries: TimelineEntry[];
  notifications: OrderNotification[];
  /**
   * The workflow's history length when this write was made. A workflow task
   * that runs the write (a local activity) and then never completes (its
   * worker was killed, it timed out) is run again from its start, possibly
   * with more events, and may write the same version number with other
   * content; its attempt always sees a longer history. The store keeps, per
   * version, the write of the highest rank, so the version the order's
   * history actually went on with wins over an abandoned attempt's.
   */
  writeRank?: number;
}

/**
 * Holds the order inside its workflow and turns changes into versions.
 *
 * Changes accumulate into the next version; a background writer stores it
 * (with the timeline entries and notifications made since) through `save`, a
 * local activity, once the current activation has run. So every change made
 * while handling one batch of events (two activity completions, an Update
 * and a timer, …) becomes one version and one write: at most one write per
 * workflow task in the common case. Writes never overlap, so versions reach
 * the read model strictly in order.
 *
 * Version 1 is the accepted order, which the API writes while the workflow
 * starts (with its timeline entry and ORDER_ACCEPTED notification); the
 * recorder carries the same entry and notification in its first write, so an
 * order whose API call died before writing still gets them (the store ignores
 * whatever is already there).
 */
export interface OrderRecorder {
  readonly order: Order;
  /** Applies a change that belongs to the next version. */
  change(patch: Partial<Order>): void;
  /** A status change, with its timeline entry. */
  transition(status: OrderStatus, reason: string, actor?: string, patch?: Partial<Order>): void;
  /** A timeline entry without a status change (e.g. a cancellation was asked for). */
  note(reason: string, actor: string): void;
  /** The fulfillment with this id, as it is now. */
  fulfillment(fulfillmentId: string): Fulfillment | undefined;
  /** Replaces one fulfillment with its next state. */
  updateFulfillment(fulfillmentId: string, next: (f: Fulfillment) => Fulfillment): Fulfillment;
  /** A customer notification, delivered once the next version is stored. */
  notify(kind: NotificationKind, subject?: string, data?: Record<string, string>): void;
  /** Resolves once every change made so far is stored. */
  flushed(): Promise<void>;
  /**
   * Keeps a derived part of the order in step: `derive` runs after every
   * change, inside the same version (so it never costs a write of its own).
   * `initial` is merged at once without a new version (it is already stored).
   */
  derive(initial: Partial<Order>, derive: (order: Order) => Order): void;
}

export function createOrderRecorder(
  initial: Order,
  acceptedBy: string,
  save: (snapshot: OrderSnapshot) => Promise<void>,
  /** Continue a stored order (a returns run): no accepted entry, timeline from this sequence. */
  resume?: { timelineSequence: number },
): OrderRecorder {
  let order = initial;
  let sequence = resume?.timelineSequence ?? 1;
  let entries: TimelineEntry[] = resume ? [] : [acceptedEntry(initial, acceptedBy)];
  let notifications: OrderNotification[] = resume ? [] : [acceptedNotification(initial)];
  // Version 1 is written by the API; the workflow's first write is version 2.
  let dirty = false;
  let writing = false;
  let derived: (order: Order) => Order = (o) => o;

  const change = (patch: Partial<Order>) => {
    if (!dirty) {
      order = { ...order, version: order.version + 1 };
      dirty = true;
    }
    order = derived({ ...order, ...patch, updateTime: now() });
  };

  void (async () => {
    for (;;) {
      await condition(() => dirty);
      const snapshot: OrderSnapshot = {
        order,
        entries,
        notifications,
        writeRank: workflowInfo().historyLength,
      };
      entries = [];
      notifications = [];
      dirty = false;
      writing = true;
      await save(snapshot);
      writing = false;
    }
  })();

  return {
    get order() {
      return order;
    },
    change,
    transition(status, reason, actor = "system", patch = {}) {
      const from = order.status;
      change({ ...patch, status, statusReason: reason });
      sequence += 1;
      entries.push(entry(order, sequence, order.updateTime, actor, from, reason));
    },
    note(reason, actor) {
      change({});
      sequence += 1;
      entries.push(entry(order, sequence, order.updateTime, actor, order.status, reason));
    },
    fulfillment(fulfillmentId) {
      return order.fulfillments.find((f) => f.fulfillmentId === fulfillmentId);
    },
    updateFulfillment(fulfillmentId, next) {
      let updated: Fulfillment | undefined;
      change({
        fulfillments: order.fulfillments.map((f) => {
          if (f.fulfillmentId !== fulfillmentId) return f;
          updated = next(f);
          return updated;
        }),
      });
      if (updated === undefined) throw new Error(`no fulfillment ${fulfillmentId}`);
      return updated;
    },
    notify(kind, subject = "", data = {}) {
      change({});
      notifications.push(
        orderNotification(order.orderId, order.customerId, kind, subject, data, order.updateTime),
      );
    },
    flushed() {
      return condition(() => !dirty && !writing);
    },
    derive(initial, derive) {
      order = { ...order, ...initial };
      derived = derive;
    },
  };
}

function entry(
  order: Order,
  sequence: number,
  time: string,
  actor: string,
  fromStatus: OrderStatus | null,
  reason: string,
): TimelineEntry {
  return {
    orderId: order.orderId,
    sequence,
    time,
    actor,
    fromStatus,
    toStatus: order.status,
    reason,
    version: order.version,
  };
}

/** Workflow time: deterministic inside a workflow (the time of the current task). */
function now(): string {
  return new Date().toISOString();
}
