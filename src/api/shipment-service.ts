import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ShipmentStatus } from "../../gen/oms/v1/order_pb.js";
import {
  ReportShipmentEventResponseSchema,
  ShipmentEvent,
  type ShipmentService,
} from "../../gen/oms/v1/shipment_service_pb.js";
import type { OrderCommands } from "../temporal/order-commands.js";
import { principalOf } from "./principal.js";

/** oms.v1.ShipmentService: courier integrations report what happened to a shipment. */
export function createShipmentServiceHandlers(
  commands: OrderCommands,
): ServiceImpl<typeof ShipmentService> {
  return {
    async reportShipmentEvent(req, ctx) {
      const event = req.event === ShipmentEvent.DELIVERED ? "DELIVERED" : "DISPATCHED";
      const occurredAt = (
        req.occurredAt ? timestampDate(req.occurredAt) : new Date()
      ).toISOString();
      const result = await commands.reportShipmentEvent(
        { shipmentId: req.shipmentId, fulfillmentId: req.fulfillmentId },
        event,
        occurredAt,
        principalOf(ctx),
        ctx.signal,
      );
      return create(ReportShipmentEventResponseSchema, {
        orderId: result.orderId,
        fulfillmentId: result.fulfillmentId,
        status: ShipmentStatus[result.status],
      });
    },
  };
}
