/**
 * The workflows' public face: type names, inputs, and the messages the API
 * and the workflows send each other. Imported by the workflows and by the
 * Temporal client side, so both always agree on names and shapes.
 */
import { defineQuery, defineUpdate } from "@temporalio/workflow";
import type { Hold, HoldPolicy, HoldType } from "../domain/holds.js";
import type { Address, Fulfillment, Order, OrderSubmission } from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";
import type { ResourcingPolicy } from "../domain/resourcing.js";
import type { OrderSla } from "../domain/sla.js";

export const ORDER_WORKFLOW_TYPE = "orderWorkflow";

export interface OrderWorkflowInput {
  submission: OrderSubmission;
  /** When the API accepted the order (ISO 8601); the order's create_time. */
  acceptTime: string;
  /** The authenticated principal that submitted it. */
  submittedBy: string;
  pricing: PricingPolicy;
  /** How long the order waits in CUSTOMER_ACTION_REQUIRED before it is cancelled. */
  customerActionTimeoutMs: number;
  /** Deadlines and expiry actions of holds; absent in orders submitted before holds existed (defaults apply). */
  holdPolicy?: HoldPolicy;
  /**
   * The order's SLA clocks, with deadlines fixed at acceptance; absent when no
   * stage is tracked and in orders submitted before SLA clocks existed.
   */
  sla?: OrderSla;
  /**
   * How long before an authorization expires the order authorizes again
   * (reauthorization.ts); absent in orders submitted before it existed (the default applies).
   */
  reauthorizeMarginMs?: number;
  /** Re-sourcing of rejected fulfillments; absent in orders submitted before it existed (bookings unbounded). */
  resourcing?: ResourcingPolicy;
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
  /** The fulfillment the shipment was booked for (the reference the order gave the shipping service). */
  fulfillmentId: string;
  /** The shipping service's shipment id. */
  shipmentId: string;
  event: ShipmentEvent;
  /** When the courier says it happened (ISO 8601). */
  occurredAt: string;
  /**
   * The authenticated principal that reported it (the courier integration);
   * absent in reports sent before it was carried, which timelines show as "system".
   */
  reportedBy?: string;
}

/** Failure types the workflows raise on purpose; the API maps them to gRPC codes. */
export const WorkflowFailureType = {
  /** A cancellation that can change nothing: everything was dispatched or the order ended. */
  NotCancellable: "ORDER_NOT_CANCELLABLE",
  /** ResolveUnavailableItems while the order is not waiting for it. */
  NotAwaitingAction: "ORDER_NOT_AWAITING_ACTION",
  /** A courier event that does not follow from the shipment's state. */
  ShipmentEventOutOfOrder: "SHIPMENT_EVENT_OUT_OF_ORDER",
  /** A courier event for a fulfillment or shipment the order does not have. */
  ShipmentNotFound: "SHIPMENT_NOT_FOUND",
  /** PlaceHold on an order that has ended. */
  NotHoldable: "ORDER_NOT_HOLDABLE",
  /** ReleaseHold with a hold id the order does not have. */
  HoldNotFound: "HOLD_NOT_FOUND",
  /** An edit made against a version the order has moved past (expected_version). */
  VersionMismatch: "ORDER_VERSION_MISMATCH",
  /** An edit of an order that has ended. */
  NotEditable: "ORDER_NOT_EDITABLE",
  /** UpdateShippingAddress once a fulfillment is booked with the courier (details: the fulfillment ids). */
  AlreadyBooked: "FULFILLMENT_ALREADY_BOOKED",
  /** CancelOrderItems asking for quantities that are booked, ended, or not in the order. */
  ItemsNotCancellable: "ITEMS_NOT_CANCELLABLE",
  /** UpdateOrderItems touching fulfillments being authorized, booked, or further along (details: the fulfillment ids). */
  FulfillmentNotEditable: "FULFILLMENT_NOT_EDITABLE",
  /** UpdateOrderItems while another one is still applying (retry). */
  EditInProgress: "ORDER_EDIT_IN_PROGRESS",
  /** UpdateOrderItems whose lines are wrong whatever the order's state (INVALID_ARGUMENT). */
  InvalidItems: "INVALID_ORDER_ITEMS",
  /** UpdateOrderItems adding units no warehouse of the order has. */
  ItemsUnavailable: "ITEMS_UNAVAILABLE",
  /** UpdateOrderItems whose higher total the payment service declined. */
  ItemsPaymentDeclined: "EDIT_PAYMENT_DECLINED",
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

/**
 * Courier integration → order: a shipment was dispatched or delivered. Replies
 * with the fulfillment once the event is applied and stored. Accepted while
 * the booking is still in flight (a courier can report the instant the
 * shipping service books), in which case it waits for the booking.
 */
export const reportShipmentEventUpdate = defineUpdate<Fulfillment, [ShipmentEventReport]>(
  "reportShipmentEvent",
);

export interface PlaceHoldRequest {
  type: HoldType;
  reason: string;
  /** The authenticated principal asking. */
  requestedBy: string;
}

export interface ReleaseHoldRequest {
  holdId: string;
  reason: string;
  requestedBy: string;
}

/** Puts the order on hold; replies with the order and the hold once stored. */
export const placeHoldUpdate = defineUpdate<{ order: Order; hold: Hold }, [PlaceHoldRequest]>(
  "placeHold",
);

/** Releases one hold; a hold no longer active is left as it is. Replies with the order once stored. */
export const releaseHoldUpdate = defineUpdate<Order, [ReleaseHoldRequest]>("releaseHold");

export interface UpdateShippingAddressRequest {
  address: Address;
  /** The order version the caller edited (0: no check). */
  expectedVersion: number;
  reason: string;
  requestedBy: string;
}

/**
 * Changes where the order ships, while no fulfillment is booked with the
 * courier. Replies with the order once stored.
 */
export const updateShippingAddressUpdate = defineUpdate<Order, [UpdateShippingAddressRequest]>(
  "updateShippingAddress",
);

export interface CancelOrderItemsRequest {
  items: { sku: string; quantity: number }[];
  expectedVersion: number;
  reason: string;
  requestedBy: string;
}

/**
 * Cancels quantities of lines not yet booked with the courier; replies with
 * the order once the stock is released and the change stored.
 */
export const cancelOrderItemsUpdate = defineUpdate<Order, [CancelOrderItemsRequest]>(
  "cancelOrderItems",
);

export interface UpdateOrderItemsRequest {
  /** Every line of the order from now on (quantity 0 or left out: removed). */
  lines: { sku: string; quantity: number; unitPriceMinor: number }[];
  expectedVersion: number;
  reason: string;
  requestedBy: string;
}

/**
 * Changes the order's lines in fulfillments not yet authorizing or booked:
 * reserves what is added, releases what is removed, re-prices and, where the
 * new total is more than the authorization, authorizes again. Replies with
 * the order once all of it is done and stored.
 */
export const updateOrderItemsUpdate = defineUpdate<Order, [UpdateOrderItemsRequest]>(
  "updateOrderItems",
);
