import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  BookShipmentRequestSchema,
  CancelShipmentRequestSchema,
  type ShipmentSchema,
  ShipmentStatus,
  type ShippingService,
} from "../../../gen/shipping/v1/shipping_service_pb.js";
import { createServiceError } from "../errors.js";
import { createIdempotencyStore, requestFingerprint } from "../idempotency.js";
import { stateOf } from "../state.js";
import type { ShipmentRecord, ShippingStore } from "./shipping-store.js";
import type { SimulatedCourier } from "./simulated-courier.js";

/** Options of {@link createShippingService}. */
export interface ShippingServiceOptions {
  /** The bookings the handlers work on. */
  store: ShippingStore;
  /** When given, every new booking is handed to it to be picked up and delivered. */
  courier?: SimulatedCourier;
}

/**
 * Handlers of `shipping.v1.ShippingService` over a {@link ShippingStore}.
 * BookShipment and CancelShipment are deduplicated by idempotency key, so a
 * retried booking never books a second courier.
 */
export function createShippingService(
  options: ShippingServiceOptions,
): ServiceImpl<typeof ShippingService> {
  const { store, courier } = options;
  const idempotency = createIdempotencyStore("shipping.v1.ShippingService", stateOf(store));
  return {
    bookShipment(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("BookShipment", BookShipmentRequestSchema, request),
        () => {
          const address = request.address;
          const shipment = store.book({
            orderId: request.orderId,
            fulfillmentId: request.fulfillmentId,
            warehouseId: request.warehouseId,
            address: {
              name: address?.name ?? "",
              line1: address?.line1 ?? "",
              line2: address?.line2 ?? "",
              city: address?.city ?? "",
              region: address?.region ?? "",
              postalCode: address?.postalCode ?? "",
              countryCode: address?.countryCode ?? "",
            },
            items: request.items.map(({ sku, quantity }) => ({ sku, quantity })),
          });
          courier?.schedule(shipment.shipmentId);
          return {
            shipmentId: shipment.shipmentId,
            courierReference: shipment.courierReference,
            shipment: toShipment(shipment),
          };
        },
      );
    },
    cancelShipment(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("CancelShipment", CancelShipmentRequestSchema, request),
        () => ({ shipment: toShipment(store.cancel(request.shipmentId)) }),
      );
    },
    getShipment(request) {
      const shipment = store.get(request.shipmentId);
      if (shipment === undefined) {
        throw createServiceError(
          Code.NotFound,
          "shipping.v1.ShippingService",
          "SHIPMENT_NOT_FOUND",
          `shipment "${request.shipmentId}" does not exist`,
          { shipment_id: request.shipmentId },
        );
      }
      return { shipment: toShipment(shipment) };
    },
  };
}

const STATUS: Record<ShipmentRecord["status"], ShipmentStatus> = {
  BOOKED: ShipmentStatus.BOOKED,
  DISPATCHED: ShipmentStatus.DISPATCHED,
  DELIVERED: ShipmentStatus.DELIVERED,
  CANCELLED: ShipmentStatus.CANCELLED,
};

function toShipment(s: ShipmentRecord): MessageInitShape<typeof ShipmentSchema> {
  return {
    shipmentId: s.shipmentId,
    courierReference: s.courierReference,
    orderId: s.orderId,
    fulfillmentId: s.fulfillmentId,
    warehouseId: s.warehouseId,
    address: s.address,
    items: s.items,
    status: STATUS[s.status],
    bookTime: timestampFromDate(s.bookTime),
    dispatchTime: s.dispatchTime && timestampFromDate(s.dispatchTime),
    deliveryTime: s.deliveryTime && timestampFromDate(s.deliveryTime),
    cancelTime: s.cancelTime && timestampFromDate(s.cancelTime),
  };
}
