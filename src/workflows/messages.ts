/**
 * The workflows' public face: type names, inputs, and the messages the API
 * and the workflows send each other. Imported by the workflows and by the
 * Temporal client side, so both always agree on names and shapes.
 */
import { defineQuery, defineSignal, defineUpdate } from "@temporalio/workflow";
import type { Address, Fulfillment, Order, OrderSubmission } from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";

export const ORDER_WORKFLOW_TYPE = "orderWorkflow";
export const FULFILLMENT_WORKFLOW_TYPE = "fulfillmentWorkflow";

export interface OrderWorkflowInput {
  submission: OrderSubmission;
  /** When the API accepted the order (ISO 8601); the order's create_time. */
  acceptTime: string;
  /** The authenticated principal that submitted it. */
  submittedBy: string;
  pricing: PricingPolicy;
  /** How long the order waits in CUSTOMER_ACTION_REQUIRED before it is cancelled. */
  customerActionTimeoutMs: number;
}

export interface FulfillmentWorkflowInput {
  orderId: string;
  customerId: string;
  currencyCode: string;
  shippingAddress: Address;
  /** The fulfillment as the order created it (PENDING, with its items and invoice). */
  fulfillment: Fulfillment;
}

export interface CancelOrderRequest {
  /** Free text from the caller. */
  description: string;
  /** The authenticated principal asking. */
  requestedBy: string;
}

export type Resolution = "PROCEED_WITHOUT_UNAVAILABLE" | "CANCEL_ORDER";

export interface ResolveUnavailableItemsRequest {
  resolution: Resolution;
  requestedBy: string;
}

export type ShipmentEvent = "DISPATCHED" | "DELIVERED";

export interface ShipmentEventReport {
  event: ShipmentEvent;
  /** When the courier says it happened (ISO 8601). */
  occurredAt: string;
}

/** Failure types the workflows raise on purpose; the API maps them to gRPC codes. */
export const WorkflowFailureType = {
  /** A cancellation that can change nothing: everything was dispatched or the order ended. */
  NotCancellable: "ORDER_NOT_CANCELLABLE",
  /** ResolveUnavailableItems while the order is not waiting for it. */
  NotAwaitingAction: "ORDER_NOT_AWAITING_ACTION",
  /** A courier event that does not follow from the shipment's state. */
  ShipmentEventOutOfOrder: "SHIPMENT_EVENT_OUT_OF_ORDER",
} as const;

/** The order as the workflow holds it right now. */
export const getOrderQuery = defineQuery<Order>("getOrder");

/**
 * Records a cancellation and returns the order with it. The validator rejects
 * it (nothing is written to history) when there is nothing left to cancel.
 */
export const cancelOrderUpdate = defineUpdate<Order, [CancelOrderRequest]>("cancelOrder");

/** The caller's answer while the order waits in CUSTOMER_ACTION_REQUIRED. */
export const resolveUnavailableItemsUpdate = defineUpdate<Order, [ResolveUnavailableItemsRequest]>(
  "resolveUnavailableItems",
);

/** Child → parent: the fulfillment's state changed (authorized, booked, dispatched). */
export const fulfillmentProgressSignal = defineSignal<[Fulfillment]>("fulfillmentProgress");

/** Parent → child: cancel what has not been dispatched. */
export const cancelFulfillmentSignal = defineSignal<[]>("cancelFulfillment");

/** Courier integration → fulfillment: the shipment was dispatched or delivered. */
export const reportShipmentEventUpdate = defineUpdate<Fulfillment, [ShipmentEventReport]>(
  "reportShipmentEvent",
);
