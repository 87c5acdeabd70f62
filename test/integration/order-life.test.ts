/**
 * Every path of an order's life (docs/spec.md section 5) through the real API,
 * worker, Temporal dev server, reference services and read model. The tests
 * play the courier themselves through ShipmentService.ReportShipmentEvent.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  CancellationReason,
  FulfillmentStatus,
  type Order,
  OrderStatus,
  PaymentStatus,
  ShipmentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { Resolution } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { shipmentEventUpdateId } from "../../src/temporal/order-commands.js";
import { failure } from "../support/failure.js";
import { orderRequest, twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, finishedOrder, recordHistories, waitForOrder } from "../support/watch.js";

describe("the order's life", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      // "limited-" customers may spend 10,000 minor units: one of two fulfillments fits.
      refs: { payments: { spendingLimits: { "limited-customer": 10_000n } } },
      // The decline path as such; holds.test.ts has the fraud review instead.
      env: { OMS_HOLD_FRAUD_REVIEW_ON_SPENDING_LIMIT: "false" },
    });
  });
  afterAll(() => sys?.stop());

  const report = (shipmentId: string, event: ShipmentEvent) =>
    sys.shipments.reportShipmentEvent({ shipmentId, event });
  const finished = (orderId: string) => finishedOrder(sys, orderId);

  it("completes a two-warehouse order: authorize, book, dispatch (capture), deliver", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, req.orderId, 2);
    const booked = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(booked.status).toBe(OrderStatus.PROCESSING);
    expect(booked.fulfillments.map((f) => f.warehouseId).sort()).toEqual(["wh-east", "wh-west"]);
    expect(booked.fulfillments.every((f) => f.payment?.status === PaymentStatus.AUTHORIZED)).toBe(
      true,
    );

    for (const id of shipments) await report(id, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    for (const id of shipments) await report(id, ShipmentEvent.DELIVERED);

    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    for (const f of done.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.DELIVERED);
      expect(f.payment?.status).toBe(PaymentStatus.CAPTURED);
      expect(f.payment?.capturedMinor).toBe(f.amounts?.totalMinor);
      expect(f.shipment?.status).toBe(ShipmentStatus.DELIVERED);
      expect(f.shipment?.dispatchTime).toBeDefined();
    }
    // Invoices: east 2500 + 8% tax 200 + 499 shipping; west 8900 + 712 + 499.
    const totals = done.fulfillments
      .map((f) => Number(f.amounts?.totalMinor))
      .sort((a, b) => a - b);
    expect(totals).toEqual([3199, 10111]);
    expect(done.amounts?.totalMinor).toBe(3199n + 10111n);
    // Exactly one authorization and one capture per fulfillment.
    const ledger = sys.refs.payments.ledger().filter((e) => e.orderId === req.orderId);
    expect(ledger.map((e) => e.operation).sort()).toEqual([
      "AUTHORIZE",
      "AUTHORIZE",
      "CAPTURE",
      "CAPTURE",
    ]);
    // The timeline tells the story.
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => OrderStatus[e.toStatus])).toEqual([
      "PENDING",
      "PROCESSING",
      // Each shipment's dispatch and delivery, as the courier reported them.
      ...Array(4).fill("PROCESSING"),
      "COMPLETED",
    ]);
    expect(history.map((e) => e.sequence)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    // The courier reported without credentials (authentication is off here).
    expect(history.filter((e) => e.reason.startsWith("shipment ")).map((e) => e.actor)).toEqual(
      Array(4).fill("anonymous"),
    );
    await recordHistories(sys, req.orderId, "completed-two-warehouses");
  });

  it("proceeds without unavailable items when the customer says so", async () => {
    const req = orderRequest({
      items: [
        { sku: "SKU-200", quantity: 1, unitPriceMinor: 1000n },
        { sku: "OOS-1", quantity: 3, unitPriceMinor: 500n },
      ],
    });
    await sys.grpc.submitOrder(req);
    const waiting = await waitForOrder(
      sys,
      req.orderId,
      (o) => o.status === OrderStatus.CUSTOMER_ACTION_REQUIRED,
    );
    expect(waiting.unavailableItems.map((i) => [i.sku, i.quantity])).toEqual([["OOS-1", 3]]);

    const resolved = (
      await sys.grpc.resolveUnavailableItems({
        orderId: req.orderId,
        resolution: Resolution.PROCEED_WITHOUT_UNAVAILABLE,
      })
    ).order as Order;
    expect(resolved.status).toBe(OrderStatus.PROCESSING);
    expect(resolved.fulfillments.flatMap((f) => f.items.map((i) => i.sku))).toEqual(["SKU-200"]);
    expect(resolved.amounts?.subtotalMinor).toBe(1000n);

    // A second answer is refused: the order no longer waits for one.
    const again = await failure(
      sys.grpc.resolveUnavailableItems({
        orderId: req.orderId,
        resolution: Resolution.CANCEL_ORDER,
      }),
    );
    expect(again.code).toBe(Code.FailedPrecondition);

    const [shipment] = await bookedShipments(sys, req.orderId, 1);
    await report(shipment as string, ShipmentEvent.DISPATCHED);
    await report(shipment as string, ShipmentEvent.DELIVERED);
    expect((await finished(req.orderId)).status).toBe(OrderStatus.COMPLETED);
    await recordHistories(sys, req.orderId, "proceed-without-unavailable");
  });

  it("cancels at the customer's decision and releases the stock", async () => {
    const stockBefore = sys.refs.inventory.available("wh-west", "KEYBOARD-MX");
    const req = orderRequest({
      items: [
        { sku: "KEYBOARD-MX", quantity: 1, unitPriceMinor: 8900n },
        { sku: "OOS-2", quantity: 1, unitPriceMinor: 500n },
      ],
    });
    await sys.grpc.submitOrder(req);
    await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.CUSTOMER_ACTION_REQUIRED);
    expect(sys.refs.inventory.available("wh-west", "KEYBOARD-MX")).toBe(stockBefore - 1);
    await sys.grpc.resolveUnavailableItems({
      orderId: req.orderId,
      resolution: Resolution.CANCEL_ORDER,
    });
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.cancellation?.reason).toBe(CancellationReason.CUSTOMER);
    expect(sys.refs.inventory.available("wh-west", "KEYBOARD-MX")).toBe(stockBefore);
    // Resolving a cancelled order is refused.
    const err = await failure(
      sys.grpc.resolveUnavailableItems({
        orderId: req.orderId,
        resolution: Resolution.PROCEED_WITHOUT_UNAVAILABLE,
      }),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("ORDER_NOT_AWAITING_ACTION");
    await recordHistories(sys, req.orderId, "cancel-at-decision");
  });

  it("cancels an order nothing of which is in stock", async () => {
    const req = orderRequest({ items: [{ sku: "OOS-3", quantity: 1, unitPriceMinor: 100n }] });
    await sys.grpc.submitOrder(req);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.cancellation?.reason).toBe(CancellationReason.OUT_OF_STOCK);
    expect(done.unavailableItems.map((i) => i.sku)).toEqual(["OOS-3"]);
    await recordHistories(sys, req.orderId, "nothing-available");
  });

  it("fails an order with an unknown SKU, with a clear reason", async () => {
    const req = orderRequest({ items: [{ sku: "BAD-1", quantity: 1, unitPriceMinor: 100n }] });
    await sys.grpc.submitOrder(req);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.FAILED);
    expect(done.statusReason).toMatch(/BAD-1/);
  });

  it("fails one of two fulfillments when its payment is declined; the other goes on", async () => {
    const req = twoWarehouses("limited-customer");
    await sys.grpc.submitOrder(req);
    const settled = await waitForOrder(
      sys,
      req.orderId,
      (o) =>
        o.fulfillments.length === 2 &&
        o.fulfillments.some((f) => f.status === FulfillmentStatus.FAILED) &&
        o.fulfillments.some((f) => f.shipment?.shipmentId),
    );
    const failed = settled.fulfillments.find((f) => f.status === FulfillmentStatus.FAILED);
    const going = settled.fulfillments.find((f) => f.status !== FulfillmentStatus.FAILED);
    expect(failed?.payment?.status).toBe(PaymentStatus.DECLINED);
    expect(failed?.statusReason).toMatch(/declined/);
    await report(going?.shipment?.shipmentId as string, ShipmentEvent.DISPATCHED);
    await report(going?.shipment?.shipmentId as string, ShipmentEvent.DELIVERED);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    await recordHistories(sys, req.orderId, "one-payment-declined");
  });

  it("fails the order when every payment is declined", async () => {
    const req = twoWarehouses("declined-customer");
    await sys.grpc.submitOrder(req);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.FAILED);
    expect(done.fulfillments.every((f) => f.payment?.status === PaymentStatus.DECLINED)).toBe(true);
  });

  it("cancels after booking: voids the authorization, cancels the booking, releases the stock", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    await bookedShipments(sys, req.orderId, 2);
    const cancelled = (
      await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "changed my mind" })
    ).order;
    expect(cancelled?.cancellation?.description).toBe("changed my mind");
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    for (const f of done.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.CANCELLED);
      expect(f.payment?.status).toBe(PaymentStatus.VOIDED);
      expect(f.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    }
    const ops = sys.refs.payments
      .ledger()
      .filter((e) => e.orderId === req.orderId)
      .map((e) => e.operation);
    expect(ops.sort()).toEqual(["AUTHORIZE", "AUTHORIZE", "VOID", "VOID"]);
    await recordHistories(sys, req.orderId, "cancel-after-booking");
  });

  it("cancels before booking while the courier service is slow", async () => {
    sys.refs.faults.set("shipping", { addedLatencyMs: 1_500 });
    try {
      const req = orderRequest();
      await sys.grpc.submitOrder(req);
      await waitForOrder(
        sys,
        req.orderId,
        (o) => o.fulfillments[0]?.status === FulfillmentStatus.AUTHORIZED,
      );
      await sys.grpc.cancelOrder({ orderId: req.orderId });
      const done = await finished(req.orderId);
      expect(done.status).toBe(OrderStatus.CANCELLED);
      expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.VOIDED);
      await recordHistories(sys, req.orderId, "cancel-before-booking");
    } finally {
      sys.refs.faults.clear("shipping");
    }
  });

  it("cancels what is not dispatched and lets the dispatched fulfillment finish", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const [first, second] = await bookedShipments(sys, req.orderId, 2);
    await report(first as string, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.some((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "partial" });
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.some((f) => f.status === FulfillmentStatus.CANCELLED),
    );
    // The cancelled shipment can no longer be dispatched.
    const late = await failure(report(second as string, ShipmentEvent.DISPATCHED));
    expect(late.code).toBe(Code.FailedPrecondition);
    await report(first as string, ShipmentEvent.DELIVERED);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.cancellation?.description).toBe("partial");
    expect(done.fulfillments.map((f) => FulfillmentStatus[f.status]).sort()).toEqual([
      "CANCELLED",
      "DELIVERED",
    ]);
    await recordHistories(sys, req.orderId, "cancel-partial");
  });

  it("refuses a cancellation once everything is dispatched", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, req.orderId, 2);
    for (const id of shipments) await report(id, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    const err = await failure(sys.grpc.cancelOrder({ orderId: req.orderId }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("ORDER_NOT_CANCELLABLE");
    for (const id of shipments) await report(id, ShipmentEvent.DELIVERED);
    expect((await finished(req.orderId)).status).toBe(OrderStatus.COMPLETED);
  });

  it("accepts duplicate courier events and refuses out-of-order ones", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const [shipment] = (await bookedShipments(sys, req.orderId, 1)) as [string];
    const early = await failure(report(shipment, ShipmentEvent.DELIVERED));
    expect(early.code).toBe(Code.FailedPrecondition);
    expect(early.findDetails(ErrorInfoSchema)[0]?.reason).toBe("SHIPMENT_EVENT_OUT_OF_ORDER");

    const first = await report(shipment, ShipmentEvent.DISPATCHED);
    expect(first.status).toBe(ShipmentStatus.DISPATCHED);
    const repeat = await report(shipment, ShipmentEvent.DISPATCHED);
    expect(repeat.status).toBe(ShipmentStatus.DISPATCHED);
    // The repeat joined the first report's Update: one in the order's history, not two.
    const history = await sys.temporal.workflow
      .getHandle(orderWorkflowId(req.orderId))
      .fetchHistory();
    const accepted = (history.events ?? []).filter(
      (e) =>
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.meta?.updateId ===
        shipmentEventUpdateId(shipment, "DISPATCHED"),
    );
    expect(accepted).toHaveLength(1);
    await report(shipment, ShipmentEvent.DELIVERED);
    const done = await finished(req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    // A completed order has nothing left to cancel.
    const cancel = await failure(sys.grpc.cancelOrder({ orderId: req.orderId }));
    expect(cancel.code).toBe(Code.FailedPrecondition);
    expect(cancel.findDetails(ErrorInfoSchema)[0]?.reason).toBe("ORDER_NOT_CANCELLABLE");
    // After the order has ended, repeats are still fine; a repeat gets the
    // answer its first report got (the status once that event was applied).
    expect((await report(shipment, ShipmentEvent.DELIVERED)).status).toBe(ShipmentStatus.DELIVERED);
    expect((await report(shipment, ShipmentEvent.DISPATCHED)).status).toBe(
      ShipmentStatus.DISPATCHED,
    );
    // Exactly one capture despite the repeated DISPATCHED.
    const captures = sys.refs.payments
      .ledger()
      .filter((e) => e.orderId === req.orderId && e.operation === "CAPTURE");
    expect(captures).toHaveLength(1);

    const unknown = await failure(report("no-such-shipment", ShipmentEvent.DISPATCHED));
    expect(unknown.code).toBe(Code.NotFound);
    await recordHistories(sys, req.orderId, "courier-duplicates");
  });

  it("streams every version of an order through its whole life with WatchOrder", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const versions: bigint[] = [];
    const statuses: OrderStatus[] = [];
    const watching = (async () => {
      for await (const res of sys.grpc.watchOrder({ orderId: req.orderId })) {
        versions.push(res.order?.version ?? 0n);
        statuses.push(res.order?.status ?? OrderStatus.UNSPECIFIED);
      }
    })();
    const [shipment] = (await bookedShipments(sys, req.orderId, 1)) as [string];
    await report(shipment, ShipmentEvent.DISPATCHED);
    await report(shipment, ShipmentEvent.DELIVERED);
    await watching; // ends by itself after the terminal version
    const last = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(last.status).toBe(OrderStatus.COMPLETED);
    // Every version from the first seen to the last, each once, in order.
    const first = Number(versions[0]);
    expect(versions.map(Number)).toEqual(
      Array.from({ length: Number(last.version) - first + 1 }, (_, i) => first + i),
    );
    expect(statuses.at(-1)).toBe(OrderStatus.COMPLETED);

    // Resuming after a dropped stream: exactly the versions after since_version.
    const resumed: bigint[] = [];
    for await (const res of sys.grpc.watchOrder({ orderId: req.orderId, sinceVersion: 2n })) {
      resumed.push(res.order?.version ?? 0n);
    }
    expect(resumed.map(Number)).toEqual(
      Array.from({ length: Number(last.version) - 2 }, (_, i) => 3 + i),
    );

    // Resuming at (or past) the terminal version ends at once, with nothing to send.
    for (const sinceVersion of [last.version, last.version + 5n]) {
      const after: bigint[] = [];
      for await (const res of sys.grpc.watchOrder({ orderId: req.orderId, sinceVersion })) {
        after.push(res.order?.version ?? 0n);
      }
      expect(after).toEqual([]);
    }
  });

  it("answers reads from the read model while no worker runs", async () => {
    const req = orderRequest();
    await sys.stopWorker();
    try {
      const submitted = (await sys.grpc.submitOrder(req)).order;
      const got = (await sys.grpc.getOrder({ orderId: req.orderId })).order;
      expect(got?.version).toBe(submitted?.version);
      expect(got?.status).toBe(OrderStatus.PENDING);
      const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
      expect(history).toHaveLength(1);
    } finally {
      await sys.startWorker();
    }
    // The accepted order is processed once a worker is back.
    await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
  });

  it("GetOrderHistory answers NOT_FOUND for an unknown order", async () => {
    const err = await failure(sys.grpc.getOrderHistory({ orderId: "nope-history" }));
    expect(err.code).toBe(Code.NotFound);
  });
});

describe("the customer's decision timing out", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ env: { OMS_CUSTOMER_ACTION_TIMEOUT_MS: "1500" } });
  });
  afterAll(() => sys?.stop());

  it("cancels the order for ACTION_TIMEOUT and releases the stock", async () => {
    const req = orderRequest({
      items: [
        { sku: "SKU-300", quantity: 1, unitPriceMinor: 1000n },
        { sku: "OOS-4", quantity: 1, unitPriceMinor: 1000n },
      ],
    });
    await sys.grpc.submitOrder(req);
    const done = await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.CANCELLED);
    expect(done.cancellation?.reason).toBe(CancellationReason.ACTION_TIMEOUT);
    expect(done.cancellation?.requestedBy).toBe("system");
    await sys.temporal.workflow.getHandle(orderWorkflowId(req.orderId)).result();
    await recordHistories(sys, req.orderId, "decision-timeout");
  });
});
