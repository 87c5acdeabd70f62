/**
 * Holds in the order workflow, on the time-skipping test server with mocked
 * activities: the gate before authorization and booking, every hold type's
 * deadline (release and cancel), the automatic FRAUD_REVIEW of a decline
 * over the spending limit, and cancellation while on hold.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthorizeResult } from "../../src/activities/index.js";
import { DEFAULT_HOLD_POLICY, type Hold } from "../../src/domain/holds.js";
import type { Order } from "../../src/domain/order.js";
import {
  cancelOrderUpdate,
  placeHoldUpdate,
  releaseHoldUpdate,
} from "../../src/workflows/messages.js";
import type { OrderSnapshot } from "../../src/workflows/order-recorder.js";
import {
  booked,
  expectConsistentSnapshots,
  gatedMocks,
  mockActivities,
  ONE_WAREHOUSE,
  type OrderHandle,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

const HOUR_MS = 3_600_000;

const place = (handle: OrderHandle, type: Hold["type"], reason = "") =>
  handle.executeUpdate(placeHoldUpdate, { args: [{ type, reason, requestedBy: "ops" }] });
const release = (handle: OrderHandle, holdId: string, reason = "checked") =>
  handle.executeUpdate(releaseHoldUpdate, { args: [{ holdId, reason, requestedBy: "ops" }] });
/** Ends an order the test has seen enough of. */
const cancelAndEnd = async (handle: OrderHandle) => {
  await handle.executeUpdate(cancelOrderUpdate, {
    args: [{ description: "done testing", requestedBy: "test" }],
  });
  await handle.result();
};
const holdIn = (s: OrderSnapshot | Order, holdId: string) =>
  ("order" in s ? s.order : s).holds?.find((h) => h.holdId === holdId);

describe("holds in the order workflow (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  it("authorizes and books nothing while a hold is active; goes on once it is released", async () => {
    const { gate: reserving, mocks } = gatedMocks("reserveInventory");
    const { result, hold, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        await reserving.reached;
        const placed = await place(handle, "MANUAL", "check the invoice");
        expect(placed.hold).toMatchObject({
          holdId: "hold-1",
          type: "MANUAL",
          status: "ACTIVE",
          placedBy: "ops",
          expiryAction: "RELEASE",
        });
        expect(placed.order.holds).toEqual([placed.hold]);
        reserving.open();
        await mocks.saved((s) => s.order.status === "PROCESSING");
        // An hour on the workflow's clock: still nothing authorized.
        await env.sleep(HOUR_MS);
        expect(mocks.calls.map((c) => c.name)).toEqual(["reserveInventory"]);
        const released = await release(handle, "hold-1");
        expect(holdIn(released, "hold-1")).toMatchObject({
          status: "RELEASED",
          releasedBy: "ops",
          releaseReason: "checked",
        });
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return { result: await handle.result(), hold: placed.hold, orderId: id };
      },
    );
    expect(result.status).toBe("COMPLETED");
    expect(mocks.calls.map((c) => c.name)).toEqual([
      "reserveInventory",
      "authorizePayment",
      "bookShipment",
      "capturePayment",
    ]);
    // The deadline is the MANUAL default (72 h) after placing.
    expect(Date.parse(hold.deadline) - Date.parse(hold.placeTime)).toBe(72 * HOUR_MS);
    expectConsistentSnapshots(mocks, result);
    expect(timeline(mocks)).toEqual([
      "PENDING: order accepted",
      `PENDING: MANUAL hold hold-1 placed: check the invoice (deadline ${hold.deadline}, then release)`,
      "PROCESSING: 1 fulfillment(s)",
      "PROCESSING: MANUAL hold hold-1 released: checked",
      `PROCESSING: shipment ship-${orderId}/1 dispatched`,
      `PROCESSING: shipment ship-${orderId}/1 delivered`,
      "COMPLETED: 1 of 1 fulfillment(s) delivered",
    ]);
  });

  it("a hold placed while an authorization is in flight stops the booking", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    await withOrder(env, mocks.activities, { items: ONE_WAREHOUSE }, async (handle, id) => {
      await authorizing.reached;
      await place(handle, "PAYMENT_REVIEW", "unusual amount");
      authorizing.open();
      await mocks.saved((s) => s.order.fulfillments[0]?.status === "AUTHORIZED");
      await env.sleep(HOUR_MS);
      expect(mocks.inputsOf("bookShipment")).toEqual([]);
      await release(handle, "hold-1");
      await mocks.saved(booked(`${id}/1`));
      expect(mocks.inputsOf("bookShipment")).toHaveLength(1);
      await cancelAndEnd(handle);
    });
  });

  it("stacks holds: the order waits until the last one is released", async () => {
    const { gate: reserving, mocks } = gatedMocks("reserveInventory");
    await withOrder(env, mocks.activities, { items: ONE_WAREHOUSE }, async (handle, id) => {
      await reserving.reached;
      await place(handle, "ADDRESS_VERIFICATION");
      const second = await place(handle, "CUSTOMER_REQUEST", "customer asked to wait");
      expect(second.hold.holdId).toBe("hold-2");
      reserving.open();
      await release(handle, "hold-1");
      await env.sleep(HOUR_MS);
      expect(mocks.inputsOf("authorizePayment")).toEqual([]);
      // Releasing again changes nothing; the second hold still stops the order.
      const again = await release(handle, "hold-1", "twice");
      expect(holdIn(again, "hold-1")?.releaseReason).toBe("checked");
      await release(handle, "hold-2");
      await mocks.saved(booked(`${id}/1`));
      await expect(release(handle, "hold-9")).rejects.toMatchObject({
        cause: { type: "HOLD_NOT_FOUND", message: expect.stringMatching(/has no hold "hold-9"/) },
      });
      await cancelAndEnd(handle);
    });
  });

  it("a hold whose type expires with CANCEL cancels the order at its deadline, with compensation", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const wallClock = Date.now();
    const { result } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle) => {
        await authorizing.reached;
        await place(handle, "FRAUD_REVIEW", "looks odd");
        authorizing.open();
        return { result: await handle.result() };
      },
    );
    expect(Date.now() - wallClock).toBeLessThan(20_000);
    expect(result.status).toBe("CANCELLED");
    expect(result.cancellation).toMatchObject({
      reason: "BUSINESS",
      description: "the FRAUD_REVIEW hold was not released by its deadline",
      requestedBy: "system",
    });
    const hold = result.holds?.[0] as Hold;
    expect(hold.status).toBe("EXPIRED");
    expect(Date.parse(hold.releaseTime) - Date.parse(hold.placeTime)).toBeGreaterThanOrEqual(
      DEFAULT_HOLD_POLICY.FRAUD_REVIEW.timeoutMs,
    );
    // Authorized before the hold: voided; never booked; stock released.
    expect(mocks.calls.map((c) => c.name).sort()).toEqual(
      ["authorizePayment", "releaseInventory", "reserveInventory", "voidPayment"].sort(),
    );
    expectConsistentSnapshots(mocks, result);
    expect(timeline(mocks)).toEqual(
      expect.arrayContaining([
        "PROCESSING: FRAUD_REVIEW hold hold-1 expired at its deadline: cancelling the order",
        "PROCESSING: cancellation requested: the FRAUD_REVIEW hold was not released by its deadline",
        "CANCELLED: cancelled",
      ]),
    );
  });

  it("every hold type's deadline comes from the policy in the order's input", async () => {
    const policy = {
      ...DEFAULT_HOLD_POLICY,
      MANUAL: { timeoutMs: 2 * HOUR_MS, onExpiry: "RELEASE" as const },
      PAYMENT_REVIEW: { timeoutMs: 3 * HOUR_MS, onExpiry: "RELEASE" as const },
      ADDRESS_VERIFICATION: { timeoutMs: 4 * HOUR_MS, onExpiry: "RELEASE" as const },
      CUSTOMER_REQUEST: { timeoutMs: 5 * HOUR_MS, onExpiry: "RELEASE" as const },
      FRAUD_REVIEW: { timeoutMs: 6 * HOUR_MS, onExpiry: "RELEASE" as const },
    };
    const { gate: reserving, mocks } = gatedMocks("reserveInventory");
    await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE, holdPolicy: policy },
      async (handle, id) => {
        await reserving.reached;
        for (const type of [
          "MANUAL",
          "PAYMENT_REVIEW",
          "ADDRESS_VERIFICATION",
          "CUSTOMER_REQUEST",
          "FRAUD_REVIEW",
        ] as const) {
          await place(handle, type);
        }
        reserving.open();
        // After 5 h all but the 6 h one have expired (and released); nothing authorized yet.
        await env.sleep(5 * HOUR_MS + 60_000);
        const s = await mocks.saved(
          (x) => (x.order.holds ?? []).filter((h) => h.status === "EXPIRED").length === 4,
        );
        expect((s.order.holds ?? []).map((h) => [h.type, h.status])).toEqual([
          ["MANUAL", "EXPIRED"],
          ["PAYMENT_REVIEW", "EXPIRED"],
          ["ADDRESS_VERIFICATION", "EXPIRED"],
          ["CUSTOMER_REQUEST", "EXPIRED"],
          ["FRAUD_REVIEW", "ACTIVE"],
        ]);
        expect(mocks.inputsOf("authorizePayment")).toEqual([]);
        // The last one expires and releases: the order goes on.
        await env.sleep(HOUR_MS);
        await mocks.saved(booked(`${id}/1`));
        for (const h of (await mocks.saved(booked(`${id}/1`))).order.holds ?? []) {
          const hours = (Date.parse(h.releaseTime) - Date.parse(h.placeTime)) / HOUR_MS;
          expect(Math.floor(hours)).toBe(policy[h.type].timeoutMs / HOUR_MS);
        }
        await cancelAndEnd(handle);
      },
    );
  });

  it("cancelling while on hold compensates, and the order's end releases its holds", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle) => {
        await authorizing.reached;
        await place(handle, "CUSTOMER_REQUEST");
        authorizing.open();
        await mocks.saved((s) => s.order.fulfillments[0]?.status === "AUTHORIZED");
        await handle.executeUpdate(cancelOrderUpdate, {
          args: [{ description: "changed my mind", requestedBy: "customer" }],
        });
        return { result: await handle.result() };
      },
    );
    expect(result.status).toBe("CANCELLED");
    expect(result.holds?.[0]).toMatchObject({
      status: "RELEASED",
      releasedBy: "system",
      releaseReason: "the order has ended",
    });
    expect(mocks.inputsOf("voidPayment")).toHaveLength(1);
    expect(mocks.inputsOf("bookShipment")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
  });

  describe("automatic FRAUD_REVIEW over the spending limit", () => {
    const overLimit = (fulfillmentId: string): AuthorizeResult => ({
      approved: false,
      authorizationId: `declined-${fulfillmentId}`,
      declineReason: "the fraud check declined it",
      declineCode: "SPENDING_LIMIT_EXCEEDED",
    });

    it("holds the order instead of failing; released, it authorizes again with the review's approval", async () => {
      const mocks = mockActivities({
        async authorizePayment(input) {
          if (input.fulfillmentId.endsWith("/2") && input.fraudReviewHoldId === undefined) {
            return overLimit(input.fulfillmentId);
          }
          return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
        },
      });
      const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
        const held = await mocks.saved((s) =>
          (s.order.holds ?? []).some((h) => h.type === "FRAUD_REVIEW"),
        );
        expect(held.order.holds?.[0]).toMatchObject({
          holdId: "hold-1",
          placedBy: "system",
          status: "ACTIVE",
          expiryAction: "CANCEL",
        });
        expect(held.order.fulfillments[1]?.status).toBe("PENDING");
        await release(handle, "hold-1", "customer verified");
        await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
        return { result: await handle.result(), orderId: id };
      });
      expect(result.status).toBe("COMPLETED");
      expect(result.fulfillments.map((f) => f.payment.authorizationId)).toEqual([
        `auth-${orderId}/1`,
        `auth-${orderId}/2`,
      ]);
      const west = mocks.inputsOf("authorizePayment").filter((i) => i.fulfillmentId.endsWith("/2"));
      expect(west.map((i) => i.fraudReviewHoldId)).toEqual([undefined, "hold-1"]);
      expectConsistentSnapshots(mocks, result);
    });

    it("not released by its deadline: the order is cancelled and gives back what it holds", async () => {
      const mocks = mockActivities({
        async authorizePayment(input) {
          return overLimit(input.fulfillmentId);
        },
      });
      const { result } = await withOrder(env, mocks.activities, { items: ONE_WAREHOUSE }, (h) =>
        h.result().then((r) => ({ result: r })),
      );
      expect(result.status).toBe("CANCELLED");
      expect(result.fulfillments[0]?.status).toBe("CANCELLED");
      expect(result.holds?.[0]?.status).toBe("EXPIRED");
      expect(mocks.calls.map((c) => c.name)).toEqual([
        "reserveInventory",
        "authorizePayment",
        "releaseInventory",
      ]);
      expectConsistentSnapshots(mocks, result);
    });

    it("with the policy off, the decline fails the fulfillment as before", async () => {
      const mocks = mockActivities({
        async authorizePayment(input) {
          return overLimit(input.fulfillmentId);
        },
      });
      const { result } = await withOrder(
        env,
        mocks.activities,
        {
          items: ONE_WAREHOUSE,
          holdPolicy: { ...DEFAULT_HOLD_POLICY, fraudReviewOnSpendingLimit: false },
        },
        (h) => h.result().then((r) => ({ result: r })),
      );
      expect(result.status).toBe("FAILED");
      expect(result.holds ?? []).toEqual([]);
    });
  });
});
