/**
 * Order events: every stored version of an order becomes one event, written
 * by the read model in the same transaction as the version (a transactional
 * outbox), streamed by StreamOrderEvents and published to NATS JetStream.
 */
import type { Order, OrderStatus, TimelineEntry } from "./order.js";

export const ORDER_CHANGE_TYPES = ["CREATED", "STATUS_CHANGED", "UPDATED"] as const;
export type OrderChangeType = (typeof ORDER_CHANGE_TYPES)[number];

/** One version of an order as an event. */
export interface OrderChangeEvent {
  /** Where the event is in the log of all orders' events: grows with every event, in commit order. */
  position: number;
  orderId: string;
  /** 1, 2, 3, … per order, without gaps, in version order. */
  sequence: number;
  type: OrderChangeType;
  /** ISO 8601: when the version was made. */
  time: string;
  /** The order at this version. */
  order: Order;
  /** The status before this version; null for the order's first event. */
  previousStatus: OrderStatus | null;
  /** The reasons of the timeline entries this version added. */
  reasons: string[];
}

/** What a version adds to its event beyond the snapshot, from the timeline entries saved with it. */
export interface OrderChangeSummary {
  /** The type unless the event turns out to be the order's first (then CREATED). */
  type: Exclude<OrderChangeType, "CREATED">;
  previousStatus: OrderStatus;
  reasons: string[];
}

/**
 * Sums up a version from the entries saved with it: entries of earlier
 * versions (a first write carries the accepted entry again) do not count.
 */
export function summarizeChange(
  order: Order,
  entries: readonly TimelineEntry[],
): OrderChangeSummary {
  const own = entries
    .filter((e) => e.version === order.version)
    .sort((a, b) => a.sequence - b.sequence);
  const statusChanged = own.some((e) => e.fromStatus !== e.toStatus);
  return {
    type: statusChanged ? "STATUS_CHANGED" : "UPDATED",
    previousStatus: own[0]?.fromStatus ?? order.status,
    reasons: own.map((e) => e.reason),
  };
}

/** The event's deduplication id: `<order_id>:<sequence>`, the Nats-Msg-Id on JetStream. */
export function orderEventId(orderId: string, sequence: number): string {
  return `${orderId}:${sequence}`;
}

/** The NATS subject of an order's events. */
export function orderEventSubject(orderId: string): string {
  return `oms.orders.${orderId}`;
}
