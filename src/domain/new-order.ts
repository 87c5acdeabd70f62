import type { Order, OrderSubmission } from "./order.js";
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
