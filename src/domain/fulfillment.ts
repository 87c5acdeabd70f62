/**
 * A fulfillment's transitions (docs/spec.md section 5), as pure functions from one
 * state to the next. The order workflow applies them; nothing else changes a
 * fulfillment, so every state a reader sees was made by one of these.
 */
import type { Fulfillment, LineItem, ShipmentStatus } from "./order.js";
import { invoiceFor, type PricingPolicy } from "./pricing.js";

/** A new fulfillment for one warehouse's share of the order, priced on its own. */
export function newFulfillment(
  fulfillmentIdValue: string,
  warehouseId: string,
  items: LineItem[],
  pricing: PricingPolicy,
): Fulfillment {
  return {
    fulfillmentId: fulfillmentIdValue,
    warehouseId,
    status: "PENDING",
    items,
    amounts: invoiceFor(items, pricing),
    payment: {
      status: "PENDING",
      authorizationId: "",
      authorizedMinor: 0,
      capturedMinor: 0,
      refundedMinor: 0,
      declineReason: "",
    },
    shipment: {
      shipmentId: "",
      status: "PENDING",
      courierReference: "",
      dispatchTime: "",
      deliveryTime: "",
    },
    statusReason: "",
  };
}

/**
 * The payment service approved the amount asked for: the invoice total when
 * it was asked (items cancelled meanwhile make the total lower than that).
 */
export function authorized(
  f: Fulfillment,
  authorizationId: string,
  amountMinor: number = f.amounts.totalMinor,
): Fulfillment {
  return {
    ...f,
    status: "AUTHORIZED",
    payment: {
      ...f.payment,
      status: "AUTHORIZED",
      authorizationId,
      authorizedMinor: amountMinor,
    },
  };
}

/**
 * The authorization was renewed before it expired: the new one replaces it
 * (the old one is voided); the fulfillment's status does not change.
 */
export function reauthorized(
  f: Fulfillment,
  authorizationId: string,
  amountMinor: number,
): Fulfillment {
  return { ...f, payment: { ...f.payment, authorizationId, authorizedMinor: amountMinor } };
}

/** The payment service declined: the fulfillment fails (its stock is released). */
export function declined(f: Fulfillment, authorizationId: string, reason: string): Fulfillment {
  return {
    ...f,
    status: "FAILED",
    statusReason: `payment declined: ${reason}`,
    payment: { ...f.payment, status: "DECLINED", authorizationId, declineReason: reason },
  };
}

/** A courier is booked. */
export function booked(f: Fulfillment, shipmentId: string, courierReference: string): Fulfillment {
  return {
    ...f,
    status: "BOOKED",
    shipment: { ...f.shipment, status: "BOOKED", shipmentId, courierReference },
  };
}

/** The courier picked the parcel up: from here nothing can be cancelled. */
export function dispatched(f: Fulfillment, at: string): Fulfillment {
  return {
    ...f,
    status: "DISPATCHED",
    shipment: { ...f.shipment, status: "DISPATCHED", dispatchTime: at },
  };
}

/**
 * What the capture at dispatch takes: the invoice total, which is the
 * authorized amount unless items were cancelled after the authorization
 * (then less; the rest of the authorization is never captured).
 */
export function captureAmount(f: Fulfillment): number {
  return Math.min(f.amounts.totalMinor, f.payment.authorizedMinor);
}

/** The capture amount was captured (at dispatch). */
export function captured(f: Fulfillment): Fulfillment {
  return {
    ...f,
    payment: { ...f.payment, status: "CAPTURED", capturedMinor: captureAmount(f) },
  };
}

/** The parcel reached the customer. */
export function delivered(f: Fulfillment, at: string): Fulfillment {
  return {
    ...f,
    status: "DELIVERED",
    shipment: { ...f.shipment, status: "DELIVERED", deliveryTime: at },
  };
}

/** The courier booking was cancelled (compensation). */
export function bookingCancelled(f: Fulfillment): Fulfillment {
  return { ...f, shipment: { ...f.shipment, status: "CANCELLED" } };
}

/** The authorization was voided (compensation). */
export function voided(f: Fulfillment): Fulfillment {
  return { ...f, payment: { ...f.payment, status: "VOIDED" } };
}

/** Everything the fulfillment held was given back; it ends CANCELLED or FAILED. */
export function compensated(
  f: Fulfillment,
  status: "CANCELLED" | "FAILED",
  reason: string,
): Fulfillment {
  return { ...f, status, statusReason: reason };
}

/**
 * Whether a shipment in `status` already reflects a courier event: a repeat
 * of such an event is applied already and changes nothing.
 */
export function shipmentReached(
  status: ShipmentStatus,
  event: "DISPATCHED" | "DELIVERED",
): boolean {
  return status === "DELIVERED" || (event === "DISPATCHED" && status === "DISPATCHED");
}
