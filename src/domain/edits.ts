/**
 * Edits of a running order (UpdateShippingAddress, CancelOrderItems): the
 * rules deciding whether an edit applies, as pure functions over the order.
 */
import type { Fulfillment, Order } from "./order.js";

/**
 * Optimistic concurrency: an edit made against `expectedVersion` applies
 * only if the order is still at that version (0: the caller does not check).
 */
export function isStale(order: Order, expectedVersion: number): boolean {
  return expectedVersion !== 0 && expectedVersion !== order.version;
}

/**
 * The fulfillments whose shipment has been booked with the courier (or is
 * being booked right now): the courier has the address, so it can no longer
 * change for them.
 */
export function bookedWithCourier(
  order: Order,
  bookingsInFlight: ReadonlySet<string>,
): Fulfillment[] {
  return order.fulfillments.filter(
    (f) =>
      bookingsInFlight.has(f.fulfillmentId) ||
      f.shipment.status === "BOOKED" ||
      f.shipment.status === "DISPATCHED" ||
      f.shipment.status === "DELIVERED",
  );
}
