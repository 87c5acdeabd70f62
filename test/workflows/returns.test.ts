/**
 * The returns run alone, on the time-skipping test server with mocked
 * activities: a completed order's return that is never shipped expires at
 * its ship-by deadline (14 days, skipped), its label cancelled; a return
 * taken to its refund uses one key per return; the timeline goes on from the
 * order's.
 */
import { randomUUID } from "node:crypto";
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { Worker } from "@temporalio/worker";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { orderWorkflowId } from "../../src/domain/ids.js";
import type { Order } from "../../src/domain/order.js";
import { type OrderReturn, returnsOf } from "../../src/domain/returns.js";
import { reportShipmentEventUpdate } from "../../src/workflows/messages.js";
import type { orderReturnsWorkflow } from "../../src/workflows/returns.js";
import {
  cancelReturnUpdate,
  ORDER_RETURNS_WORKFLOW_TYPE,
  type OrderReturnsInput,
  requestReturnUpdate,
} from "../../src/workflows/returns-messages.js";
import {
  DAY_MS,
  mockActivities,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  withOrder,
} from "./harness.js";

// The test server's clock runs far ahead of the courier's fixed 2030 dates
// once time has been skipped, so the window here is wide open.
const POLICY = { windowMs: 100 * 365 * DAY_MS, shipWithinMs: 14 * DAY_MS };

describe("the returns run (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  /** A completed two-warehouse order. */
  async function completed(): Promise<{ order: Order }> {
    const mocks = mockActivities();
    return withOrder(env, mocks.activities, {}, async (handle, id) => {
      await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
      return { order: await handle.result() };
    });
  }

  /** Runs a returns run for `order` with fresh mocks, for as long as `body` runs. */
  async function withReturns<T>(
    order: Order,
    body: (
      handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof orderReturnsWorkflow>>>,
      mocks: ReturnType<typeof mockActivities>,
    ) => Promise<T>,
  ): Promise<T> {
    const mocks = mockActivities();
    const taskQueue = `returns-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? "default",
      taskQueue,
      workflowBundle: { codePath: inject("workflowBundlePath") },
      activities: mocks.activities,
    });
    const input: OrderReturnsInput = { order, timelineSequence: 9, policy: POLICY };
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof orderReturnsWorkflow>(
        ORDER_RETURNS_WORKFLOW_TYPE,
        { taskQueue, workflowId: orderWorkflowId(order.orderId), args: [input] },
      );
      return body(handle, mocks);
    });
  }

  const returnIn = (order: Order, id: string) =>
    returnsOf(order).find((r) => r.returnId === id) as OrderReturn;

  it("expires a return that is not shipped by its deadline, and cancels its label", async () => {
    const { order } = await completed();
    const id = `${order.orderId}/r1`;
    const result = await withReturns(order, async (handle, mocks) => {
      const { returnIds } = await handle.executeUpdate(requestReturnUpdate, {
        args: [{ items: [{ sku: "KEYBOARD-MX", quantity: 1 }], reason: "", requestedBy: "test" }],
      });
      expect(returnIds).toEqual([id]);
      await mocks.saved((s) => returnIn(s.order, id)?.status === "LABEL_BOOKED");
      // Nobody ships it: the run waits on the 14-day deadline, which the test server skips.
      const ended = await handle.result();
      expect(mocks.inputsOf("cancelShipment")).toEqual([
        { fulfillmentId: id, shipmentId: `ship-${id}` },
      ]);
      expect(mocks.inputsOf("refundReturn")).toEqual([]);
      // The timeline goes on from the order's last entry (9), on the run's own versions.
      const entries = mocks.snapshots.flatMap((s) => s.entries);
      expect(entries.map((e) => e.sequence)).toEqual([10, 11, 12]);
      expect(entries.map((e) => e.reason)).toEqual([
        `return ${id} requested: 1 x KEYBOARD-MX`,
        `return ${id}: label booked (shipment ship-${id})`,
        `return ${id} expired: not shipped in time`,
      ]);
      expect(mocks.snapshots.map((s) => s.order.version)).toEqual(
        mocks.snapshots.map((_, i) => order.version + i + 1),
      );
      return ended;
    });
    const r = returnIn(result, id);
    expect(r.status).toBe("EXPIRED");
    expect(Date.parse(r.shipByTime) - Date.parse(r.requestTime)).toBe(14 * DAY_MS);
    expect(result.status).toBe("COMPLETED");
  });

  it("refunds a received return once, keyed by the return, and cancels another before pick-up", async () => {
    const { order } = await completed();
    const [r1, r2] = [`${order.orderId}/r1`, `${order.orderId}/r2`];
    const result = await withReturns(order, async (handle, mocks) => {
      const { returnIds } = await handle.executeUpdate(requestReturnUpdate, {
        args: [
          {
            items: [
              { sku: "SKU-100", quantity: 2 },
              { sku: "KEYBOARD-MX", quantity: 1 },
            ],
            reason: "changed my mind",
            requestedBy: "test",
          },
        ],
      });
      expect(returnIds).toEqual([r1, r2]);
      await mocks.saved((s) => returnIn(s.order, r2)?.status === "LABEL_BOOKED");
      const cancelled = await handle.executeUpdate(cancelReturnUpdate, {
        args: [{ returnId: r2, requestedBy: "test" }],
      });
      expect(returnIn(cancelled, r2).status).toBe("CANCELLED");
      await mocks.saved((s) => returnIn(s.order, r1)?.status === "LABEL_BOOKED");
      for (const event of ["DISPATCHED", "DELIVERED"] as const) {
        await handle.executeUpdate(reportShipmentEventUpdate, {
          args: [
            {
              fulfillmentId: r1,
              shipmentId: `ship-${r1}`,
              event,
              occurredAt: "2030-02-01T00:00:00.000Z",
              reportedBy: "courier-gateway",
            },
          ],
        });
      }
      const ended = await handle.result();
      // The courier's events are on the timeline under the principal that reported them.
      const courierEntries = mocks.snapshots
        .flatMap((s) => s.entries)
        .filter((e) => e.reason.startsWith(`return ${r1}: `))
        .map((e) => [e.reason, e.actor]);
      expect(courierEntries).toEqual(
        expect.arrayContaining([
          [`return ${r1}: in transit`, "courier-gateway"],
          [`return ${r1}: received at wh-east`, "courier-gateway"],
        ]),
      );
      expect(mocks.inputsOf("refundReturn")).toEqual([
        { returnId: r1, authorizationId: `auth-${order.orderId}/1`, amountMinor: 2700 },
      ]);
      expect(mocks.inputsOf("restockReturn")).toEqual([
        {
          orderId: order.orderId,
          returnId: r1,
          warehouseId: "wh-east",
          lines: [{ sku: "SKU-100", quantity: 2, unitPriceMinor: 1250 }],
        },
      ]);
      return ended;
    });
    expect(returnIn(result, r1)).toMatchObject({
      status: "REFUNDED",
      refundMinor: 2700,
      refundedMinor: 2700,
    });
    expect(returnIn(result, r2).status).toBe("CANCELLED");
    const east = result.fulfillments.find((f) => f.fulfillmentId === `${order.orderId}/1`);
    expect(east?.payment).toMatchObject({
      capturedMinor: 3199,
      refundedMinor: 2700,
      status: "CAPTURED",
    });
  });
});
