/**
 * Workflow ids derived from business ids, so that a duplicate request can
 * never start a second workflow for the same order or fulfillment.
 */
export function orderWorkflowId(orderId: string): string {
  return `order/${orderId}`;
}

const ORDER_WORKFLOW_PREFIX = orderWorkflowId("");

/** The order id in an order workflow's id (`order/<order_id>`), or undefined for any other workflow. */
export function orderIdOfWorkflowId(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith(ORDER_WORKFLOW_PREFIX)
    ? workflowId.slice(ORDER_WORKFLOW_PREFIX.length)
    : undefined;
}

/** Fulfillment ids are stable per order: "<order_id>/<n>", n from 1. */
export function fulfillmentId(orderId: string, n: number): string {
  return `${orderId}/${n}`;
}

/**
 * The order id in a fulfillment id ("<order_id>/<n>") or a return id
 * ("<order_id>/r<n>", the reference of a return label), or null when it is
 * neither.
 */
export function orderIdOfFulfillment(fulfillmentIdValue: string): string | null {
  const slash = fulfillmentIdValue.lastIndexOf("/");
  const n = fulfillmentIdValue.slice(slash + 1);
  return slash > 0 && /^r?[1-9][0-9]*$/.test(n) ? fulfillmentIdValue.slice(0, slash) : null;
}
