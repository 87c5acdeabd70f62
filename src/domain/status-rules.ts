import type { Order } from "./order.js";

/**
 * Whether a cancellation can still change anything: true while some
 * fulfillment (or the whole order, before fulfillments exist) has not been
 * dispatched and the order has not ended.
 */
export function canCancel(order: Order): boolean {
  switch (order.status) {
    case "PENDING":
    case "CUSTOMER_ACTION_REQUIRED":
      return true;
    case "PROCESSING":
      return (
        order.fulfillments.length === 0 ||
        order.fulfillments.some(
          (f) => f.status === "PENDING" || f.status === "AUTHORIZED" || f.status === "BOOKED",
        )
      );
    default:
      return false;
  }
}
