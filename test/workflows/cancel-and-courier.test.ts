/**
 * Cancellation and courier events against the order workflow alone, on
 * Temporal's time-skipping test server (it supports Updates, validators
 * included) with mocked activities: cancellation at each stage and racing a
 * dispatch, a dispatch reported while the booking is still in flight, and
 * the Updates the validators refuse (that a refusal writes no history at all
 * is checked on a real server, in refused-updates.dev-server.test.ts).
 */
import { WorkflowUpdateFailedError, WorkflowUpdateStage } from "@temporalio/client";
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cancelOrderUpdate,
  reportShipmentEventUpdate,
  resolveUnavailableItemsUpdate,
  WorkflowFailureType,
} from "../../src/workflows/messages.js";
import {
  booked,
  DISPATCHED_AT,
  expectConsistentSnapshots,
  fulfillmentIn,
  gate,
  type Mocks,
  mockActivities,
  notificationKinds,
  ONE_WAREHOUSE,
  type OrderHandle,
  report,
  startTimeSkippingEnvironment,
  withOrder,
} from "./harness.js";
import { expectRefusals, refuseCourierEvents } from "./refusals.js";

describe("cancellation and courier events (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  const cancel = (handle: OrderHandle) =>
    handle.executeUpdate(cancelOrderUpdate, {
      args: [{ description: "changed my mind", requestedBy: "customer-1" }],
    });

  /** The names of one fulfillment's calls, in the order they were made. */
  const callsFor = (mocks: Mocks, fulfillmentId: string, warehouseId: string) =>
    mocks.calls
      .filter((c) => {
        const input = c.input as { fulfillmentId?: string; warehouseId?: string };
        return input.fulfillmentId === fulfillmentId || input.warehouseId === warehouseId;
      })
      .map((c) => c.name);

  it("cancels before booking: voids the authorizations and releases, books nothing", async () => {
    const authorizing = gate();
    const mocks = mockActivities({
      async authorizePayment(input) {
        await authorizing.pass();
        return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
      },
    });
    const { result, cancelled, orderId } = await withOrder(
      env,
      mocks.activities,
      {},
      async (handle, id) => {
        await authorizing.reached;
        const answer = await cancel(handle);
        authorizing.open();
        return { result: await handle.result(), cancelled: answer, orderId: id };
      },
    );

    // The Update answers at once, with the cancellation recorded; compensation follows.
    expect(cancelled.status).toBe("PROCESSING");
    expect(cancelled.cancellation).toMatchObject({
      reason: "CUSTOMER",
      description: "changed my mind",
      requestedBy: "customer-1",
    });
    expect(result.status).toBe("CANCELLED");
    for (const f of result.fulfillments) {
      expect(f).toMatchObject({
        status: "CANCELLED",
        statusReason: "cancelled before dispatch",
        payment: { status: "VOIDED" },
        shipment: { status: "PENDING" },
      });
    }
    expect(mocks.inputsOf("bookShipment")).toEqual([]);
    expect(mocks.inputsOf("voidPayment")).toEqual(
      expect.arrayContaining(
        [`${orderId}/1`, `${orderId}/2`].map((f) => ({
          fulfillmentId: f,
          authorizationId: `auth-${f}`,
        })),
      ),
    );
    expect(mocks.inputsOf("releaseInventory")).toEqual(
      expect.arrayContaining([
        { orderId, warehouseId: "wh-east" },
        { orderId, warehouseId: "wh-west" },
      ]),
    );
    expect(mocks.calls).toHaveLength(1 + 2 + 2 + 2);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual(["ORDER_ACCEPTED", "ORDER_CANCELLED"]);
  });

  it("cancels after booking: cancels each booking, then voids and releases", async () => {
    const mocks = mockActivities();
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await mocks.saved(booked(`${id}/1`, `${id}/2`));
      await cancel(handle);
      return { result: await handle.result(), orderId: id };
    });

    expect(result.status).toBe("CANCELLED");
    expect(result.cancellation?.reason).toBe("CUSTOMER");
    for (const [n, warehouseId] of [
      [1, "wh-east"],
      [2, "wh-west"],
    ] as const) {
      const f = `${orderId}/${n}`;
      expect(result.fulfillments[n - 1]).toMatchObject({
        status: "CANCELLED",
        payment: { status: "VOIDED", capturedMinor: 0 },
        shipment: { status: "CANCELLED", shipmentId: `ship-${f}` },
      });
      // Newest first: the booking is cancelled before the money and the stock are given back.
      const sequence = callsFor(mocks, f, warehouseId);
      expect(sequence.slice(0, 3)).toEqual(["authorizePayment", "bookShipment", "cancelShipment"]);
      expect(sequence.slice(3).sort()).toEqual(["releaseInventory", "voidPayment"]);
      expect(mocks.inputsOf("cancelShipment")).toContainEqual({
        fulfillmentId: f,
        shipmentId: `ship-${f}`,
      });
      expect(mocks.inputsOf("voidPayment")).toContainEqual({
        fulfillmentId: f,
        authorizationId: `auth-${f}`,
      });
      expect(mocks.inputsOf("releaseInventory")).toContainEqual({ orderId, warehouseId });
    }
    expect(mocks.inputsOf("capturePayment")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual(["ORDER_ACCEPTED", "ORDER_CANCELLED"]);
  });

  it("carries on to delivery when the courier dispatched before the cancellation reached it", async () => {
    const cancelling = gate();
    const mocks = mockActivities({
      async cancelShipment() {
        await cancelling.pass();
        return false; // the shipping service refuses: the parcel is with the courier
      },
    });
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        const f = `${id}/1`;
        await mocks.saved(booked(f));
        await cancel(handle);
        await cancelling.reached;
        // The courier's DISPATCHED arrives while the cancellation is at the shipping service.
        const dispatched = await handle.startUpdate(reportShipmentEventUpdate, {
          args: [
            {
              fulfillmentId: f,
              shipmentId: `ship-${f}`,
              event: "DISPATCHED",
              occurredAt: DISPATCHED_AT,
            },
          ],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        cancelling.open();
        expect((await dispatched.result()).status).toBe("DISPATCHED");
        expect((await report(handle, f, "DELIVERED")).status).toBe("DELIVERED");
        return { result: await handle.result(), orderId: id };
      },
    );
    const f = `${orderId}/1`;

    expect(result.status).toBe("COMPLETED");
    expect(result.cancellation?.reason).toBe("CUSTOMER");
    expect(result.fulfillments[0]).toMatchObject({
      status: "DELIVERED",
      payment: { status: "CAPTURED" },
      shipment: { status: "DELIVERED" },
    });
    expect(mocks.inputsOf("cancelShipment")).toEqual([
      { fulfillmentId: f, shipmentId: `ship-${f}` },
    ]);
    expect(mocks.inputsOf("capturePayment")).toEqual([
      { fulfillmentId: f, authorizationId: `auth-${f}`, amountMinor: 1000 + 80 + 499 },
    ]);
    expect(mocks.inputsOf("voidPayment")).toEqual([]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
    expect(notificationKinds(mocks)).toEqual([
      "ORDER_ACCEPTED",
      "SHIPMENT_DISPATCHED",
      "SHIPMENT_DELIVERED",
      "ORDER_COMPLETED",
    ]);
  });

  it("accepts a DISPATCHED reported while the booking is in flight and applies it once booked", async () => {
    const booking = gate();
    const mocks = mockActivities({
      async bookShipment(input) {
        await booking.pass();
        return {
          shipmentId: `ship-${input.fulfillmentId}`,
          courierReference: `CR-${input.fulfillmentId}`,
        };
      },
    });
    const { result, applied } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        const f = `${id}/1`;
        await booking.reached;
        const accepted = await handle.startUpdate(reportShipmentEventUpdate, {
          args: [
            {
              fulfillmentId: f,
              shipmentId: `ship-${f}`,
              event: "DISPATCHED",
              occurredAt: DISPATCHED_AT,
            },
          ],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        // Accepted while nothing of the booking is recorded yet.
        expect(mocks.snapshots.some((s) => fulfillmentIn(s, f)?.shipment.shipmentId)).toBe(false);
        booking.open();
        const fulfillment = await accepted.result();
        await report(handle, f, "DELIVERED");
        return { result: await handle.result(), applied: fulfillment };
      },
    );

    // The reply comes once the booking landed and the dispatch was applied on top of it.
    expect(applied).toMatchObject({
      status: "DISPATCHED",
      shipment: { status: "DISPATCHED", shipmentId: `ship-${applied.fulfillmentId}` },
    });
    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments[0]?.shipment.dispatchTime).toBe(DISPATCHED_AT);
    expect(mocks.calls.map((c) => c.name)).toEqual([
      "reserveInventory",
      "authorizePayment",
      "bookShipment",
      "capturePayment",
    ]);
    expectConsistentSnapshots(mocks, result);
  });

  it("refuses courier events that are out of order or for unknown fulfillments, recording no Update", async () => {
    const run = await refuseCourierEvents(env);
    expectRefusals(run);
    // Unlike a real server (see refused-updates.dev-server.test.ts), the
    // time-skipping test server keeps the workflow task each refused Update
    // ran in: three empty workflow-task events per refusal, nothing else.
    expect(run.written).toEqual(
      Array.from({ length: 3 }, () => [
        "workflowTaskScheduledEventAttributes",
        "workflowTaskStartedEventAttributes",
        "workflowTaskCompletedEventAttributes",
      ]).flat(),
    );
  });

  it("refuses a cancellation once everything is dispatched, and a decision nobody asked for", async () => {
    const mocks = mockActivities();
    const result = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        const f = `${id}/1`;
        await mocks.saved(booked(f));
        await report(handle, f, "DISPATCHED");
        const notCancellable = await cancel(handle).catch((e: unknown) => e);
        expect(notCancellable).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((notCancellable as WorkflowUpdateFailedError).cause).toMatchObject({
          type: WorkflowFailureType.NotCancellable,
        });
        const notAwaiting = await handle
          .executeUpdate(resolveUnavailableItemsUpdate, {
            args: [{ resolution: "PROCEED_WITHOUT_UNAVAILABLE", requestedBy: "customer-1" }],
          })
          .catch((e: unknown) => e);
        expect(notAwaiting).toBeInstanceOf(WorkflowUpdateFailedError);
        expect((notAwaiting as WorkflowUpdateFailedError).cause).toMatchObject({
          type: WorkflowFailureType.NotAwaitingAction,
        });
        await report(handle, f, "DELIVERED");
        return handle.result();
      },
    );

    expect(result.status).toBe("COMPLETED");
    expect(result.cancellation).toBeNull();
    expect(mocks.inputsOf("cancelShipment")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
  });
});
