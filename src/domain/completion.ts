import type { Fulfillment, FulfillmentStatus, OrderStatus } from "./order.js";

const ENDED: ReadonlySet<FulfillmentStatus> = new Set(["DELIVERED", "CANCELLED", "FAILED"]);

export function fulfillmentEnded(f: Fulfillment): boolean {
  return ENDED.has(f.status);
}

/** Not yet handed to the courier: a cancellation can still stop it. */
export function fulfillmentCancellable(f: Fulfillment): boolean {
  return f.status === "PENDING" || f.status === "AUTHORIZED" || f.status === "BOOKED";
}

/**
 * The order's final status once every fulfillment has ended: COMPLETED if
 * at least one was delivered; otherwise CANCELLED if a cancellation was asked
 * for or everything was cancelled, else FAILED.
 */
export function finalOrderStatus(
  fulfillments: readonly Fulfillment[],
  cancellationRequested: boolean,
): OrderStatus {
  if (fulfillments.some((f) => f.status === "DELIVERED")) return "COMPLETED";
  if (cancellationRequested || fulfillments.every((f) => f.status === "CANCELLED"))
    return "CANCELLED";
  return "FAILED";
}
