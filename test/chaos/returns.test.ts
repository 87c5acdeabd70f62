/**
 * Returns end to end on the real services: a completed two-warehouse order,
 * a return from request to refund while the payment service loses every
 * refund response for a while (one refund per key in its ledger), a partial
 * second return of the same fulfillment, a return cancelled before it was
 * shipped (its label cancelled), and what cannot be returned.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Order, OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import type { OrderReturn } from "../../gen/oms/v1/returns_pb.js";
import { ReturnStatus } from "../../gen/oms/v1/returns_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { courierWithReference, recordHistories, waitForOrder } from "../support/watch.js";
import { lastFailureOf, waitForActivityAttempt } from "./observe.js";

const returnOf = (order: Order, id: string) =>
  order.returns.find((r) => r.returnId === id) as OrderReturn;

describe("returns and refunds", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(async () => {
    await sys?.stop();
  });

  /** A completed order: SKU-100 x2 from wh-east, KEYBOARD-MX x1 from wh-west. */
  async function delivered(): Promise<Order> {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const booked = await waitForOrder(
      sys,
      req.orderId,
      (o) => o.fulfillments.length === 2 && o.fulfillments.every((f) => f.shipment?.shipmentId),
    );
    await courierWithReference(sys, booked, ShipmentEvent.DISPATCHED);
    await courierWithReference(sys, booked, ShipmentEvent.DELIVERED);
    return waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.COMPLETED);
  }

  /** The courier of a return label: picks the parcel up, or brings it to the warehouse. */
  async function returnCourier(order: Order, returnId: string, event: ShipmentEvent) {
    const label = returnOf(order, returnId).label;
    return sys.shipments.reportShipmentEvent({
      shipmentId: label?.shipmentId ?? "",
      fulfillmentId: returnId,
      event,
    });
  }

  it("takes a return from request to refund exactly once while refund responses are lost", {
    timeout: 90_000,
  }, async () => {
    const order = await delivered();
    const orderId = order.orderId;
    const east = order.fulfillments.find((f) => f.warehouseId === "wh-east");
    const captured = Number(east?.payment?.capturedMinor);
    const stockBefore = sys.refs.inventory.available("wh-east", "SKU-100");
    const workflowId = orderWorkflowId(orderId);
    const orderRun = sys.temporal.workflow.getHandle(
      workflowId,
      (await sys.temporal.workflow.getHandle(workflowId).describe()).runId,
    );
    await orderRun.result();

    const requested = await sys.grpc.requestReturn({
      orderId,
      items: [{ sku: "SKU-100", quantity: 1 }],
      reason: "too small",
    });
    expect(requested.returnIds).toEqual([`${orderId}/r1`]);
    const r1 = returnOf(requested.order as Order, `${orderId}/r1`);
    expect(r1.status).toBe(ReturnStatus.REQUESTED);
    expect(r1.fulfillmentId).toBe(east?.fulfillmentId);
    // 1 x 1250 and its 8% tax share; shipping is not refunded.
    expect(Number(r1.refundMinor)).toBe(1350);

    const booked = await waitForOrder(
      sys,
      orderId,
      (o) => returnOf(o, r1.returnId).status === ReturnStatus.LABEL_BOOKED,
    );
    expect(returnOf(booked, r1.returnId).label?.shipmentId).toMatch(/^shp_/);
    await returnCourier(booked, r1.returnId, ShipmentEvent.DISPATCHED);

    // The parcel arrives while every refund response is lost: the refund is
    // made and retried with the same key until a response gets through.
    sys.refs.faults.set("payments", { loseResponseRate: 1 });
    const received = await returnCourier(booked, r1.returnId, ShipmentEvent.DELIVERED);
    expect(received.status).toBeDefined();
    const [refund] = await waitForActivityAttempt(sys, orderWorkflowId(orderId), "refundReturn", 3);
    expect(lastFailureOf(refund as never)).toMatch(/response was lost/);
    sys.refs.faults.clear("payments");

    const refunded = await waitForOrder(
      sys,
      orderId,
      (o) => returnOf(o, r1.returnId).status === ReturnStatus.REFUNDED,
    );
    expect(Number(returnOf(refunded, r1.returnId).refundedMinor)).toBe(1350);
    const eastAfter = refunded.fulfillments.find((f) => f.warehouseId === "wh-east");
    expect(Number(eastAfter?.payment?.refundedMinor)).toBe(1350);
    expect(eastAfter?.payment?.status).toBe(PaymentStatus.CAPTURED);
    expect(refunded.status).toBe(OrderStatus.COMPLETED);

    // The ledger: one refund, under the return's key, however often it was sent.
    const refunds = sys.refs.payments.ledger({ orderId }).filter((e) => e.operation === "REFUND");
    expect(refunds.map((e) => [e.idempotencyKey, Number(e.amountMinor)])).toEqual([
      [`${r1.returnId}:refund`, 1350],
    ]);
    // Restocked once.
    expect(sys.refs.inventory.available("wh-east", "SKU-100")).toBe(stockBefore + 1);

    // The timeline tells the return's story.
    const { events } = await sys.grpc.getOrderHistory({ orderId });
    expect(events.map((e) => e.reason).filter((r) => r.startsWith("return "))).toEqual([
      `return ${r1.returnId} requested: 1 x SKU-100 (too small)`,
      `return ${r1.returnId}: label booked (shipment ${returnOf(booked, r1.returnId).label?.shipmentId})`,
      `return ${r1.returnId}: in transit`,
      `return ${r1.returnId}: received at wh-east`,
      `return ${r1.returnId}: refunded 1350 and restocked`,
    ]);

    // The order's own run ended at COMPLETED without waiting for returns
    // (no timer of its own: an order that is never returned pays nothing for
    // them; its only timers are the SLA clocks' and the authorization
    // renewals' of the waits for dispatch, each cancelled when its stage was
    // met); the return ran as a run of its own under the order's workflow id.
    const returnsRun = sys.temporal.workflow.getHandle(workflowId);
    await returnsRun.result();
    const orderEvents = (await orderRun.fetchHistory()).events ?? [];
    const returnEvents = (await returnsRun.fetchHistory()).events ?? [];
    const timers = (type: "timerStartedEventAttributes" | "timerCanceledEventAttributes") =>
      orderEvents.filter((e) => e[type]).length;
    expect(timers("timerStartedEventAttributes")).toBe(timers("timerCanceledEventAttributes"));
    expect(orderEvents.some((e) => e.timerFiredEventAttributes)).toBe(false);
    expect(orderEvents.at(-1)?.workflowExecutionCompletedEventAttributes).toBeTruthy();
    expect(returnEvents[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).toBe(
      "orderReturnsWorkflow",
    );
    console.info(
      `history events: order run ${orderEvents.length}, returns run (request → refund, lost refund responses) ${returnEvents.length}`,
    );
    await recordHistories(sys, orderId, "return-refunded-lost-responses");

    // The second unit: a new returns run; the refunds add up to at most what was captured.
    const second = await sys.grpc.requestReturn({
      orderId,
      items: [{ sku: "SKU-100", quantity: 1 }],
    });
    expect(second.returnIds).toEqual([`${orderId}/r2`]);
    const booked2 = await waitForOrder(
      sys,
      orderId,
      (o) => returnOf(o, `${orderId}/r2`).status === ReturnStatus.LABEL_BOOKED,
    );
    await returnCourier(booked2, `${orderId}/r2`, ShipmentEvent.DISPATCHED);
    await returnCourier(booked2, `${orderId}/r2`, ShipmentEvent.DELIVERED);
    const done = await waitForOrder(
      sys,
      orderId,
      (o) => returnOf(o, `${orderId}/r2`).status === ReturnStatus.REFUNDED,
    );
    const total = sys.refs.payments
      .ledger({ orderId })
      .filter((e) => e.operation === "REFUND")
      .reduce((sum, e) => sum + Number(e.amountMinor), 0);
    expect(total).toBe(2700);
    expect(total).toBeLessThanOrEqual(captured);
    expect(
      Number(done.fulfillments.find((f) => f.warehouseId === "wh-east")?.payment?.refundedMinor),
    ).toBe(2700);

    // Nothing of SKU-100 is left to return.
    const more = await sys.grpc
      .requestReturn({ orderId, items: [{ sku: "SKU-100", quantity: 1 }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect(more).toBeInstanceOf(ConnectError);
    expect((more as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((more as ConnectError).rawMessage).toMatch(/cannot be returned/);
  });

  it("cancels a return before it is shipped, and its label with it", {
    timeout: 60_000,
  }, async () => {
    const order = await delivered();
    const orderId = order.orderId;
    const { returnIds } = await sys.grpc.requestReturn({
      orderId,
      items: [{ sku: "KEYBOARD-MX", quantity: 1 }],
    });
    const id = returnIds[0] as string;
    const booked = await waitForOrder(
      sys,
      orderId,
      (o) => returnOf(o, id).status === ReturnStatus.LABEL_BOOKED,
    );
    const { order: cancelled } = await sys.grpc.cancelReturn({ orderId, returnId: id });
    expect(returnOf(cancelled as Order, id).status).toBe(ReturnStatus.CANCELLED);
    const shipmentId = returnOf(booked, id).label?.shipmentId ?? "";
    expect(sys.refs.shipping.get(shipmentId)?.status).toBe("CANCELLED");
    await recordHistories(sys, orderId, "return-cancelled");
    // Again: the cancelled return, from the stored order once the returns run has ended.
    const again = await sys.grpc.cancelReturn({ orderId, returnId: id });
    expect(returnOf(again.order as Order, id).status).toBe(ReturnStatus.CANCELLED);
    // Nothing was refunded.
    expect(sys.refs.payments.ledger({ orderId }).some((e) => e.operation === "REFUND")).toBe(false);

    const unknown = await sys.grpc
      .cancelReturn({ orderId, returnId: `${orderId}/r9` })
      .catch((e: unknown) => ConnectError.from(e));
    expect((unknown as ConnectError).code).toBe(Code.NotFound);
  });

  it("refuses returns of an order that has not completed, or of what was not delivered", async () => {
    const order = await delivered();
    const notDelivered = await sys.grpc
      .requestReturn({ orderId: order.orderId, items: [{ sku: "SKU-2", quantity: 1 }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect((notDelivered as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((notDelivered as ConnectError).rawMessage).toMatch(/was not delivered/);
    // Still processing: nothing delivered yet.
    const pending = twoWarehouses();
    await sys.grpc.submitOrder(pending);
    const early = await sys.grpc
      .requestReturn({ orderId: pending.orderId, items: [{ sku: "SKU-100", quantity: 1 }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect((early as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((early as ConnectError).rawMessage).toMatch(/only completed orders take returns/);
    const missing = await sys.grpc
      .requestReturn({ orderId: "no-such-order", items: [{ sku: "SKU-2", quantity: 1 }] })
      .catch((e: unknown) => ConnectError.from(e));
    expect((missing as ConnectError).code).toBe(Code.NotFound);
  });
});
