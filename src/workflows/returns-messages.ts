/**
 * The returns run's public face: its type name, input and Updates, shared by
 * the workflow and the API's Temporal client.
 */
import { defineUpdate } from "@temporalio/workflow";
import type { Order } from "../domain/order.js";
import type { ReturnItem, ReturnPolicy } from "../domain/returns.js";

export const ORDER_RETURNS_WORKFLOW_TYPE = "orderReturnsWorkflow";

/**
 * A returns run continues a completed order under the order's own workflow
 * id, as a new run started by the first RequestReturn (Update-with-Start):
 * the order as the read model holds it (its final version, written before the
 * order's run closed), and the last timeline sequence so entries go on from it.
 */
export interface OrderReturnsInput {
  order: Order;
  timelineSequence: number;
  policy: ReturnPolicy;
}

export interface RequestReturnInput {
  items: ReturnItem[];
  reason: string;
  requestedBy: string;
}

export interface RequestReturnResult {
  order: Order;
  returnIds: string[];
}

export interface CancelReturnInput {
  returnId: string;
  requestedBy: string;
}

export const ReturnFailureType = {
  /** Not completed, the window has closed, or the items were not delivered (or are being returned). */
  NotReturnable: "ORDER_NOT_RETURNABLE",
  /** No return with that id. */
  ReturnNotFound: "RETURN_NOT_FOUND",
  /** The parcel has been shipped (or the return has ended otherwise). */
  ReturnNotCancellable: "RETURN_NOT_CANCELLABLE",
} as const;

/** Records returns of delivered items and books their labels; replies once they are stored. */
export const requestReturnUpdate = defineUpdate<RequestReturnResult, [RequestReturnInput]>(
  "requestReturn",
);

/** Cancels a return not yet shipped; replies once it is cancelled and stored. */
export const cancelReturnUpdate = defineUpdate<Order, [CancelReturnInput]>("cancelReturn");
