/**
 * Workflow ids derived from business ids, so that a duplicate request can
 * never start a second workflow for the same order or fulfillment.
 */
export function orderWorkflowId(orderId: string): string {
  return `order/${orderId}`;
}

/** Fulfillment ids are stable per order: "<order_id>/<n>", n from 1. */
export function fulfillmentId(orderId: string, n: number): string {
  return `${orderId}/${n}`;
}

/** "order/<order_id>/fulfillment/<n>" for the fulfillment id "<order_id>/<n>". */
export function fulfillmentWorkflowId(fulfillmentIdValue: string): string {
  const slash = fulfillmentIdValue.lastIndexOf("/");
  const orderId = fulfillmentIdValue.slice(0, slash);
  const n = fulfillmentIdValue.slice(slash + 1);
  return `${orderWorkflowId(orderId)}/fulfillment/${n}`;
}
