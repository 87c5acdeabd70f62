import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { StreamOrderEventsResponseSchema } from "../../gen/oms/v1/order_events_pb.js";
import {
  CancelOrderItemsResponseSchema,
  CancelOrderResponseSchema,
  GetOrderHistoryResponseSchema,
  GetOrderResponseSchema,
  ListOrdersResponseSchema,
  type OrderService,
  PlaceHoldResponseSchema,
  ReleaseHoldResponseSchema,
  Resolution,
  ResolveUnavailableItemsResponseSchema,
  SubmitOrderResponseSchema,
  UpdateOrderItemsResponseSchema,
  UpdateShippingAddressResponseSchema,
  WatchOrderResponseSchema,
} from "../../gen/oms/v1/order_service_pb.js";
import {
  CancelReturnResponseSchema,
  RequestReturnResponseSchema,
} from "../../gen/oms/v1/return_requests_pb.js";
import { InvalidFieldError, OrderNotFoundError } from "../domain/errors.js";
import { orderChangeEventToProto, positionOfCursor } from "../events/order-event-proto.js";
import { type OrderStore, ReadModelArgumentError } from "../readmodel/store.js";
import type { OrderCommands } from "../temporal/order-commands.js";
import type { ReturnCommands } from "../temporal/return-commands.js";
import { afterAnswerOf } from "./after-answer.js";
import {
  addressFromProto,
  orderStatusesFromProto,
  orderToProto,
  submissionFromProto,
  timelineEntryToProto,
} from "./mapping.js";
import { holdToProto, holdTypeFromProto, holdTypesFromProto } from "./operations-mapping.js";
import { principalOf } from "./principal.js";
import { slaFilterFromProto } from "./sla-mapping.js";
import type { createOrderEventStreamer } from "./stream-order-events.js";
import type { createOrderWatcher } from "./watch-order.js";

export interface OrderServiceDependencies {
  commands: OrderCommands;
  store: OrderStore;
  watch: ReturnType<typeof createOrderWatcher>;
  streamEvents: ReturnType<typeof createOrderEventStreamer>;
  returns: ReturnCommands;
}

/**
 * oms.v1.OrderService. Requests arrive validated (validation interceptor);
 * errors leave mapped (error interceptor). Writes go to the workflows, reads
 * to the read model; handlers only translate and delegate.
 */
export function createOrderServiceHandlers(
  deps: OrderServiceDependencies,
): ServiceImpl<typeof OrderService> {
  const { commands, store } = deps;
  return {
    async submitOrder(req, ctx) {
      const order = await commands.submit(
        submissionFromProto(req),
        principalOf(ctx),
        ctx.signal,
        afterAnswerOf(ctx),
      );
      return create(SubmitOrderResponseSchema, { order: orderToProto(order) });
    },

    async getOrder(req) {
      const order = await store.getOrder(req.orderId);
      if (order === null) throw new OrderNotFoundError(req.orderId);
      return create(GetOrderResponseSchema, { order: orderToProto(order) });
    },

    async cancelOrder(req, ctx) {
      const order = await commands.cancel(req.orderId, req.reason, principalOf(ctx), ctx.signal);
      return create(CancelOrderResponseSchema, { order: orderToProto(order) });
    },

    async resolveUnavailableItems(req, ctx) {
      const resolution =
        req.resolution === Resolution.CANCEL_ORDER ? "CANCEL_ORDER" : "PROCEED_WITHOUT_UNAVAILABLE";
      const order = await commands.resolveUnavailableItems(
        req.orderId,
        resolution,
        principalOf(ctx),
        ctx.signal,
      );
      return create(ResolveUnavailableItemsResponseSchema, { order: orderToProto(order) });
    },

    async listOrders(req) {
      try {
        const page = await store.listOrders({
          customerId: req.customerId || undefined,
          statuses: orderStatusesFromProto(req.statuses),
          pageSize: req.pageSize,
          pageToken: req.pageToken || undefined,
          holdTypes: holdTypesFromProto(req.holdTypes),
          onHold: req.onHold,
          sla: slaFilterFromProto(req.slaState),
        });
        return create(ListOrdersResponseSchema, {
          orders: page.orders.map(orderToProto),
          nextPageToken: page.nextPageToken,
        });
      } catch (err) {
        if (err instanceof ReadModelArgumentError)
          throw new InvalidFieldError(err.field, err.message);
        throw err;
      }
    },

    async *watchOrder(req, ctx) {
      for await (const order of deps.watch(req.orderId, Number(req.sinceVersion), ctx.signal)) {
        yield create(WatchOrderResponseSchema, { order: orderToProto(order) });
      }
    },

    async getOrderHistory(req) {
      const events = await store.getHistory(req.orderId);
      if (events.length === 0 && (await store.getOrder(req.orderId)) === null) {
        throw new OrderNotFoundError(req.orderId);
      }
      return create(GetOrderHistoryResponseSchema, { events: events.map(timelineEntryToProto) });
    },

    async requestReturn(req, ctx) {
      const { order, returnIds } = await deps.returns.requestReturn(
        req.orderId,
        req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
        req.reason,
        principalOf(ctx),
        ctx.signal,
      );
      return create(RequestReturnResponseSchema, { order: orderToProto(order), returnIds });
    },

    async cancelReturn(req, ctx) {
      const order = await deps.returns.cancelReturn(
        req.orderId,
        req.returnId,
        principalOf(ctx),
        ctx.signal,
      );
      return create(CancelReturnResponseSchema, { order: orderToProto(order) });
    },

    async *streamOrderEvents(req, ctx) {
      const after = positionOfCursor(req.afterCursor);
      if (after === null) {
        throw new InvalidFieldError("after_cursor", "not a cursor this service handed out");
      }
      for await (const event of deps.streamEvents(after, req.orderId, ctx.signal)) {
        yield create(StreamOrderEventsResponseSchema, { event: orderChangeEventToProto(event) });
      }
    },

    // Order operations

    async placeHold(req, ctx) {
      const { order, hold } = await commands.placeHold(
        req.orderId,
        holdTypeFromProto(req.type),
        req.reason,
        principalOf(ctx),
        ctx.signal,
      );
      return create(PlaceHoldResponseSchema, {
        order: orderToProto(order),
        hold: holdToProto(hold),
      });
    },

    async releaseHold(req, ctx) {
      const order = await commands.releaseHold(
        req.orderId,
        req.holdId,
        req.reason,
        principalOf(ctx),
        ctx.signal,
      );
      return create(ReleaseHoldResponseSchema, { order: orderToProto(order) });
    },

    async updateShippingAddress(req, ctx) {
      const order = await commands.updateShippingAddress(
        req.orderId,
        {
          address: addressFromProto(req.shippingAddress),
          expectedVersion: Number(req.expectedVersion),
          reason: req.reason,
        },
        principalOf(ctx),
        ctx.signal,
      );
      return create(UpdateShippingAddressResponseSchema, { order: orderToProto(order) });
    },

    async cancelOrderItems(req, ctx) {
      const order = await commands.cancelOrderItems(
        req.orderId,
        {
          items: req.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
          expectedVersion: Number(req.expectedVersion),
          reason: req.reason,
        },
        principalOf(ctx),
        ctx.signal,
      );
      return create(CancelOrderItemsResponseSchema, { order: orderToProto(order) });
    },

    async updateOrderItems(req, ctx) {
      const order = await commands.updateOrderItems(
        req.orderId,
        {
          lines: req.lines.map((l) => ({
            sku: l.sku,
            quantity: l.quantity,
            unitPriceMinor: Number(l.unitPriceMinor),
          })),
          expectedVersion: Number(req.expectedVersion),
          reason: req.reason,
        },
        principalOf(ctx),
        ctx.signal,
      );
      return create(UpdateOrderItemsResponseSchema, { order: orderToProto(order) });
    },
  };
}
