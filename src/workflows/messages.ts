/**
 * The order workflow's public face: its type name, input, and the messages the
 * API sends it. Imported by the workflow and by the Temporal client side, so
 * both always agree on names and shapes.
 */
import { defineQuery, defineUpdate } from "@temporalio/workflow";
import type { Order, OrderSubmission } from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";

export const ORDER_WORKFLOW_TYPE = "orderWorkflow";

export interface OrderWorkflowInput {
  submission: OrderSubmission;
  /** When the API accepted the order (ISO 8601); the order's create_time. */
  acceptTime: string;
  /** The authenticated principal that submitted it. */
  submittedBy: string;
  pricing: PricingPolicy;
  /** Stand-in for the courier until downstream services exist (see docs/design.md). */
  fulfillmentDelayMs: number;
}

export interface CancelOrderRequest {
  /** Free text from the caller. */
  description: string;
  /** The authenticated principal asking. */
  requestedBy: string;
}

/** Failure types the workflow raises on purpose; the API maps them to gRPC codes. */
export const WorkflowFailureType = {
  /** A cancellation that can change nothing: everything was dispatched or the order ended. */
  NotCancellable: "ORDER_NOT_CANCELLABLE",
} as const;

/** The order as the workflow holds it right now. */
export const getOrderQuery = defineQuery<Order>("getOrder");

/**
 * Records a cancellation and returns the order with it. The validator rejects
 * it (nothing is written to history) when there is nothing left to cancel.
 */
export const cancelOrderUpdate = defineUpdate<Order, [CancelOrderRequest]>("cancelOrder");
