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
    version: 1,
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

/** The ORDER_ACCEPTED notification, written with version 1 (by the API and the workflow alike). */
export function acceptedNotification(order: Order): OrderNotification {
  return orderNotification(
    order.orderId,
    order.customerId,
    "ORDER_ACCEPTED",
    "",
    {},
    order.createTime,
  );
}
