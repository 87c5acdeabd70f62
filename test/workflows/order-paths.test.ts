/**
 * Every path of an order's life through the order workflow alone, on
 * Temporal's time-skipping test server with mocked activities: the workflow's
 * result, the downstream calls it made (with the arguments their idempotency
 * keys are built from) and the versions it saved. Cancellation and courier
 * events racing the workflow are in cancel-and-courier.test.ts.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthorizeResult } from "../../src/activities/index.js";
import { resolveUnavailableItemsUpdate } from "../../src/workflows/messages.js";
import {
  COURIER,
  DAY_MS,
  DELIVERED_AT,
  DISPATCHED_AT,
  expectConsistentSnapshots,
  fulfillmentIn,
  mockActivities,
  notificationKinds,
  ONE_WAREHOUSE,
  permanent,
  report,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  TWO_WAREHOUSES,
  timeline,
  withOrder,
} from "./harness.js";

describe("the order workflow's paths (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  const declined = (fulfillmentId: string): AuthorizeResult => ({
    approved: false,
    authorizationId: `auth-${fulfillmentId}`,
    declineReason: "insufficient funds",
  });

  it("completes a two-warehouse order: authorize, book, dispatch (capture), deliver", async () => {
    const mocks = mockActivities();
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
      return { result: await handle.result(), orderId: id };
    });
    const [east, west] = [`${orderId}/1`, `${orderId}/2`];

    expect(result.status).toBe("COMPLETED");
    expect(result.statusReason).toBe("2 of 2 fulfillment(s) delivered");
    expect(result.fulfillments.map((f) => [f.fulfillmentId, f.warehouseId, f.status])).toEqual([
      [east, "wh-east", "DELIVERED"],
      [west, "wh-west", "DELIVERED"],
    ]);
    // Invoices: east 2500 + 8% tax 200 + 499 shipping; west 8900 + 712 + 499.
    expect(result.fulfillments.map((f) => f.amounts.totalMinor)).toEqual([3199, 10111]);
    expect(result.amounts.totalMinor).toBe(3199 + 10111);
    for (const f of result.fulfillments) {
      expect(f.payment).toMatchObject({
        status: "CAPTURED",
        authorizationId: `auth-${f.fulfillmentId}`,
        authorizedMinor: f.amounts.totalMinor,
        capturedMinor: f.amounts.totalMinor,
      });
      expect(f.shipment).toEqual({
        shipmentId: `ship-${f.fulfillmentId}`,
        status: "DELIVERED",
        courierReference: `CR-${f.fulfillmentId}`,
        dispatchTime: DISPATCHED_AT,
        deliveryTime: DELIVERED_AT,
      });
    }

    // One call per operation and fulfillment, each with the ids its idempotency key is made of.
    expect(mocks.inputsOf("reserveInventory")).toEqual([{ orderId, items: TWO_WAREHOUSES }]);
    expect(mocks.inputsOf("authorizePayment")).toEqual(
      expect.arrayContaining([
        {
          orderId,
          fulfillmentId: east,
          customerId: "customer-1",
          currencyCode: "USD",
          amountMinor: 3199,
        },
        {
          orderId,
          fulfillmentId: west,
          customerId: "customer-1",
          currencyCode: "USD",
          amountMinor: 10111,
        },
      ]),
    );
    expect(
      mocks.inputsOf("bookShipment").map((b) => [b.orderId, b.fulfillmentId, b.warehouseId]),
    ).toEqual(
      expect.arrayContaining([
        [orderId, east, "wh-east"],
        [orderId, west, "wh-west"],
      ]),
    );
    expect(mocks.inputsOf("capturePayment")).toEqual(
      expect.arrayContaining([
        { fulfillmentId: east, authorizationId: `auth-${east}`, amountMinor: 3199 },
        { fulfillmentId: west, authorizationId: `auth-${west}`, amountMinor: 10111 },
      ]),
    );
    expect(mocks.calls.map((c) => c.name).sort()).toEqual([
      "authorizePayment",
      "authorizePayment",
      "bookShipment",
      "bookShipment",
      "capturePayment",
      "capturePayment",
      "reserveInventory",
    ]);
    expect(mocks.calls.every((c) => c.attempt === 1)).toBe(true);

    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks).sort()).toEqual([
      "ORDER_ACCEPTED",
      "ORDER_COMPLETED",
      "SHIPMENT_DELIVERED",
      "SHIPMENT_DELIVERED",
      "SHIPMENT_DISPATCHED",
      "SHIPMENT_DISPATCHED",
    ]);
    const dispatchedNotes = mocks.snapshots
      .flatMap((s) => s.notifications)
      .filter((n) => n.kind === "SHIPMENT_DISPATCHED");
    expect(dispatchedNotes.map((n) => [n.subject, n.data.courier_reference]).sort()).toEqual([
      [east, `CR-${east}`],
      [west, `CR-${west}`],
    ]);
    const entries = timeline(mocks);
    expect([entries[0], entries[1], entries.at(-1)]).toEqual([
      "PENDING: order accepted",
      "PROCESSING: 2 fulfillment(s)",
      "COMPLETED: 2 of 2 fulfillment(s) delivered",
    ]);
    // Each courier event has its entry, with the reporting courier as the actor.
    const courierEntries = mocks.snapshots
      .flatMap((s) => s.entries)
      .filter((e) => e.reason.startsWith("shipment "));
    expect(courierEntries.map((e) => e.reason).sort()).toEqual([
      `shipment ship-${east} delivered`,
      `shipment ship-${east} dispatched`,
      `shipment ship-${west} delivered`,
      `shipment ship-${west} dispatched`,
    ]);
    expect(courierEntries.every((e) => e.actor === COURIER)).toBe(true);
    expect(entries).toHaveLength(7);
  });

  it("fails an order with an unknown SKU (reserve fails permanently)", async () => {
    const mocks = mockActivities();
    const items = [...ONE_WAREHOUSE, { sku: "BAD-1", quantity: 1, unitPriceMinor: 100 }];
    const result = await withOrder(env, mocks.activities, { items }, (handle) => handle.result());

    expect(result.status).toBe("FAILED");
    expect(result.statusReason).toBe('stock could not be reserved: inventory: unknown sku "BAD-1"');
    expect(result.fulfillments).toEqual([]);
    // Not retried, and nothing to give back.
    expect(mocks.calls.map((c) => [c.name, c.attempt])).toEqual([["reserveInventory", 1]]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual(["ORDER_ACCEPTED", "ORDER_FAILED"]);
  });

  it("cancels (out of stock) an order nothing of which is in stock, and releases", async () => {
    const mocks = mockActivities();
    const items = [
      { sku: "OOS-1", quantity: 2, unitPriceMinor: 500 },
      { sku: "OOS-2", quantity: 1, unitPriceMinor: 700 },
    ];
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { items },
      async (handle, id) => ({ result: await handle.result(), orderId: id }),
    );

    expect(result.status).toBe("CANCELLED");
    expect(result.cancellation).toMatchObject({ reason: "OUT_OF_STOCK", requestedBy: "system" });
    expect(result.unavailableItems).toEqual(items);
    expect(mocks.calls.map((c) => c.name)).toEqual(["reserveInventory", "releaseInventory"]);
    // Everything the order holds, in every warehouse (no warehouse id).
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId }]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual(["ORDER_ACCEPTED", "ORDER_CANCELLED"]);
    expect(timeline(mocks)).toEqual(["PENDING: order accepted", "CANCELLED: out of stock"]);
  });

  const PARTLY_AVAILABLE = [
    { sku: "SKU-200", quantity: 1, unitPriceMinor: 1000 },
    { sku: "OOS-1", quantity: 3, unitPriceMinor: 500 },
  ];

  it("proceeds without the unavailable items when the customer says so", async () => {
    const mocks = mockActivities();
    const { result, resolved, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: PARTLY_AVAILABLE },
      async (handle, id) => {
        const waiting = await mocks.saved((s) => s.order.status === "CUSTOMER_ACTION_REQUIRED");
        expect(waiting.order.unavailableItems).toEqual([PARTLY_AVAILABLE[1]]);
        expect(waiting.notifications.map((n) => n.kind)).toContain("ACTION_REQUIRED");
        const answer = await handle.executeUpdate(resolveUnavailableItemsUpdate, {
          args: [{ resolution: "PROCEED_WITHOUT_UNAVAILABLE", requestedBy: "customer-1" }],
        });
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return { result: await handle.result(), resolved: answer, orderId: id };
      },
    );

    // The answer is the order as the decision left it.
    expect(resolved.status).toBe("PROCESSING");
    expect(resolved.fulfillments.flatMap((f) => f.items)).toEqual([PARTLY_AVAILABLE[0]]);
    expect(result.status).toBe("COMPLETED");
    expect(result.cancellation).toBeNull();
    expect(result.unavailableItems).toEqual([PARTLY_AVAILABLE[1]]);
    expect(result.amounts.subtotalMinor).toBe(1000);
    expect(mocks.inputsOf("authorizePayment")).toEqual([
      expect.objectContaining({ fulfillmentId: `${orderId}/1`, amountMinor: 1000 + 80 + 499 }),
    ]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
    expect(timeline(mocks)).toEqual([
      "PENDING: order accepted",
      "CUSTOMER_ACTION_REQUIRED: unavailable: 3 x OOS-1",
      "CUSTOMER_ACTION_REQUIRED: the customer chose to proceed without the unavailable items",
      "PROCESSING: 1 fulfillment(s)",
      `PROCESSING: shipment ship-${result.orderId}/1 dispatched`,
      `PROCESSING: shipment ship-${result.orderId}/1 delivered`,
      "COMPLETED: 1 of 1 fulfillment(s) delivered",
    ]);
    const note = mocks.snapshots.flatMap((s) => s.entries)[2];
    expect(note?.actor).toBe("customer-1");
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "ACTION_REQUIRED",
      "SHIPMENT_DISPATCHED",
      "SHIPMENT_DELIVERED",
      "ORDER_COMPLETED",
    ]);
  });

  it("cancels and releases when the customer declines the partial order", async () => {
    const mocks = mockActivities();
    const { result, resolved, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: PARTLY_AVAILABLE },
      async (handle, id) => {
        await mocks.saved((s) => s.order.status === "CUSTOMER_ACTION_REQUIRED");
        const answer = await handle.executeUpdate(resolveUnavailableItemsUpdate, {
          args: [{ resolution: "CANCEL_ORDER", requestedBy: "customer-1" }],
        });
        return { result: await handle.result(), resolved: answer, orderId: id };
      },
    );

    expect(resolved.cancellation).toMatchObject({ reason: "CUSTOMER", requestedBy: "customer-1" });
    expect(result.status).toBe("CANCELLED");
    expect(result.statusReason).toBe("cancelled by the customer");
    expect(result.cancellation).toMatchObject({
      reason: "CUSTOMER",
      description: "the customer declined a partial order",
    });
    expect(mocks.calls.map((c) => c.name)).toEqual(["reserveInventory", "releaseInventory"]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId }]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "ACTION_REQUIRED",
      "ORDER_CANCELLED",
    ]);
  });

  it("cancels after the production default of 24 h without a decision, in virtual time", async () => {
    const mocks = mockActivities();
    const wallClock = Date.now();
    const { result, waiting, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: PARTLY_AVAILABLE, customerActionTimeoutMs: DAY_MS },
      async (handle, id) => {
        const saved = await mocks.saved((s) => s.order.status === "CUSTOMER_ACTION_REQUIRED");
        // Awaiting the result lets the test server skip to the timer.
        return { result: await handle.result(), waiting: saved, orderId: id };
      },
    );
    const elapsed = Date.now() - wallClock;

    expect(result.status).toBe("CANCELLED");
    expect(result.statusReason).toBe("cancelled: no decision in time");
    expect(result.cancellation).toMatchObject({
      reason: "ACTION_TIMEOUT",
      description: "no decision on the unavailable items in time",
      requestedBy: "system",
    });
    // A day passed in the workflow's clock, a few seconds at most on the wall's.
    const waited =
      Date.parse(result.cancellation?.requestTime ?? "") - Date.parse(waiting.order.updateTime);
    expect(waited).toBeGreaterThanOrEqual(DAY_MS);
    expect(waited).toBeLessThan(DAY_MS + 60_000);
    expect(elapsed).toBeLessThan(15_000);
    expect(mocks.calls.map((c) => c.name)).toEqual(["reserveInventory", "releaseInventory"]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId }]);
    expectConsistentSnapshots(mocks, result);
    expect(timeline(mocks)).toEqual([
      "PENDING: order accepted",
      "CUSTOMER_ACTION_REQUIRED: unavailable: 3 x OOS-1",
      "CUSTOMER_ACTION_REQUIRED: cancellation requested: no decision on the unavailable items in time",
      "CANCELLED: cancelled: no decision in time",
    ]);
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "ACTION_REQUIRED",
      "ORDER_CANCELLED",
    ]);
  });

  it("fails the fulfillment whose payment is declined and releases its stock; the other completes", async () => {
    const mocks = mockActivities({
      async authorizePayment(input) {
        return input.fulfillmentId.endsWith("/2")
          ? declined(input.fulfillmentId)
          : { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
      },
    });
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await shipAndDeliver(handle, mocks, `${id}/1`);
      return { result: await handle.result(), orderId: id };
    });
    const [east, west] = [`${orderId}/1`, `${orderId}/2`];

    expect(result.status).toBe("COMPLETED");
    expect(result.statusReason).toBe("1 of 2 fulfillment(s) delivered");
    const failed = result.fulfillments.find((f) => f.fulfillmentId === west);
    expect(failed).toMatchObject({
      status: "FAILED",
      statusReason: "payment declined: insufficient funds",
      payment: { status: "DECLINED", declineReason: "insufficient funds" },
      shipment: { status: "PENDING" },
    });
    expect(result.fulfillments.find((f) => f.fulfillmentId === east)?.status).toBe("DELIVERED");
    // The declined one's stock goes back, in its warehouse only; nothing to void or book.
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId, warehouseId: "wh-west" }]);
    expect(mocks.inputsOf("voidPayment")).toEqual([]);
    expect(mocks.inputsOf("bookShipment").map((b) => b.fulfillmentId)).toEqual([east]);
    expect(mocks.inputsOf("capturePayment").map((c) => c.fulfillmentId)).toEqual([east]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "SHIPMENT_DISPATCHED",
      "SHIPMENT_DELIVERED",
      "ORDER_COMPLETED",
    ]);
  });

  it("fails the order when every payment is declined", async () => {
    const mocks = mockActivities({
      async authorizePayment(input) {
        return declined(input.fulfillmentId);
      },
    });
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { customerId: "declined-1" },
      async (handle, id) => ({ result: await handle.result(), orderId: id }),
    );

    expect(result.status).toBe("FAILED");
    expect(result.statusReason).toBe(
      "every fulfillment failed: payment declined: insufficient funds; payment declined: insufficient funds",
    );
    expect(result.fulfillments.map((f) => [f.status, f.payment.status])).toEqual([
      ["FAILED", "DECLINED"],
      ["FAILED", "DECLINED"],
    ]);
    expect(mocks.inputsOf("authorizePayment").map((a) => a.customerId)).toEqual([
      "declined-1",
      "declined-1",
    ]);
    expect(mocks.inputsOf("releaseInventory")).toEqual(
      expect.arrayContaining([
        { orderId, warehouseId: "wh-east" },
        { orderId, warehouseId: "wh-west" },
      ]),
    );
    expect(mocks.calls.map((c) => c.name).sort()).toEqual([
      "authorizePayment",
      "authorizePayment",
      "releaseInventory",
      "releaseInventory",
      "reserveInventory",
    ]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual(["ORDER_ACCEPTED", "ORDER_FAILED"]);
  });

  it("retries a transient authorization failure until it succeeds, with the same arguments", async () => {
    const mocks = mockActivities({
      async authorizePayment(input) {
        const attempts = mocks.calls.filter((c) => c.name === "authorizePayment").length;
        if (attempts <= 2) throw new Error("payments: unavailable");
        return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
      },
    });
    const wallClock = Date.now();
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        // Awaiting the result from the start lets the server skip the retry backoff.
        const done = handle.result();
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return { result: await done, orderId: id };
      },
    );

    expect(result.status).toBe("COMPLETED");
    const authorizations = mocks.calls.filter((c) => c.name === "authorizePayment");
    expect(authorizations.map((c) => c.attempt)).toEqual([1, 2, 3]);
    // Every attempt is the same operation to the payment service (same fulfillment id → same key).
    const [first, ...retries] = authorizations.map((c) => c.input);
    expect(first).toMatchObject({ orderId, fulfillmentId: `${orderId}/1` });
    for (const input of retries) expect(input).toEqual(first);
    expect(result.fulfillments[0]?.payment.status).toBe("CAPTURED");
    // Backoff 0.5 s + 1 s skipped, not waited.
    expect(Date.now() - wallClock).toBeLessThan(10_000);
    expectConsistentSnapshots(mocks, result);
  });

  it("compensates a permanent booking failure: void and release, the other fulfillment completes", async () => {
    const mocks = mockActivities({
      async bookShipment(input) {
        if (input.warehouseId === "wh-west") {
          throw permanent("DOWNSTREAM_INVALID_ARGUMENT", "shipping: address not serviceable");
        }
        return {
          shipmentId: `ship-${input.fulfillmentId}`,
          courierReference: `CR-${input.fulfillmentId}`,
        };
      },
    });
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await shipAndDeliver(handle, mocks, `${id}/1`);
      return { result: await handle.result(), orderId: id };
    });
    const west = `${orderId}/2`;

    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments.find((f) => f.fulfillmentId === west)).toMatchObject({
      status: "FAILED",
      statusReason: "shipping: address not serviceable",
      payment: { status: "VOIDED", authorizationId: `auth-${west}` },
      shipment: { status: "PENDING", shipmentId: "" },
    });
    expect(mocks.calls.filter((c) => c.name === "bookShipment").map((c) => c.attempt)).toEqual([
      1, 1,
    ]);
    expect(mocks.inputsOf("voidPayment")).toEqual([
      { fulfillmentId: west, authorizationId: `auth-${west}` },
    ]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId, warehouseId: "wh-west" }]);
    // Never booked, so no booking to cancel.
    expect(mocks.inputsOf("cancelShipment")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
  });

  it("compensates a permanent capture failure after dispatch: the fulfillment fails", async () => {
    const mocks = mockActivities({
      async capturePayment() {
        throw permanent("DOWNSTREAM_FAILED_PRECONDITION", "payments: authorization expired");
      },
    });
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        await mocks.saved((s) => fulfillmentIn(s, `${id}/1`)?.shipment.status === "BOOKED");
        // Dispatch is recorded before the capture, so the courier's report is answered.
        expect((await report(handle, `${id}/1`, "DISPATCHED")).status).toBe("DISPATCHED");
        return { result: await handle.result(), orderId: id };
      },
    );
    const f = `${orderId}/1`;

    expect(result.status).toBe("FAILED");
    expect(result.fulfillments[0]).toMatchObject({
      status: "FAILED",
      statusReason: "payments: authorization expired",
      payment: { status: "VOIDED", capturedMinor: 0 },
      // The parcel is with the courier: nothing cancels the shipment.
      shipment: { status: "DISPATCHED", dispatchTime: DISPATCHED_AT },
    });
    expect(mocks.calls.filter((c) => c.name === "capturePayment").map((c) => c.attempt)).toEqual([
      1,
    ]);
    expect(mocks.inputsOf("voidPayment")).toEqual([
      { fulfillmentId: f, authorizationId: `auth-${f}` },
    ]);
    expect(mocks.inputsOf("cancelShipment")).toEqual([]);
    // The parcel has left the warehouse: its stock is not released.
    expect(mocks.inputsOf("releaseInventory")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "SHIPMENT_DISPATCHED",
      "ORDER_FAILED",
    ]);
  });
});
