/**
 * Downstream faults on the real reference services (docs/spec.md section 8,
 * reliability): an inventory outage delays an order but never fails it, and
 * payment responses lost after the work was done never charge twice. Retries
 * are observed through the workflows' pending activities, never slept for.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  FulfillmentStatus,
  type Order,
  OrderStatus,
  PaymentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { fulfillmentId, orderWorkflowId } from "../../src/domain/ids.js";
import { orderRequest, twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  bookedShipments,
  courier,
  finishedOrder as finished,
  recordHistories,
  waitForOrder,
} from "../support/watch.js";
import {
  lastFailureOf,
  ledgerByFulfillment,
  type PendingActivity,
  waitForActivityAttempt,
} from "./observe.js";

describe("downstream faults", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterEach(() => sys?.refs.faults.clear());
  afterAll(() => sys?.stop());

  it("waits out an inventory outage and then completes the order", async () => {
    sys.refs.faults.set("inventory", { outage: true });
    const req = orderRequest();

    // The caller is not told about the outage: the order is accepted.
    const submitted = (await sys.grpc.submitOrder(req)).order as Order;
    expect(submitted.status).toBe(OrderStatus.PENDING);

    // Reserve has failed twice and is waiting for its third attempt.
    const [reserve] = await waitForActivityAttempt(
      sys,
      orderWorkflowId(req.orderId),
      "reserveInventory",
      3,
    );
    expect(lastFailureOf(reserve as PendingActivity)).toMatch(/injected outage/);
    // Still pending, nothing reserved, nothing charged.
    expect((await sys.grpc.getOrder({ orderId: req.orderId })).order?.status).toBe(
      OrderStatus.PENDING,
    );
    expect(sys.refs.inventory.heldBy(req.orderId)).toEqual([]);
    expect(sys.refs.payments.ledger({ orderId: req.orderId })).toEqual([]);

    sys.refs.faults.clear("inventory");
    await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
    const shipments = await bookedShipments(sys, req.orderId, 1);
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);

    const done = await finished(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.fulfillments.map((f) => FulfillmentStatus[f.status])).toEqual(["DELIVERED"]);
    expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.CAPTURED);
    // Reserved exactly once: the failed attempts took nothing.
    expect(sys.refs.inventory.heldBy(req.orderId)).toEqual([
      {
        warehouseId: "wh-east",
        lines: [
          { sku: "SKU-1", quantity: 2 },
          { sku: "SKU-2", quantity: 1 },
        ],
      },
    ]);
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual({
      [fulfillmentId(req.orderId, 1)]: ["AUTHORIZE", "CAPTURE"],
    });
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => OrderStatus[e.toStatus])).toEqual([
      "PENDING",
      "PROCESSING",
      // The shipment's dispatch and delivery, as the courier reported them.
      ...Array(2).fill("PROCESSING"),
      "COMPLETED",
    ]);
    await recordHistories(sys, req.orderId, "chaos-inventory-outage");
  });

  it("authorizes and captures once each when payment responses are lost", async () => {
    const req = twoWarehouses();
    const fulfillments = [fulfillmentId(req.orderId, 1), fulfillmentId(req.orderId, 2)];
    const workflowId = orderWorkflowId(req.orderId);
    const onePerFulfillment = (ops: string[]) =>
      Object.fromEntries(fulfillments.map((id) => [id, ops]));

    // Authorization: the payment service authorizes, the response is lost, the
    // retry is deduplicated (and its response lost too).
    sys.refs.faults.set("payments", { loseResponseRate: 1 });
    await sys.grpc.submitOrder(req);
    for (const authorize of await waitForActivityAttempt(
      sys,
      workflowId,
      "authorizePayment",
      3,
      2,
    )) {
      expect(lastFailureOf(authorize)).toMatch(/response was lost/);
    }
    // Two calls per fulfillment so far, one authorization each.
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(onePerFulfillment(["AUTHORIZE"]));
    sys.refs.faults.clear("payments");
    const shipments = await bookedShipments(sys, req.orderId, 2);

    // Capture on dispatch: same again.
    sys.refs.faults.set("payments", { loseResponseRate: 1 });
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    for (const capture of await waitForActivityAttempt(sys, workflowId, "capturePayment", 3, 2)) {
      expect(lastFailureOf(capture)).toMatch(/response was lost/);
    }
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(
      onePerFulfillment(["AUTHORIZE", "CAPTURE"]),
    );
    // Dispatched (nothing is cancellable any more), but the capture is not confirmed yet.
    const waiting = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(waiting.fulfillments.map((f) => FulfillmentStatus[f.status])).toEqual([
      "DISPATCHED",
      "DISPATCHED",
    ]);
    expect(waiting.fulfillments.map((f) => PaymentStatus[f.payment?.status ?? 0])).toEqual([
      "AUTHORIZED",
      "AUTHORIZED",
    ]);
    sys.refs.faults.clear("payments");
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.payment?.status === PaymentStatus.CAPTURED),
    );
    await courier(sys, shipments, ShipmentEvent.DELIVERED);

    const done = await finished(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    for (const f of done.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.DELIVERED);
      expect(f.payment?.status).toBe(PaymentStatus.CAPTURED);
      expect(f.payment?.capturedMinor).toBe(f.amounts?.totalMinor);
    }
    const ledger = sys.refs.payments.ledger({ orderId: req.orderId });
    expect(ledger).toHaveLength(4);
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(
      onePerFulfillment(["AUTHORIZE", "CAPTURE"]),
    );
    // Each authorization captured for exactly what was authorized.
    for (const id of fulfillments) {
      const [auth, capture] = ledger
        .filter((e) => e.fulfillmentId === id)
        .sort((a, b) => a.operation.localeCompare(b.operation));
      expect(capture?.authorizationId).toBe(auth?.authorizationId);
      expect(capture?.amountMinor).toBe(auth?.amountMinor);
    }
    await recordHistories(sys, req.orderId, "chaos-payments-lost-responses");
  });
  it("refuses a cancellation once dispatched, even while the capture is still retrying", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const [shipment] = (await bookedShipments(sys, req.orderId, 1)) as [string];
    sys.refs.faults.set("payments", { outage: true });
    await sys.shipments.reportShipmentEvent({
      shipmentId: shipment,
      event: ShipmentEvent.DISPATCHED,
    });
    await waitForActivityAttempt(sys, orderWorkflowId(req.orderId), "capturePayment", 2);
    // The read model already says DISPATCHED, and the order refuses to be cancelled.
    const now = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(now.fulfillments[0]?.status).toBe(FulfillmentStatus.DISPATCHED);
    expect(now.fulfillments[0]?.payment?.status).toBe(PaymentStatus.AUTHORIZED);
    const refused = await sys.grpc.cancelOrder({ orderId: req.orderId }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeDefined();
    sys.refs.faults.clear("payments");
    await waitForOrder(
      sys,
      req.orderId,
      (o) => o.fulfillments[0]?.payment?.status === PaymentStatus.CAPTURED,
    );
    await sys.shipments.reportShipmentEvent({
      shipmentId: shipment,
      event: ShipmentEvent.DELIVERED,
    });
    const done = await finished(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.cancellation).toBeUndefined();
  });
});
