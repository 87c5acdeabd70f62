import type { Hold } from "./holds.js";
import type { OrderReturn } from "./returns.js";
import type { OrderSla } from "./sla.js";

/**
 * The order as plain, JSON-safe data. This is what workflows hold, what
 * Temporal payloads and read-model rows carry, and what the API maps to and
 * from protobuf messages. Money is in minor units as a `number`: the contract
 * caps prices and quantities so that every total stays below 2^53.
 */

export const ORDER_STATUSES = [
  "PENDING",
  "CUSTOMER_ACTION_REQUIRED",
  "PROCESSING",
  "COMPLETED",
  "CANCELLED",
  "FAILED",
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

export const FULFILLMENT_STATUSES = [
  "PENDING",
  "AUTHORIZED",
  "BOOKED",
  "DISPATCHED",
  "DELIVERED",
  "CANCELLED",
  "FAILED",
] as const;
export type FulfillmentStatus = (typeof FULFILLMENT_STATUSES)[number];

export const PAYMENT_STATUSES = [
  "PENDING",
  "AUTHORIZED",
  "CAPTURED",
  "VOIDED",
  "REFUNDED",
  "DECLINED",
] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

export const SHIPMENT_STATUSES = [
  "PENDING",
  "BOOKED",
  "DISPATCHED",
  "DELIVERED",
  "CANCELLED",
] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

export const CANCELLATION_REASONS = [
  "CUSTOMER",
  "BUSINESS",
  "ACTION_TIMEOUT",
  "OUT_OF_STOCK",
] as const;
export type CancellationReason = (typeof CANCELLATION_REASONS)[number];

export interface LineItem {
  sku: string;
  quantity: number;
  unitPriceMinor: number;
}

export interface Address {
  name: string;
  line1: string;
  line2: string;
  city: string;
  region: string;
  postalCode: string;
  countryCode: string;
}

export interface Amounts {
  subtotalMinor: number;
  taxMinor: number;
  shippingMinor: number;
  totalMinor: number;
}

export interface Payment {
  status: PaymentStatus;
  authorizationId: string;
  authorizedMinor: number;
  capturedMinor: number;
  refundedMinor: number;
  declineReason: string;
}

export interface Shipment {
  shipmentId: string;
  status: ShipmentStatus;
  courierReference: string;
  /** ISO 8601 time, empty until dispatched. */
  dispatchTime: string;
  /** ISO 8601 time, empty until delivered. */
  deliveryTime: string;
}

export interface Fulfillment {
  fulfillmentId: string;
  warehouseId: string;
  status: FulfillmentStatus;
  items: LineItem[];
  amounts: Amounts;
  payment: Payment;
  shipment: Shipment;
  statusReason: string;
}

export interface Cancellation {
  reason: CancellationReason;
  description: string;
  /** The authenticated principal that asked, or "system". */
  requestedBy: string;
  /** ISO 8601 time. */
  requestTime: string;
}

/** What a caller submits; everything the order workflow starts from. */
export interface OrderSubmission {
  orderId: string;
  customerId: string;
  currencyCode: string;
  items: LineItem[];
  shippingAddress: Address;
}

export interface Order extends OrderSubmission {
  status: OrderStatus;
  unavailableItems: LineItem[];
  fulfillments: Fulfillment[];
  amounts: Amounts;
  cancellation: Cancellation | null;
  statusReason: string;
  /** Grows with every change; never goes back. */
  version: number;
  /** ISO 8601 times. */
  createTime: string;
  updateTime: string;
  /** Returns of delivered items (absent on orders stored before returns existed). */
  returns?: OrderReturn[];
  /** Every hold placed, oldest first; absent on orders stored before holds existed. */
  holds?: Hold[];
  /** Per-stage deadlines from acceptance (src/domain/sla.ts); absent when no stage is tracked or on orders accepted before SLA clocks existed. */
  sla?: OrderSla;
}

/** One business transition of an order, as GetOrderHistory shows it. */
export interface TimelineEntry {
  orderId: string;
  /** 1, 2, 3, … per order, without gaps. */
  sequence: number;
  /** ISO 8601 time. */
  time: string;
  /** The authenticated principal that caused it, or "system". */
  actor: string;
  /** Null for the first entry. */
  fromStatus: OrderStatus | null;
  toStatus: OrderStatus;
  reason: string;
  /** The order version this transition produced. */
  version: number;
}

export const TERMINAL_ORDER_STATUSES: ReadonlySet<OrderStatus> = new Set([
  "COMPLETED",
  "CANCELLED",
  "FAILED",
]);

export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL_ORDER_STATUSES.has(status);
}
