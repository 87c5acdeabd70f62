import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CancelOrderResponseSchema,
  GetOrderResponseSchema,
  type OrderService,
  SubmitOrderResponseSchema,
} from "../../gen/oms/v1/order_service_pb.js";
import type { OrderCommands } from "../temporal/order-commands.js";
import { orderToProto, submissionFromProto } from "./mapping.js";
import { principalOf } from "./principal.js";

/**
 * oms.v1.OrderService. Requests arrive validated (validation interceptor);
 * errors leave mapped (error interceptor). Handlers only translate and delegate.
 */
export function createOrderServiceHandlers(
  commands: OrderCommands,
): ServiceImpl<typeof OrderService> {
  return {
    async submitOrder(req, ctx) {
      const order = await commands.submit(submissionFromProto(req), principalOf(ctx));
      return create(SubmitOrderResponseSchema, { order: orderToProto(order) });
    },
    async getOrder(req) {
      const order = await commands.get(req.orderId);
      return create(GetOrderResponseSchema, { order: orderToProto(order) });
    },
    async cancelOrder(req, ctx) {
      const order = await commands.cancel(req.orderId, req.reason, principalOf(ctx));
      return create(CancelOrderResponseSchema, { order: orderToProto(order) });
    },
  };
}
