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

/** A quantity of one SKU to cancel. */
export interface ItemQuantity {
  sku: string;
  quantity: number;
}

/** What a CancelOrderItems does: per fulfillment, the quantities taken out. */
export type ItemCancellationPlan = Map<string, ItemQuantity[]>;

/**
 * Takes each requested quantity out of the fulfillments that have not been
 * booked with the courier (in fulfillment order), or says why it cannot.
 */
export function planItemCancellation(
  order: Order,
  items: readonly ItemQuantity[],
  bookingsInFlight: ReadonlySet<string>,
): { plan: ItemCancellationPlan } | { problem: string; fulfillmentIds: string[] } {
  const skus = items.map((i) => i.sku);
  const repeated = skus.find((sku, i) => skus.indexOf(sku) !== i);
  if (repeated !== undefined) return { problem: `${repeated} is listed twice`, fulfillmentIds: [] };
  const booked = new Set(bookedWithCourier(order, bookingsInFlight).map((f) => f.fulfillmentId));
  const open = order.fulfillments.filter(
    (f) => (f.status === "PENDING" || f.status === "AUTHORIZED") && !booked.has(f.fulfillmentId),
  );
  const plan: ItemCancellationPlan = new Map();
  for (const { sku, quantity } of items) {
    let left = quantity;
    for (const f of open) {
      const units = Math.min(left, f.items.find((i) => i.sku === sku)?.quantity ?? 0);
      if (units === 0) continue;
      plan.set(f.fulfillmentId, [...(plan.get(f.fulfillmentId) ?? []), { sku, quantity: units }]);
      left -= units;
      if (left === 0) break;
    }
    if (left > 0) {
      const elsewhere = order.fulfillments
        .filter((f) => !open.includes(f) && f.items.some((i) => i.sku === sku))
        .map((f) => f.fulfillmentId);
      return {
        problem:
          elsewhere.length > 0
            ? `only ${quantity - left} of ${quantity} x ${sku} can still be cancelled; the rest is in fulfillment(s) ${elsewhere.join(", ")}, booked with the courier or ended`
            : `only ${quantity - left} of ${quantity} x ${sku} is in fulfillments not yet booked`,
        fulfillmentIds: elsewhere,
      };
    }
  }
  return { plan };
}
