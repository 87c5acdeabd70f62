/**
 * Re-sourcing (see src/workflows/resourcing.ts): when a warehouse rejects a
 * fulfillment, or its courier booking keeps failing past a bound, the
 * order moves the fulfillment's lines to another warehouse with stock.
 */
import type { Fulfillment, LineItem } from "./order.js";
import { invoiceFor, type PricingPolicy } from "./pricing.js";

/** The failure type of a booking the warehouse rejected (shipping's ErrorInfo reason). */
export const WAREHOUSE_REJECTED = "WAREHOUSE_REJECTED";

/** How far an order goes to re-source its lines; fixed into each order at submission. */
export interface ResourcingPolicy {
  /** Re-sourcings in a row for one fulfillment's lines (0: never; the fulfillment fails as before). */
  maxAttempts: number;
  /**
   * Attempts of one courier booking before it counts as failing and the
   * lines are re-sourced; with no other warehouse to go to, the booking is
   * retried at the same warehouse for as long as it takes (as before).
   */
  bookingMaxAttempts: number;
}

export const DEFAULT_RESOURCING_POLICY: ResourcingPolicy = {
  maxAttempts: 2,
  bookingMaxAttempts: 10,
};

/** The fulfillment whose lines went to other warehouses: it keeps none, so it costs nothing. */
export function resourcedAway(f: Fulfillment, pricing: PricingPolicy): Fulfillment {
  return { ...f, items: [], amounts: invoiceFor([], pricing) };
}

/** "2 x MUG-CLASSIC, 1 x PEN-BLACK" */
export function describeLines(items: readonly Pick<LineItem, "sku" | "quantity">[]): string {
  return items.map((i) => `${i.quantity} x ${i.sku}`).join(", ");
}
