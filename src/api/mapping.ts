/**
 * Protobuf messages ↔ domain data. Proto types stay in src/api; everything
 * behind it works on the plain domain types.
 */
import { create } from "@bufbuild/protobuf";
import { type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type {
  Address as AddressMsg,
  LineItem as LineItemMsg,
  Order as OrderMsg,
} from "../../gen/oms/v1/order_pb.js";
import {
  AddressSchema,
  AmountsSchema,
  CancellationReason,
  CancellationSchema,
  FulfillmentSchema,
  FulfillmentStatus,
  LineItemSchema,
  OrderSchema,
  OrderStatus,
  PaymentSchema,
  PaymentStatus,
  ShipmentSchema,
  ShipmentStatus,
} from "../../gen/oms/v1/order_pb.js";
import {
  type OrderEvent,
  OrderEventSchema,
  type SubmitOrderRequest,
} from "../../gen/oms/v1/order_service_pb.js";
import {
  type OrderReturn as OrderReturnMsg,
  OrderReturnSchema,
  ReturnLabelSchema,
  ReturnLineSchema,
  ReturnStatus,
} from "../../gen/oms/v1/returns_pb.js";
import type * as domain from "../domain/order.js";
import type { OrderReturn } from "../domain/returns.js";
import { holdToProto } from "./operations-mapping.js";
import { slaToProto } from "./sla-mapping.js";

export function submissionFromProto(req: SubmitOrderRequest): domain.OrderSubmission {
  return {
    orderId: req.orderId,
    customerId: req.customerId,
    currencyCode: req.currencyCode,
    items: req.items.map(lineItemFromProto),
    shippingAddress: addressFromProto(req.shippingAddress),
  };
}

function lineItemFromProto(item: LineItemMsg): domain.LineItem {
  // Validation bounds unit_price_minor to 10^9, so the conversion is exact.
  return { sku: item.sku, quantity: item.quantity, unitPriceMinor: Number(item.unitPriceMinor) };
}

/** The request's address; validation guarantees it is present. */
export function addressFromProto(a: AddressMsg | undefined): domain.Address {
  if (a === undefined) throw new Error("address missing after validation");
  return {
    name: a.name,
    line1: a.line1,
    line2: a.line2,
    city: a.city,
    region: a.region,
    postalCode: a.postalCode,
    countryCode: a.countryCode,
  };
}

export function orderToProto(order: domain.Order): OrderMsg {
  return create(OrderSchema, {
    orderId: order.orderId,
    customerId: order.customerId,
    status: OrderStatus[order.status],
    currencyCode: order.currencyCode,
    items: order.items.map(lineItemToProto),
    shippingAddress: create(AddressSchema, order.shippingAddress),
    unavailableItems: order.unavailableItems.map(lineItemToProto),
    fulfillments: order.fulfillments.map((f) =>
      create(FulfillmentSchema, {
        fulfillmentId: f.fulfillmentId,
        warehouseId: f.warehouseId,
        status: FulfillmentStatus[f.status],
        items: f.items.map(lineItemToProto),
        amounts: amountsToProto(f.amounts),
        payment: create(PaymentSchema, {
          status: PaymentStatus[f.payment.status],
          authorizationId: f.payment.authorizationId,
          authorizedMinor: BigInt(f.payment.authorizedMinor),
          capturedMinor: BigInt(f.payment.capturedMinor),
          refundedMinor: BigInt(f.payment.refundedMinor),
          declineReason: f.payment.declineReason,
        }),
        shipment: create(ShipmentSchema, {
          shipmentId: f.shipment.shipmentId,
          status: ShipmentStatus[f.shipment.status],
          courierReference: f.shipment.courierReference,
          dispatchTime: timestamp(f.shipment.dispatchTime),
          deliveryTime: timestamp(f.shipment.deliveryTime),
        }),
        statusReason: f.statusReason,
      }),
    ),
    amounts: amountsToProto(order.amounts),
    cancellation:
      order.cancellation === null
        ? undefined
        : create(CancellationSchema, {
            reason: CancellationReason[order.cancellation.reason],
            description: order.cancellation.description,
            requestedBy: order.cancellation.requestedBy,
            requestTime: timestamp(order.cancellation.requestTime),
          }),
    statusReason: order.statusReason,
    version: BigInt(order.version),
    createTime: timestamp(order.createTime),
    updateTime: timestamp(order.updateTime),
    returns: (order.returns ?? []).map(returnToProto),
    holds: (order.holds ?? []).map(holdToProto),
    sla: slaToProto(order.sla),
  });
}

function returnToProto(r: OrderReturn): OrderReturnMsg {
  return create(OrderReturnSchema, {
    returnId: r.returnId,
    status: ReturnStatus[r.status],
    fulfillmentId: r.fulfillmentId,
    warehouseId: r.warehouseId,
    lines: r.lines.map((l) =>
      create(ReturnLineSchema, {
        sku: l.sku,
        quantity: l.quantity,
        unitPriceMinor: BigInt(l.unitPriceMinor),
      }),
    ),
    reason: r.reason,
    requestedBy: r.requestedBy,
    requestTime: timestamp(r.requestTime),
    shipByTime: timestamp(r.shipByTime),
    label: create(ReturnLabelSchema, {
      shipmentId: r.label.shipmentId,
      courierReference: r.label.courierReference,
      dispatchTime: timestamp(r.label.dispatchTime),
      deliveryTime: timestamp(r.label.deliveryTime),
    }),
    refundMinor: BigInt(r.refundMinor),
    refundedMinor: BigInt(r.refundedMinor),
    statusReason: r.statusReason,
  });
}

function lineItemToProto(item: domain.LineItem): LineItemMsg {
  return create(LineItemSchema, {
    sku: item.sku,
    quantity: item.quantity,
    unitPriceMinor: BigInt(item.unitPriceMinor),
  });
}

function amountsToProto(a: domain.Amounts) {
  return create(AmountsSchema, {
    subtotalMinor: BigInt(a.subtotalMinor),
    taxMinor: BigInt(a.taxMinor),
    shippingMinor: BigInt(a.shippingMinor),
    totalMinor: BigInt(a.totalMinor),
  });
}

/** Empty string (not yet happened) → unset. */
export function timestamp(iso: string): Timestamp | undefined {
  return iso === "" ? undefined : timestampFromDate(new Date(iso));
}

export function timelineEntryToProto(entry: domain.TimelineEntry): OrderEvent {
  return create(OrderEventSchema, {
    sequence: BigInt(entry.sequence),
    time: timestamp(entry.time),
    actor: entry.actor,
    fromStatus: entry.fromStatus === null ? OrderStatus.UNSPECIFIED : OrderStatus[entry.fromStatus],
    toStatus: OrderStatus[entry.toStatus],
    reason: entry.reason,
    version: BigInt(entry.version),
  });
}

/** Proto statuses (validated: defined, not UNSPECIFIED) → domain statuses; none → undefined (any). */
export function orderStatusesFromProto(
  statuses: readonly OrderStatus[],
): domain.OrderStatus[] | undefined {
  if (statuses.length === 0) return undefined;
  return statuses.map((s) => OrderStatus[s] as domain.OrderStatus);
}
