import { randomBytes, randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { createServiceError } from "../errors.js";
import { openReferenceState, type ReferenceState } from "../state.js";

const DOMAIN = "shipping.v1.ShippingService";

/** Where a shipment is in its life (see shipping.v1.ShipmentStatus). */
export type ShipmentStatus = "BOOKED" | "DISPATCHED" | "DELIVERED" | "CANCELLED";

/** A postal address (see shipping.v1.Address). */
export interface ShippingAddress {
  name: string;
  line1: string;
  line2: string;
  city: string;
  region: string;
  postalCode: string;
  countryCode: string;
}

/** What to book. */
export interface BookShipmentInput {
  orderId: string;
  fulfillmentId: string;
  warehouseId: string;
  address: ShippingAddress;
  items: { sku: string; quantity: number }[];
}

/** A courier booking. */
export interface ShipmentRecord extends BookShipmentInput {
  shipmentId: string;
  courierReference: string;
  status: ShipmentStatus;
  bookTime: Date;
  dispatchTime?: Date;
  deliveryTime?: Date;
  cancelTime?: Date;
}

/**
 * The state of the reference shipping service, kept in a
 * {@link ReferenceState}, one transaction per method. Methods return
 * snapshots that later changes don't alter. `dispatch` and `deliver` are the
 * courier's side: the simulated courier calls them, and tests can too.
 */
export interface ShippingStore {
  /** Books a courier; the shipment starts BOOKED. */
  book(input: BookShipmentInput): ShipmentRecord;
  /**
   * Cancels a BOOKED shipment; a CANCELLED one is returned unchanged. Throws
   * FAILED_PRECONDITION (ALREADY_DISPATCHED) once dispatched, NOT_FOUND if unknown.
   */
  cancel(shipmentId: string): ShipmentRecord;
  /** The courier picked it up: BOOKED -> DISPATCHED; FAILED_PRECONDITION otherwise. */
  dispatch(shipmentId: string): ShipmentRecord;
  /** The courier delivered it: DISPATCHED -> DELIVERED; FAILED_PRECONDITION otherwise. */
  deliver(shipmentId: string): ShipmentRecord;
  /** One shipment, or undefined. */
  get(shipmentId: string): ShipmentRecord | undefined;
  /** Shipments in booking order, of one order if given. */
  list(filter?: { orderId?: string }): ShipmentRecord[];
}

/** Options of {@link createShippingStore}. */
export interface ShippingStoreOptions {
  /** Clock; `new Date()` by default. */
  now?: () => Date;
  /** Where shipments are kept; a fresh in-memory state by default. */
  state?: ReferenceState;
}

/** Creates the shipping state, or opens what `options.state` holds. */
export function createShippingStore(options: ShippingStoreOptions = {}): ShippingStore {
  const now = options.now ?? (() => new Date());
  const state = options.state ?? openReferenceState();
  const shipments = state.map<ShipmentRecord>("shipping_shipments");

  const snapshot = (s: ShipmentRecord): ShipmentRecord => ({
    ...s,
    address: { ...s.address },
    items: s.items.map((i) => ({ ...i })),
  });
  const find = (shipmentId: string): ShipmentRecord => {
    const shipment = shipments.get(shipmentId);
    if (shipment === undefined) {
      throw createServiceError(
        Code.NotFound,
        DOMAIN,
        "SHIPMENT_NOT_FOUND",
        `shipment "${shipmentId}" does not exist`,
        { shipment_id: shipmentId },
      );
    }
    return shipment;
  };
  const transition = (
    shipmentId: string,
    from: ShipmentStatus,
    to: ShipmentStatus,
  ): ShipmentRecord => {
    const shipment = find(shipmentId);
    if (shipment.status !== from) {
      throw createServiceError(
        Code.FailedPrecondition,
        DOMAIN,
        "INVALID_SHIPMENT_TRANSITION",
        `shipment "${shipmentId}" is ${shipment.status}, not ${from}; it cannot become ${to}`,
        { shipment_id: shipmentId, status: shipment.status },
      );
    }
    shipment.status = to;
    return shipment;
  };

  return state.transactional({
    book(input) {
      const shipment: ShipmentRecord = {
        ...input,
        address: { ...input.address },
        items: input.items.map((i) => ({ ...i })),
        shipmentId: `shp_${randomUUID()}`,
        courierReference: `CR${randomBytes(5).toString("hex").toUpperCase()}`,
        status: "BOOKED",
        bookTime: now(),
      };
      shipments.set(shipment.shipmentId, shipment);
      return snapshot(shipment);
    },
    cancel(shipmentId) {
      const shipment = find(shipmentId);
      if (shipment.status === "CANCELLED") {
        // Idempotent by state, so compensation retried under a new key still succeeds.
        return snapshot(shipment);
      }
      if (shipment.status !== "BOOKED") {
        throw createServiceError(
          Code.FailedPrecondition,
          DOMAIN,
          "ALREADY_DISPATCHED",
          `shipment "${shipmentId}" is ${shipment.status}: the courier has it, it can no longer be cancelled`,
          { shipment_id: shipmentId, status: shipment.status },
        );
      }
      shipment.status = "CANCELLED";
      shipment.cancelTime = now();
      return snapshot(shipment);
    },
    dispatch(shipmentId) {
      const shipment = transition(shipmentId, "BOOKED", "DISPATCHED");
      shipment.dispatchTime = now();
      return snapshot(shipment);
    },
    deliver(shipmentId) {
      const shipment = transition(shipmentId, "DISPATCHED", "DELIVERED");
      shipment.deliveryTime = now();
      return snapshot(shipment);
    },
    get(shipmentId) {
      const shipment = shipments.get(shipmentId);
      return shipment && snapshot(shipment);
    },
    list(filter = {}) {
      return [...shipments.values()]
        .filter((s) => !filter.orderId || s.orderId === filter.orderId)
        .map(snapshot);
    },
  });
}
