/**
 * SLA clocks in the order workflow, on the time-skipping test server with
 * mocked activities: each stage's breach (authorized, dispatched, delivered),
 * met stages (no breach, one timer started and cancelled per stage, none
 * fired), and the clocks stopping when the order is cancelled.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Order } from "../../src/domain/order.js";
import type { SlaPolicy, SlaStage } from "../../src/domain/sla.js";
import {
  cancelOrderUpdate,
  placeHoldUpdate,
  releaseHoldUpdate,
} from "../../src/workflows/messages.js";
import {
  booked,
  expectConsistentSnapshots,
  gatedMocks,
  type Mocks,
  mockActivities,
  ONE_WAREHOUSE,
  type OrderHandle,
  report,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

const HOUR_MS = 3_600_000;

/** Authorized within 1 h, dispatched within 2 h, delivered within 3 h; at risk at half time. */
const POLICY: SlaPolicy = {
  authorizedWithinMs: HOUR_MS,
  dispatchedWithinMs: 2 * HOUR_MS,
  deliveredWithinMs: 3 * HOUR_MS,
  atRiskPercent: 50,
};

const stageOf = (order: Order, stage: SlaStage) => order.sla?.stages.find((s) => s.stage === stage);
const breaches = (mocks: Mocks) => timeline(mocks).filter((e) => e.includes("SLA breached"));

async function timerEvents(handle: OrderHandle) {
  const events = (await handle.fetchHistory()).events ?? [];
  return {
    started: events.filter((e) => e.timerStartedEventAttributes).length,
    cancelled: events.filter((e) => e.timerCanceledEventAttributes).length,
    fired: events.filter((e) => e.timerFiredEventAttributes).length,
    patched: events.some((e) =>
      e.markerRecordedEventAttributes?.details?.["patch-data"]?.payloads?.some((p) =>
        Buffer.from(p.data ?? new Uint8Array())
          .toString()
          .includes("sla-clocks"),
      ),
    ),
  };
}

describe("SLA clocks in the order workflow (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  const options = async () => ({
    slaPolicy: POLICY,
    acceptTime: new Date(await env.currentTimeMs()).toISOString(),
  });
  /** A one-fulfillment order with the clocks, handed to `body` once its shipment is booked. */
  const withBookedOrder = async <T>(
    body: (handle: OrderHandle, id: string, mocks: Mocks) => Promise<T>,
  ): Promise<T & { mocks: Mocks }> => {
    const mocks = mockActivities();
    const opts = { ...(await options()), items: ONE_WAREHOUSE };
    const out = await withOrder(env, mocks.activities, opts, async (handle, id) => {
      await mocks.saved(booked(`${id}/1`));
      return body(handle, id, mocks);
    });
    return { ...out, mocks };
  };
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  it("meets every stage of a prompt two-fulfillment order: no breach, every timer cancelled", async () => {
    const mocks = mockActivities();
    const opts = await options();
    const { result, timers } = await withOrder(env, mocks.activities, opts, async (handle, id) => {
      await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
      const result = await handle.result();
      return { result, timers: await timerEvents(handle) };
    });
    expect(result.status).toBe("COMPLETED");
    const accepted = Date.parse(opts.acceptTime);
    expect(result.sla?.stages).toEqual([
      {
        stage: "AUTHORIZED",
        deadline: new Date(accepted + HOUR_MS).toISOString(),
        atRiskTime: new Date(accepted + HOUR_MS / 2).toISOString(),
        metTime: expect.any(String),
        breachTime: "",
      },
      {
        stage: "DISPATCHED",
        deadline: new Date(accepted + 2 * HOUR_MS).toISOString(),
        atRiskTime: new Date(accepted + HOUR_MS).toISOString(),
        metTime: expect.any(String),
        breachTime: "",
      },
      {
        stage: "DELIVERED",
        deadline: new Date(accepted + 3 * HOUR_MS).toISOString(),
        atRiskTime: new Date(accepted + 1.5 * HOUR_MS).toISOString(),
        metTime: expect.any(String),
        breachTime: "",
      },
    ]);
    for (const s of result.sla?.stages ?? []) {
      expect(Date.parse(s.metTime)).toBeLessThan(Date.parse(s.deadline));
    }
    expect(breaches(mocks)).toEqual([]);
    // One timer per stage, each cancelled when its stage was met; none fired.
    expect(timers).toEqual({ started: 3, cancelled: 3, fired: 0, patched: true });
    // A met stage is recorded in the version of the change that met it: no write of its own.
    const firstMet = mocks.snapshots.findIndex((s) => stageOf(s.order, "AUTHORIZED")?.metTime);
    expect(mocks.snapshots[firstMet]?.order.fulfillments.every((f) => f.status !== "PENDING")).toBe(
      true,
    );
    expectConsistentSnapshots(mocks, result);
  });

  it("breaches AUTHORIZED while the order waits on a hold (time on hold counts); met late after", async () => {
    const { gate: reserving, mocks } = gatedMocks("reserveInventory");
    const opts = await options();
    const result = await withOrder(env, mocks.activities, opts, async (handle, id) => {
      await reserving.reached;
      await handle.executeUpdate(placeHoldUpdate, {
        args: [{ type: "MANUAL", reason: "check the invoice", requestedBy: "ops" }],
      });
      reserving.open();
      await mocks.saved((s) => s.order.status === "PROCESSING");
      await env.sleep(HOUR_MS + 60_000);
      const breached = await mocks.saved((s) => !!stageOf(s.order, "AUTHORIZED")?.breachTime);
      expect(breached.entries.map((e) => e.reason)).toEqual([
        `SLA breached: not authorized by ${stageOf(breached.order, "AUTHORIZED")?.deadline}`,
      ]);
      expect(breached.order.status).toBe("PROCESSING");
      expect(mocks.inputsOf("authorizePayment")).toEqual([]);
      await handle.executeUpdate(releaseHoldUpdate, {
        args: [{ holdId: "hold-1", reason: "checked", requestedBy: "ops" }],
      });
      await shipAndDeliver(handle, mocks, `${id}/1`);
      return handle.result();
    });
    const authorized = stageOf(result, "AUTHORIZED");
    expect(authorized?.breachTime).not.toBe("");
    expect(Date.parse(authorized?.metTime ?? "")).toBeGreaterThan(
      Date.parse(authorized?.deadline ?? ""),
    );
    expect(stageOf(result, "DISPATCHED")).toMatchObject({ breachTime: "" });
    expect(stageOf(result, "DELIVERED")).toMatchObject({ breachTime: "" });
    expect(breaches(mocks)).toHaveLength(1);
    expectConsistentSnapshots(mocks, result);
  });

  it("breaches DISPATCHED when the courier is slow, once, and still meets DELIVERED", async () => {
    const { result, timers, mocks } = await withBookedOrder(async (handle, id, mocks) => {
      await env.sleep(2 * HOUR_MS + 60_000);
      const breached = await mocks.saved((s) => !!stageOf(s.order, "DISPATCHED")?.breachTime);
      expect(breached.entries.map((e) => `${e.toStatus}: ${e.reason}`)).toEqual([
        `PROCESSING: SLA breached: not dispatched by ${stageOf(breached.order, "DISPATCHED")?.deadline}`,
      ]);
      expect(stageOf(breached.order, "AUTHORIZED")?.metTime).not.toBe("");
      expect(stageOf(breached.order, "DELIVERED")).toMatchObject({ metTime: "", breachTime: "" });
      await report(handle, `${id}/1`, "DISPATCHED");
      await report(handle, `${id}/1`, "DELIVERED");
      const result = await handle.result();
      return { result, timers: await timerEvents(handle) };
    });
    expect(result.status).toBe("COMPLETED");
    expect(stageOf(result, "DISPATCHED")?.breachTime).not.toBe("");
    expect(stageOf(result, "DISPATCHED")?.metTime).not.toBe("");
    expect(stageOf(result, "DELIVERED")).toMatchObject({ breachTime: "" });
    expect(breaches(mocks)).toHaveLength(1);
    // AUTHORIZED met (cancelled), DISPATCHED fired, DELIVERED met (cancelled).
    expect(timers).toMatchObject({ started: 3, cancelled: 2, fired: 1 });
    expectConsistentSnapshots(mocks, result);
  });

  it("breaches DELIVERED when a dispatched parcel does not arrive in time", async () => {
    const { result, mocks } = await withBookedOrder(async (handle, id, mocks) => {
      await report(handle, `${id}/1`, "DISPATCHED");
      await env.sleep(3 * HOUR_MS + 60_000);
      await mocks.saved((s) => !!stageOf(s.order, "DELIVERED")?.breachTime);
      await report(handle, `${id}/1`, "DELIVERED");
      return { result: await handle.result() };
    });
    expect(result.sla?.stages.map((s) => [s.stage, s.breachTime !== ""])).toEqual([
      ["AUTHORIZED", false],
      ["DISPATCHED", false],
      ["DELIVERED", true],
    ]);
    expect(breaches(mocks)).toEqual([
      `PROCESSING: SLA breached: not delivered by ${stageOf(result, "DELIVERED")?.deadline}`,
    ]);
    expectConsistentSnapshots(mocks, result);
  });

  it("stops the clocks when the order is cancelled: no breach however long it takes", async () => {
    const { result, timers, mocks } = await withBookedOrder(async (handle) => {
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "changed my mind", requestedBy: "customer" }],
      });
      const result = await handle.result();
      await env.sleep(4 * HOUR_MS);
      return { result, timers: await timerEvents(handle) };
    });
    expect(result.status).toBe("CANCELLED");
    expect(stageOf(result, "DISPATCHED")).toMatchObject({ metTime: "", breachTime: "" });
    expect(breaches(mocks)).toEqual([]);
    expect(timers.fired).toBe(0);
    expectConsistentSnapshots(mocks, result);
  });

  it("takes no clocks for an input without them (orders accepted before SLA clocks)", async () => {
    const mocks = mockActivities();
    const { result, timers } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        await shipAndDeliver(handle, mocks, `${id}/1`);
        const result = await handle.result();
        return { result, timers: await timerEvents(handle) };
      },
    );
    expect(result.sla).toBeUndefined();
    expect(timers).toEqual({ started: 0, cancelled: 0, fired: 0, patched: false });
  });
});
