import { fulfillmentCancellable } from "./completion.js";
import type { Order } from "./order.js";

/**
 * Whether a cancellation can still change anything: true while the order has
 * not ended and some fulfillment (or the whole order, before fulfillments
 * exist) has not been dispatched.
 */
export function canCancel(order: Order): boolean {
  switch (order.status) {
    case "PENDING":
    case "CUSTOMER_ACTION_REQUIRED":
      return true;
    case "PROCESSING":
      return order.fulfillments.length === 0 || order.fulfillments.some(fulfillmentCancellable);
    default:
      return false;
  }
}
