import { type OrderNotification, orderNotification } from "./notification.js";
import type { Order, OrderSubmission, TimelineEntry } from "./order.js";
import { invoiceFor, type PricingPolicy } from "./pricing.js";

/**
 * Version 1 of an order: what SubmitOrder returns and what the order workflow
 * starts from. Amounts are priced as if everything ships from one warehouse;
 * reservation replaces them with the per-fulfillment invoices.
 */
export function newOrder(
  submission: OrderSubmission,
  acceptTime: string,
  pricing: PricingPolicy,
): Order {
  return {
    ...submission,
    status: "PENDING",
    unavailableItems: [],
    fulfillments: [],
    amounts: invoiceFor(submission.items, pricing),
    cancellation: null,
    statusReason: "",
    version: ACCEPTED_VERSION,
    createTime: acceptTime,
    updateTime: acceptTime,
  };
}

/**
 * The first timeline entry of every order. The API (read-your-writes) and the
 * order workflow both write it; they must write the same entry, so that
 * whichever write comes second is a no-op.
 */
export function acceptedEntry(order: Order, actor: string): TimelineEntry {
  return {
    orderId: order.orderId,
    sequence: 1,
    time: order.createTime,
    actor,
    fromStatus: null,
    toStatus: order.status,
    reason: "order accepted",
    version: order.version,
  };
}

/** The version of the accepted order: the one the API writes while the workflow starts. */
export const ACCEPTED_VERSION = 1;

/**
 * The ORDER_ACCEPTED notification, announced by version 1: the API writes it
 * with that version, and the workflow's first write (version 2) carries it
 * again, for an order whose API write never landed; the store queues it
 * there only if version 1 is not stored.
 */
export function acceptedNotification(order: Order): OrderNotification {
  const notification = orderNotification(
    order.orderId,
    order.customerId,
    "ORDER_ACCEPTED",
    "",
    {},
    order.createTime,
  );
  return { ...notification, version: ACCEPTED_VERSION };
}
