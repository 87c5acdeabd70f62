import type { Amounts, LineItem } from "./order.js";

/**
 * How an invoice is priced. Passed into the order workflow as input, so a
 * change of policy never changes how an order already running was priced.
 */
export interface PricingPolicy {
  /** Tax rate in basis points of the subtotal (800 = 8%). */
  taxRateBps: number;
  /** Flat shipping charge per fulfillment, in minor units. */
  shippingPerFulfillmentMinor: number;
}

export const DEFAULT_PRICING: PricingPolicy = { taxRateBps: 800, shippingPerFulfillmentMinor: 499 };

export function subtotalOf(items: readonly LineItem[]): number {
  return items.reduce((sum, item) => sum + item.quantity * item.unitPriceMinor, 0);
}

/** The invoice of one shipment of `items`. Tax rounds half up to the minor unit. */
export function invoiceFor(items: readonly LineItem[], policy: PricingPolicy): Amounts {
  const subtotalMinor = subtotalOf(items);
  const taxMinor = Math.floor((subtotalMinor * policy.taxRateBps + 5_000) / 10_000);
  const shippingMinor = items.length > 0 ? policy.shippingPerFulfillmentMinor : 0;
  return {
    subtotalMinor,
    taxMinor,
    shippingMinor,
    totalMinor: subtotalMinor + taxMinor + shippingMinor,
  };
}

export function sumAmounts(all: readonly Amounts[]): Amounts {
  return all.reduce(
    (acc, a) => ({
      subtotalMinor: acc.subtotalMinor + a.subtotalMinor,
      taxMinor: acc.taxMinor + a.taxMinor,
      shippingMinor: acc.shippingMinor + a.shippingMinor,
      totalMinor: acc.totalMinor + a.totalMinor,
    }),
    { subtotalMinor: 0, taxMinor: 0, shippingMinor: 0, totalMinor: 0 },
  );
}
