/**
 * Workflow ids derived from business ids, so that a duplicate request can
 * never start a second workflow for the same order.
 */
export function orderWorkflowId(orderId: string): string {
  return `order/${orderId}`;
}

/** Fulfillment ids are stable per order: "<order_id>/<n>", n from 1. */
export function fulfillmentId(orderId: string, n: number): string {
  return `${orderId}/${n}`;
}
