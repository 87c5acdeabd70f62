/**
 * Holds end to end: the real API over a socket, the order workflow on the
 * dev server, the reference services. PlaceHold / ReleaseHold, the gate while
 * authorizations are in flight, ListOrders' hold filters, a deadline that
 * cancels, the automatic FRAUD_REVIEW over the spending limit, and the
 * payments ledger after each (exactly once).
 */
import { randomUUID } from "node:crypto";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { HoldExpiryAction, HoldStatus, HoldType } from "../../gen/oms/v1/order_operations_pb.js";
import {
  FulfillmentStatus,
  OrderStatus,
  PaymentStatus,
  ShipmentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { ledgerByFulfillment } from "../chaos/observe.js";
import { failure } from "../support/failure.js";
import { orderRequest, twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  bookedShipments,
  finishedOrder,
  recordHistories,
  shipAndDeliverAll,
  waitForOrder,
} from "../support/watch.js";

const reasonOf = (err: ConnectError) => err.findDetails(ErrorInfoSchema)[0]?.reason;

describe("holds, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      refs: { payments: { spendingLimits: { "limited-customer": 10_000n } } },
      // A PAYMENT_REVIEW not released within 2 s cancels the order (the
      // default is 48 h; the virtual-time tests cover the defaults).
      env: {
        OMS_HOLD_PAYMENT_REVIEW_TIMEOUT_MS: "2000",
        OMS_HOLD_PAYMENT_REVIEW_ON_EXPIRY: "cancel",
      },
    });
  });
  afterAll(() => sys?.stop());
  afterEach(() => sys?.refs.faults.clear());

  /** The activity types the order's workflow has scheduled so far. */
  const scheduled = async (orderId: string) => {
    const history = await sys.temporal.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory();
    return (history.events ?? []).flatMap((e) =>
      e.activityTaskScheduledEventAttributes?.activityType?.name
        ? [e.activityTaskScheduledEventAttributes.activityType.name]
        : [],
    );
  };

  it("holds an order, lists it by hold, and lets it go on once released", async () => {
    const customerId = `held-${randomUUID()}`;
    const req = twoWarehouses(customerId);
    await sys.grpc.submitOrder(req);
    const placed = await sys.grpc.placeHold({
      orderId: req.orderId,
      type: HoldType.MANUAL,
      reason: "check the invoice",
    });
    expect(placed.hold).toMatchObject({
      holdId: "hold-1",
      type: HoldType.MANUAL,
      status: HoldStatus.ACTIVE,
      reason: "check the invoice",
      expiryAction: HoldExpiryAction.RELEASE,
    });
    expect(placed.order?.holds.map((h) => h.holdId)).toEqual(["hold-1"]);

    // Reserved and split, then stopped: nothing authorized.
    const waiting = await waitForOrder(sys, req.orderId, (o) => o.fulfillments.length === 2);
    expect(waiting.holds[0]?.status).toBe(HoldStatus.ACTIVE);
    const listed = async (filter: { onHold?: boolean; holdTypes?: HoldType[] }) =>
      (await sys.grpc.listOrders({ customerId, ...filter })).orders.map((o) => o.orderId);
    expect(await listed({ onHold: true })).toEqual([req.orderId]);
    expect(await listed({ holdTypes: [HoldType.MANUAL, HoldType.FRAUD_REVIEW] })).toEqual([
      req.orderId,
    ]);
    expect(await listed({ holdTypes: [HoldType.FRAUD_REVIEW] })).toEqual([]);
    // A later Update runs after every earlier workflow task: nothing was authorized meanwhile.
    await sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.CUSTOMER_REQUEST });
    expect(await scheduled(req.orderId)).toEqual(["reserveInventory"]);
    expect(sys.refs.payments.ledger({ orderId: req.orderId })).toEqual([]);

    await sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-1", reason: "fine" });
    await sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-2", reason: "fine" });
    expect(await listed({ onHold: true })).toEqual([]);
    const done = await shipAndDeliverAll(sys, req.orderId, 2);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.holds.map((h) => [h.holdId, h.status, h.releasedBy !== ""])).toEqual([
      ["hold-1", HoldStatus.RELEASED, true],
      ["hold-2", HoldStatus.RELEASED, true],
    ]);
    expect(Object.values(ledgerByFulfillment(sys, req.orderId))).toEqual([
      ["AUTHORIZE", "CAPTURE"],
      ["AUTHORIZE", "CAPTURE"],
    ]);
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^MANUAL hold hold-1 placed: check the invoice \(deadline .*, then release\)$/,
        ),
        "MANUAL hold hold-1 released: fine",
        "CUSTOMER_REQUEST hold hold-2 released: fine",
      ]),
    );
    await recordHistories(sys, req.orderId, "hold-released");
  });

  it("a hold placed while authorizations are in flight stops the bookings", async () => {
    sys.refs.faults.set("payments", { addedLatencyMs: 1_000 });
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
    await sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.MANUAL, reason: "race" });
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.payment?.status === PaymentStatus.AUTHORIZED),
    );
    await sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.MANUAL });
    expect((await scheduled(req.orderId)).filter((t) => t === "bookShipment")).toEqual([]);
    sys.refs.faults.clear("payments");

    await sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-1" });
    await sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-2" });
    await bookedShipments(sys, req.orderId, 2);
    await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "done" });
    const done = await finishedOrder(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(Object.values(ledgerByFulfillment(sys, req.orderId))).toEqual([
      ["AUTHORIZE", "VOID"],
      ["AUTHORIZE", "VOID"],
    ]);
  });

  it("a PAYMENT_REVIEW hold not released by its deadline cancels the order, with compensation", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    await sys.grpc.placeHold({
      orderId: req.orderId,
      type: HoldType.PAYMENT_REVIEW,
      reason: "amount unusual",
    });
    const done = await finishedOrder(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.CANCELLED);
    expect(done.holds[0]?.status).toBe(HoldStatus.EXPIRED);
    expect(done.cancellation?.description).toBe(
      "the PAYMENT_REVIEW hold was not released by its deadline",
    );
    // Whether the authorization happened before the hold or not, nothing is left held.
    for (const ops of Object.values(ledgerByFulfillment(sys, req.orderId))) {
      expect(ops).toEqual(["AUTHORIZE", "VOID"]);
    }
    expect(sys.refs.inventory.heldBy(req.orderId)).toEqual([]);
    await recordHistories(sys, req.orderId, "hold-expired-cancel");
  });

  it("over the spending limit: FRAUD_REVIEW instead of failing; released, it authorizes once more", async () => {
    const req = twoWarehouses("limited-customer");
    await sys.grpc.submitOrder(req);
    const held = await waitForOrder(sys, req.orderId, (o) =>
      o.holds.some((h) => h.type === HoldType.FRAUD_REVIEW),
    );
    expect(held.holds[0]).toMatchObject({
      holdId: "hold-1",
      placedBy: "system",
      status: HoldStatus.ACTIVE,
      expiryAction: HoldExpiryAction.CANCEL,
    });
    expect(held.holds[0]?.reason).toMatch(/spending limit/);
    expect(held.status).toBe(OrderStatus.PROCESSING);

    await sys.grpc.releaseHold({
      orderId: req.orderId,
      holdId: "hold-1",
      reason: "customer verified by phone",
    });
    const done = await shipAndDeliverAll(sys, req.orderId, 2);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.fulfillments.every((f) => f.status === FulfillmentStatus.DELIVERED)).toBe(true);
    expect(done.fulfillments.every((f) => f.shipment?.status === ShipmentStatus.DELIVERED)).toBe(
      true,
    );
    // One decline, then one approval under the review's own key; each capture once.
    const ledger = sys.refs.payments.ledger({ orderId: req.orderId });
    expect(Object.values(ledgerByFulfillment(sys, req.orderId)).sort()).toEqual([
      ["AUTHORIZE", "CAPTURE"],
      ["AUTHORIZE", "CAPTURE", "DECLINE"],
    ]);
    expect(ledger.filter((e) => e.idempotencyKey.endsWith(":authorize:hold-1"))).toHaveLength(1);
    await recordHistories(sys, req.orderId, "fraud-review-released");
  });

  it("refuses what cannot apply, with reasons", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const unknown = await failure(sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-7" }));
    expect(unknown.code).toBe(Code.NotFound);
    expect(reasonOf(unknown)).toBe("HOLD_NOT_FOUND");
    const untyped = await failure(sys.grpc.placeHold({ orderId: req.orderId }));
    expect(untyped.code).toBe(Code.InvalidArgument);
    const missing = await failure(
      sys.grpc.placeHold({ orderId: `order-${randomUUID()}`, type: HoldType.MANUAL }),
    );
    expect(missing.code).toBe(Code.NotFound);

    await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "done" });
    await finishedOrder(sys, req.orderId);
    const ended = await failure(
      sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.MANUAL }),
    );
    expect(ended.code).toBe(Code.FailedPrecondition);
    expect(reasonOf(ended)).toBe("ORDER_NOT_HOLDABLE");
  });
});
