/**
 * Returns and refunds as pure rules and transitions: what may be returned,
 * how much a return refunds, and each step of a return's life. The order's
 * returns run (src/workflows/returns.ts) applies them; nothing else changes a
 * return.
 */
import {
  type Fulfillment,
  isTerminal,
  type LineItem,
  type Order,
  type ShipmentStatus,
} from "./order.js";

export const RETURN_STATUSES = [
  "REQUESTED",
  "LABEL_BOOKED",
  "IN_TRANSIT",
  "RECEIVED",
  "REFUNDED",
  "CANCELLED",
  "EXPIRED",
] as const;
export type ReturnStatus = (typeof RETURN_STATUSES)[number];

export interface ReturnLabel {
  shipmentId: string;
  courierReference: string;
  /** ISO 8601, empty until the courier picked the parcel up. */
  dispatchTime: string;
  /** ISO 8601, empty until the warehouse received it. */
  deliveryTime: string;
}

export interface OrderReturn {
  /** `<order_id>/r<n>`, n from 1. */
  returnId: string;
  status: ReturnStatus;
  fulfillmentId: string;
  warehouseId: string;
  lines: LineItem[];
  reason: string;
  requestedBy: string;
  /** ISO 8601. */
  requestTime: string;
  /** ISO 8601: not shipped by then, the return expires. */
  shipByTime: string;
  label: ReturnLabel;
  refundMinor: number;
  refundedMinor: number;
  statusReason: string;
}

/** A line the caller asks to return. */
export interface ReturnItem {
  sku: string;
  quantity: number;
}

/** Settings of returns, passed into the run so a change never alters a return under way. */
export interface ReturnPolicy {
  /** How long after delivery items may be returned. */
  windowMs: number;
  /** How long after the request the parcel must be shipped. */
  shipWithinMs: number;
}

const ENDED: ReadonlySet<ReturnStatus> = new Set(["REFUNDED", "CANCELLED", "EXPIRED"]);

export function returnEnded(r: OrderReturn): boolean {
  return ENDED.has(r.status);
}

/** Not yet handed to the courier: CancelReturn can still stop it. */
export function returnCancellable(r: OrderReturn): boolean {
  return r.status === "REQUESTED" || r.status === "LABEL_BOOKED";
}

/** Nothing more will happen to the order: a terminal status and no return under way. */
export function orderSettled(order: Order): boolean {
  return isTerminal(order.status) && returnsOf(order).every(returnEnded);
}

export function returnsOf(order: Order): OrderReturn[] {
  return order.returns ?? [];
}

export function returnId(orderId: string, n: number): string {
  return `${orderId}/r${n}`;
}

/** Why a return cannot be made, or the returns to make (one per fulfillment). */
export type ReturnPlan = { ok: false; why: string } | { ok: true; returns: PlannedReturn[] };

export interface PlannedReturn {
  fulfillment: Fulfillment;
  lines: LineItem[];
  refundMinor: number;
}

/**
 * Plans a return request against the order as it is at `now`: the order is
 * COMPLETED; every SKU was delivered, within the window, in at least the
 * quantity asked minus what other returns (not cancelled or expired) already
 * take back. Units are taken from the fulfillments in their order.
 */
export function planReturn(
  order: Order,
  items: readonly ReturnItem[],
  now: Date,
  policy: ReturnPolicy,
): ReturnPlan {
  if (order.status !== "COMPLETED") {
    return {
      ok: false,
      why: `order "${order.orderId}" is ${order.status.toLowerCase()}; only completed orders take returns`,
    };
  }
  const skus = new Set<string>();
  for (const item of items) {
    if (skus.has(item.sku)) return { ok: false, why: `SKU ${item.sku} is listed twice` };
    skus.add(item.sku);
  }
  const open = (f: Fulfillment) =>
    f.status === "DELIVERED" &&
    Date.parse(f.shipment.deliveryTime) + policy.windowMs >= now.getTime();
  const taken = new Map<string, number>();
  for (const r of returnsOf(order)) {
    if (r.status === "CANCELLED" || r.status === "EXPIRED") continue;
    for (const line of r.lines) {
      const key = `${r.fulfillmentId}|${line.sku}`;
      taken.set(key, (taken.get(key) ?? 0) + line.quantity);
    }
  }
  const byFulfillment = new Map<Fulfillment, LineItem[]>();
  for (const item of items) {
    let missing = item.quantity;
    for (const f of order.fulfillments) {
      if (missing === 0) break;
      const line = f.items.find((l) => l.sku === item.sku);
      if (line === undefined || !open(f)) continue;
      const key = `${f.fulfillmentId}|${item.sku}`;
      const free = line.quantity - (taken.get(key) ?? 0);
      const quantity = Math.min(free, missing);
      if (quantity <= 0) continue;
      missing -= quantity;
      const lines = byFulfillment.get(f) ?? [];
      lines.push({ sku: item.sku, quantity, unitPriceMinor: line.unitPriceMinor });
      byFulfillment.set(f, lines);
    }
    if (missing > 0) {
      const delivered = order.fulfillments.some(
        (f) => f.status === "DELIVERED" && f.items.some((l) => l.sku === item.sku),
      );
      return {
        ok: false,
        why: delivered
          ? `${item.quantity} x ${item.sku} cannot be returned: the return window has closed or fewer were delivered and not already returned`
          : `${item.sku} was not delivered with order "${order.orderId}"`,
      };
    }
  }
  return {
    ok: true,
    returns: [...byFulfillment].map(([fulfillment, lines]) => ({
      fulfillment,
      lines,
      refundMinor: refundFor(fulfillment, lines, returnsOf(order)),
    })),
  };
}

/**
 * What returning `lines` of `f` refunds: their price plus the same share of
 * the fulfillment's tax, never more than was captured and is not already
 * refunded or promised to another return. Shipping is not refunded.
 */
export function refundFor(
  f: Fulfillment,
  lines: readonly LineItem[],
  others: readonly OrderReturn[],
): number {
  const subtotal = lines.reduce((sum, l) => sum + l.quantity * l.unitPriceMinor, 0);
  const tax =
    f.amounts.subtotalMinor === 0
      ? 0
      : Math.floor((subtotal * f.amounts.taxMinor) / f.amounts.subtotalMinor);
  const promised = others
    .filter(
      (r) =>
        r.fulfillmentId === f.fulfillmentId && r.status !== "CANCELLED" && r.status !== "EXPIRED",
    )
    .reduce((sum, r) => sum + r.refundMinor, 0);
  const left = Math.max(0, f.payment.capturedMinor - Math.max(promised, f.payment.refundedMinor));
  return Math.min(subtotal + tax, left);
}

export function newReturn(
  id: string,
  planned: PlannedReturn,
  reason: string,
  requestedBy: string,
  requestTime: string,
  policy: ReturnPolicy,
): OrderReturn {
  return {
    returnId: id,
    status: "REQUESTED",
    fulfillmentId: planned.fulfillment.fulfillmentId,
    warehouseId: planned.fulfillment.warehouseId,
    lines: planned.lines,
    reason,
    requestedBy,
    requestTime,
    shipByTime: new Date(Date.parse(requestTime) + policy.shipWithinMs).toISOString(),
    label: { shipmentId: "", courierReference: "", dispatchTime: "", deliveryTime: "" },
    refundMinor: planned.refundMinor,
    refundedMinor: 0,
    statusReason: "",
  };
}

export function labelBooked(
  r: OrderReturn,
  shipmentId: string,
  courierReference: string,
): OrderReturn {
  return { ...r, status: "LABEL_BOOKED", label: { ...r.label, shipmentId, courierReference } };
}

export function returnInTransit(r: OrderReturn, at: string): OrderReturn {
  return { ...r, status: "IN_TRANSIT", label: { ...r.label, dispatchTime: at } };
}

export function returnReceived(r: OrderReturn, at: string): OrderReturn {
  return { ...r, status: "RECEIVED", label: { ...r.label, deliveryTime: at } };
}

export function returnRefunded(r: OrderReturn, refundedMinor: number): OrderReturn {
  return { ...r, status: "REFUNDED", refundedMinor, statusReason: "refunded and restocked" };
}

export function returnClosed(
  r: OrderReturn,
  status: "CANCELLED" | "EXPIRED",
  reason: string,
): OrderReturn {
  return { ...r, status, statusReason: reason };
}

/** The fulfillment's payment after a refund: REFUNDED once everything captured is refunded. */
export function paymentRefunded(f: Fulfillment, amountMinor: number): Fulfillment {
  const refundedMinor = f.payment.refundedMinor + amountMinor;
  return {
    ...f,
    payment: {
      ...f.payment,
      refundedMinor,
      status: refundedMinor >= f.payment.capturedMinor ? "REFUNDED" : f.payment.status,
    },
  };
}

/** Whether a return label's courier event is already applied (a repeat changes nothing). */
export function returnReached(r: OrderReturn, event: "DISPATCHED" | "DELIVERED"): boolean {
  const after: ReturnStatus[] =
    event === "DISPATCHED" ? ["IN_TRANSIT", "RECEIVED", "REFUNDED"] : ["RECEIVED", "REFUNDED"];
  return after.includes(r.status);
}

/**
 * A return label as a shipment (for a courier event that arrives after the
 * returns run ended): DISPATCHED once in transit, DELIVERED once received.
 */
export function returnLabelOf(
  order: Order,
  id: string,
  shipmentId: string,
): { shipment: { status: ShipmentStatus } } | undefined {
  const r = returnsOf(order).find((x) => x.returnId === id && x.label.shipmentId === shipmentId);
  if (r === undefined) return undefined;
  const status: ShipmentStatus = returnReached(r, "DELIVERED")
    ? "DELIVERED"
    : returnReached(r, "DISPATCHED")
      ? "DISPATCHED"
      : r.status === "CANCELLED" || r.status === "EXPIRED"
        ? "CANCELLED"
        : "BOOKED";
  return { shipment: { status } };
}
