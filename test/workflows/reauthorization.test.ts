/**
 * Re-authorization before expiry in the order workflow, on the time-skipping
 * test server with mocked activities: a courier that never comes for longer
 * than an authorization lives (renewed, more than once, then the newest one
 * captured), a renewal declined (the booking is cancelled, the fulfillment
 * fails and gives everything back), a renewal while on hold, and a courier
 * that comes in time (no renewal at all).
 */
import { temporal } from "@temporalio/proto";
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Activities, AuthorizeInput } from "../../src/activities/index.js";
import { DEFAULT_HOLD_POLICY } from "../../src/domain/holds.js";
import {
  cancelOrderUpdate,
  placeHoldUpdate,
  releaseHoldUpdate,
} from "../../src/workflows/messages.js";
import {
  booked,
  DAY_MS,
  expectConsistentSnapshots,
  gate,
  mockActivities,
  ONE_WAREHOUSE,
  report,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

const EventType = temporal.api.enums.v1.EventType;

/** The reference payments' default lifetime of an authorization. */
const TTL_MS = 7 * DAY_MS;

describe("re-authorization before expiry (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  /** Approves with a 7-day expiry on the workflow's (virtual) clock; ids name the renewal. */
  const expiring =
    (decline: (input: AuthorizeInput) => boolean = () => false): Activities["authorizePayment"] =>
    async (input) => {
      const authorizationId = `auth-${input.fulfillmentId}-${input.renewal ?? 0}`;
      if (decline(input)) {
        return {
          approved: false,
          authorizationId,
          declineReason: "the card issuer declined the payment",
          declineCode: "CARD_DECLINED",
        };
      }
      const expireTime = new Date((await env.currentTimeMs()) + TTL_MS).toISOString();
      return { approved: true, authorizationId, expireTime };
    };

  it("renews an authorization the courier outlives, twice, and captures the newest one", async () => {
    const mocks = mockActivities({ authorizePayment: expiring() });
    const result = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        await mocks.saved(booked(`${id}/1`));
        // 13 days without a pickup: renewed at day 6 and day 12 (a day before each expiry).
        await env.sleep(13 * DAY_MS);
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return handle.result();
      },
    );
    const fid = `${result.orderId}/1`;
    expect(result.status).toBe("COMPLETED");
    expect(mocks.calls.map((c) => c.name)).toEqual([
      "reserveInventory",
      "authorizePayment",
      "bookShipment",
      "authorizePayment",
      "voidPayment",
      "authorizePayment",
      "voidPayment",
      "capturePayment",
    ]);
    expect(mocks.inputsOf("authorizePayment").map((i) => i.renewal)).toEqual([undefined, 1, 2]);
    expect(mocks.inputsOf("voidPayment")).toEqual([
      { fulfillmentId: fid, authorizationId: `auth-${fid}-0`, renewal: 1 },
      { fulfillmentId: fid, authorizationId: `auth-${fid}-1`, renewal: 2 },
    ]);
    const total = result.fulfillments[0]?.amounts.totalMinor;
    expect(mocks.inputsOf("capturePayment")).toEqual([
      { fulfillmentId: fid, authorizationId: `auth-${fid}-2`, amountMinor: total },
    ]);
    // Every renewal asks for the same amount as the first authorization.
    expect(new Set(mocks.inputsOf("authorizePayment").map((i) => i.amountMinor))).toEqual(
      new Set([total]),
    );
    expect(result.fulfillments[0]?.payment).toMatchObject({
      status: "CAPTURED",
      authorizationId: `auth-${fid}-2`,
      capturedMinor: total,
    });
    expectConsistentSnapshots(mocks, result);
    const renewals = timeline(mocks).filter((e) => e.includes("re-authorized"));
    expect(renewals).toHaveLength(2);
    expect(renewals[0]).toMatch(
      new RegExp(
        `^PROCESSING: payment re-authorized before expiry \\(${fid}, renewal 1\\): auth-${fid}-1 replaces auth-${fid}-0, valid until `,
      ),
    );
  });

  it("renews at the configured margin before expiry", async () => {
    const mocks = mockActivities({ authorizePayment: expiring() });
    await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE, reauthorizeMarginMs: 3 * DAY_MS },
      async (handle, id) => {
        await mocks.saved(booked(`${id}/1`));
        await env.sleep(3.5 * DAY_MS);
        expect(mocks.inputsOf("authorizePayment")).toHaveLength(1);
        // Day 4 = 7 days − a margin of 3.
        await env.sleep(DAY_MS);
        await mocks.saved(
          (s) => s.order.fulfillments[0]?.payment.authorizationId.endsWith("-1") ?? false,
        );
        expect(mocks.inputsOf("authorizePayment")).toHaveLength(2);
        await handle.executeUpdate(cancelOrderUpdate, {
          args: [{ description: "done testing", requestedBy: "test" }],
        });
        const result = await handle.result();
        // The cancellation voids the newest authorization (the old one was voided by the renewal).
        expect(mocks.inputsOf("voidPayment").map((v) => v.authorizationId)).toEqual([
          `auth-${id}/1-0`,
          `auth-${id}/1-1`,
        ]);
        expect(result.fulfillments[0]?.payment.status).toBe("VOIDED");
      },
    );
  });

  it("a declined renewal cancels the booking and fails the fulfillment, giving everything back", async () => {
    const mocks = mockActivities({
      authorizePayment: expiring((input) => input.renewal === 1),
    });
    const result = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (_handle, id) => {
        await mocks.saved(booked(`${id}/1`));
        await env.sleep(7 * DAY_MS);
        return _handle.result();
      },
    );
    const fid = `${result.orderId}/1`;
    expect(result.status).toBe("FAILED");
    expect(result.fulfillments[0]).toMatchObject({
      status: "FAILED",
      statusReason: "payment declined at re-authorization: the card issuer declined the payment",
      payment: { status: "VOIDED", authorizationId: `auth-${fid}-0` },
      shipment: { status: "CANCELLED" },
    });
    expect(mocks.calls.map((c) => c.name).sort()).toEqual(
      [
        "reserveInventory",
        "authorizePayment",
        "bookShipment",
        "authorizePayment",
        "cancelShipment",
        "voidPayment",
        "releaseInventory",
      ].sort(),
    );
    expect(timeline(mocks)).toContain(
      `PROCESSING: payment re-authorization declined (${fid}): the card issuer declined the payment`,
    );
    expectConsistentSnapshots(mocks, result);
  });

  it("renews while the order is on hold after its authorization", async () => {
    const authorizing = gate();
    const approve = expiring();
    const mocks = mockActivities({
      authorizePayment: async (input) => {
        if (input.renewal === undefined) await authorizing.pass();
        return approve(input);
      },
    });
    const policy = {
      ...DEFAULT_HOLD_POLICY,
      MANUAL: { timeoutMs: 30 * DAY_MS, onExpiry: "RELEASE" as const },
    };
    await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE, holdPolicy: policy },
      async (handle, id) => {
        await authorizing.reached;
        await handle.executeUpdate(placeHoldUpdate, {
          args: [{ type: "MANUAL", reason: "wait", requestedBy: "ops" }],
        });
        authorizing.open();
        await env.sleep(8 * DAY_MS);
        expect(mocks.inputsOf("authorizePayment").map((i) => i.renewal)).toEqual([undefined, 1]);
        expect(mocks.inputsOf("bookShipment")).toEqual([]);
        await handle.executeUpdate(releaseHoldUpdate, {
          args: [{ holdId: "hold-1", reason: "ok", requestedBy: "ops" }],
        });
        await shipAndDeliver(handle, mocks, `${id}/1`);
        const result = await handle.result();
        expect(mocks.inputsOf("capturePayment")[0]?.authorizationId).toBe(`auth-${id}/1-1`);
        expect(result.status).toBe("COMPLETED");
      },
    );
  });

  it("a courier that comes in time: no renewal, one timer started and cancelled", async () => {
    const mocks = mockActivities({ authorizePayment: expiring() });
    await withOrder(env, mocks.activities, { items: ONE_WAREHOUSE }, async (handle, id) => {
      await mocks.saved(booked(`${id}/1`));
      await env.sleep(2 * DAY_MS);
      expect((await report(handle, `${id}/1`, "DISPATCHED")).status).toBe("DISPATCHED");
      await report(handle, `${id}/1`, "DELIVERED");
      await handle.result();
      expect(mocks.inputsOf("authorizePayment")).toHaveLength(1);
      const types = ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);
      const count = (type: temporal.api.enums.v1.EventType) =>
        types.filter((t) => t === type).length;
      expect(count(EventType.EVENT_TYPE_TIMER_STARTED)).toBe(1);
      expect(count(EventType.EVENT_TYPE_TIMER_CANCELED)).toBe(1);
      expect(count(EventType.EVENT_TYPE_TIMER_FIRED)).toBe(0);
    });
  });
});
