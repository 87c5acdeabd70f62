/**
 * CancelOrderItems end to end (real API, dev server, reference services):
 * during a payments outage, a partial line re-priced and captured at the
 * new total, a whole fulfillment withdrawn with its void, refusals; the
 * payments ledger and the inventory checked after each.
 */
import { Code } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  FulfillmentStatus,
  type Order,
  OrderStatus,
  PaymentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import {
  authorizedAndHeld as heldAfterAuthorization,
  ledgerByFulfillment,
} from "../support/edits.js";
import { errorInfoOf, failure } from "../support/failure.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  finishedOrder,
  recordHistories,
  shipAndDeliverAll,
  waitForOrder,
} from "../support/watch.js";

describe("CancelOrderItems, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());
  afterEach(() => sys?.refs.faults.clear());

  const ledger = (orderId: string) => ledgerByFulfillment(sys, orderId);
  const authorizedAndHeld = () => heldAfterAuthorization(sys);

  it("cancels one unit during a payments outage; the capture takes the re-priced total, once", async () => {
    const { orderId, order } = await authorizedAndHeld();
    sys.refs.faults.set("payments", { outage: true });
    const edited = (
      await sys.grpc.cancelOrderItems({
        orderId,
        items: [{ sku: "SKU-100", quantity: 1 }],
        expectedVersion: order.version,
        reason: "customer kept one",
      })
    ).order as Order;
    // Answered while payments is down: nothing of it needs payments.
    expect(edited.fulfillments.map((f) => f.amounts?.totalMinor)).toEqual([1849n, 10111n]);
    expect(edited.amounts?.totalMinor).toBe(1849n + 10111n);
    expect(sys.refs.inventory.heldBy(orderId)).toEqual(
      expect.arrayContaining([
        { warehouseId: "wh-east", lines: [{ sku: "SKU-100", quantity: 1 }] },
      ]),
    );
    sys.refs.faults.clear("payments");

    await sys.grpc.releaseHold({ orderId, holdId: "hold-1" });
    const done = await shipAndDeliverAll(sys, orderId, 2);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(ledger(orderId)).toEqual({
      [`${orderId}/1`]: ["AUTHORIZE 3199", "CAPTURE 1849"],
      [`${orderId}/2`]: ["AUTHORIZE 10111", "CAPTURE 10111"],
    });
    const history = (await sys.grpc.getOrderHistory({ orderId })).events.map((e) => e.reason);
    expect(history).toContain(`items cancelled: 1 x SKU-100 (${orderId}/1): customer kept one`);
    await recordHistories(sys, orderId, "items-cancelled");
  });

  it("withdraws a fulfillment whose every line is cancelled: voided once, stock back", async () => {
    const { orderId } = await authorizedAndHeld();
    await sys.grpc.cancelOrderItems({ orderId, items: [{ sku: "KEYBOARD-MX", quantity: 1 }] });
    const withdrawn = await waitForOrder(
      sys,
      orderId,
      (o) => o.fulfillments[1]?.status === FulfillmentStatus.CANCELLED,
    );
    expect(withdrawn.fulfillments[1]?.payment?.status).toBe(PaymentStatus.VOIDED);
    expect(sys.refs.inventory.heldBy(orderId).map((p) => p.warehouseId)).toEqual(["wh-east"]);
    await sys.grpc.releaseHold({ orderId, holdId: "hold-1" });
    const east = await waitForOrder(sys, orderId, (o) => !!o.fulfillments[0]?.shipment?.shipmentId);
    const shipmentId = east.fulfillments[0]?.shipment?.shipmentId as string;
    await sys.shipments.reportShipmentEvent({ shipmentId, event: ShipmentEvent.DISPATCHED });
    await sys.shipments.reportShipmentEvent({ shipmentId, event: ShipmentEvent.DELIVERED });
    const done = await finishedOrder(sys, orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(ledger(orderId)).toEqual({
      [`${orderId}/1`]: ["AUTHORIZE 3199", "CAPTURE 3199"],
      [`${orderId}/2`]: ["AUTHORIZE 10111", "VOID 10111"],
    });
  });

  it("refuses booked quantities (naming the fulfillment) and a stale version", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const order = (await waitForOrder(
      sys,
      req.orderId,
      (o) =>
        o.fulfillments.length === 2 &&
        o.fulfillments.every((f) => f.status === FulfillmentStatus.BOOKED),
    )) as Order;
    const booked = await failure(
      sys.grpc.cancelOrderItems({ orderId: req.orderId, items: [{ sku: "SKU-100", quantity: 1 }] }),
    );
    expect(booked.code).toBe(Code.FailedPrecondition);
    expect(errorInfoOf(booked)?.reason).toBe("ITEMS_NOT_CANCELLABLE");
    expect(errorInfoOf(booked)?.metadata.fulfillment_ids).toBe(`${req.orderId}/1`);
    const stale = await failure(
      sys.grpc.cancelOrderItems({
        orderId: req.orderId,
        items: [{ sku: "SKU-100", quantity: 1 }],
        expectedVersion: order.version - 1n,
      }),
    );
    expect(stale.code).toBe(Code.Aborted);
    const invalid = await failure(sys.grpc.cancelOrderItems({ orderId: req.orderId, items: [] }));
    expect(invalid.code).toBe(Code.InvalidArgument);
    await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "done" });
    await finishedOrder(sys, req.orderId);
  });
});
