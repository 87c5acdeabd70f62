/**
 * Order events as the contract carries them (oms.v1.OrderChangeEvent), for
 * StreamOrderEvents and the NATS JetStream publisher alike.
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type OrderChangeEvent as OrderChangeEventMsg,
  OrderChangeEventSchema,
  OrderChangeType,
} from "../../gen/oms/v1/order_events_pb.js";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { orderToProto } from "../api/mapping.js";
import { type OrderChangeEvent, orderEventId } from "../domain/order-events.js";

/** The cursor of an event: its position in decimal. Opaque to callers. */
export function cursorOf(position: number): string {
  return String(position);
}

/**
 * The position a cursor stands for: "" is 0 (from the start). Null for a
 * cursor that is not one (the proto's rules already allow only digits).
 */
export function positionOfCursor(cursor: string): number | null {
  if (cursor === "") return 0;
  const position = Number(cursor);
  return /^[0-9]+$/.test(cursor) && Number.isSafeInteger(position) ? position : null;
}

export function orderChangeEventToProto(event: OrderChangeEvent): OrderChangeEventMsg {
  return create(OrderChangeEventSchema, {
    cursor: cursorOf(event.position),
    orderId: event.orderId,
    sequence: BigInt(event.sequence),
    type: OrderChangeType[event.type],
    time: timestampFromDate(new Date(event.time)),
    order: orderToProto(event.order),
    previousStatus:
      event.previousStatus === null ? OrderStatus.UNSPECIFIED : OrderStatus[event.previousStatus],
    reasons: event.reasons,
    eventId: orderEventId(event.orderId, event.sequence),
  });
}
