/**
 * CancelOrderItems in the order workflow (time-skipping test server, mocked
 * activities): partial quantities re-price the fulfillment and release
 * their stock at once, the capture takes only the new total; a fulfillment
 * left empty is compensated; quantities already booked are refused.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CancelOrderItemsRequest,
  cancelOrderItemsUpdate,
  cancelOrderUpdate,
  placeHoldUpdate,
  releaseHoldUpdate,
} from "../../src/workflows/messages.js";
import {
  booked,
  expectConsistentSnapshots,
  gatedMocks,
  type OrderHandle,
  refusal,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

const cancelItems = (
  handle: OrderHandle,
  items: CancelOrderItemsRequest["items"],
  expectedVersion = 0,
) =>
  handle.executeUpdate(cancelOrderItemsUpdate, {
    args: [{ items, expectedVersion, reason: "customer call", requestedBy: "agent" }],
  });

describe("CancelOrderItems in the order workflow (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  it("cancels part of a line: re-priced, its stock released at once, the capture takes the new total", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result, orderId, edited } = await withOrder(
      env,
      mocks.activities,
      {},
      async (handle, id) => {
        await authorizing.reached;
        const edited = await cancelItems(handle, [{ sku: "SKU-100", quantity: 1 }]);
        authorizing.open();
        await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
        return { result: await handle.result(), orderId: id, edited };
      },
    );
    const [east, west] = [`${orderId}/1`, `${orderId}/2`];
    // East: 1 x 1250 + 8% tax 100 + 499 shipping; west unchanged 10111.
    expect(edited.fulfillments.map((f) => f.amounts.totalMinor)).toEqual([1849, 10111]);
    expect(edited.amounts.totalMinor).toBe(1849 + 10111);
    expect(edited.fulfillments[0]?.items).toEqual([
      { sku: "SKU-100", quantity: 1, unitPriceMinor: 1250 },
    ]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([
      {
        orderId,
        warehouseId: "wh-east",
        partial: {
          cancellationId: expect.stringMatching(/^items-v\d+$/),
          lines: [{ sku: "SKU-100", quantity: 1 }],
        },
      },
    ]);
    expect(result.status).toBe("COMPLETED");
    // Authorized before the edit at the old total; captured at the new one, once.
    const captures = mocks.inputsOf("capturePayment");
    expect(captures.find((c) => c.fulfillmentId === east)?.amountMinor).toBe(1849);
    expect(captures.find((c) => c.fulfillmentId === west)?.amountMinor).toBe(10111);
    expect(captures).toHaveLength(2);
    expect(result.fulfillments[0]?.payment).toMatchObject({
      authorizedMinor: 3199,
      capturedMinor: 1849,
    });
    expect(mocks.inputsOf("bookShipment").find((b) => b.fulfillmentId === east)?.items).toEqual([
      { sku: "SKU-100", quantity: 1, unitPriceMinor: 1250 },
    ]);
    expect(timeline(mocks)).toContain(
      `PROCESSING: items cancelled: 1 x SKU-100 (${east}): customer call`,
    );
    expectConsistentSnapshots(mocks, result);
  });

  it("a fulfillment left without lines is compensated; the rest of the order carries on", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await authorizing.reached;
      await cancelItems(handle, [{ sku: "KEYBOARD-MX", quantity: 1 }]);
      authorizing.open();
      await shipAndDeliver(handle, mocks, `${id}/1`);
      return { result: await handle.result(), orderId: id };
    });
    const west = `${orderId}/2`;
    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments[1]).toMatchObject({ status: "CANCELLED", items: [] });
    // Whatever the authorization did meanwhile, it is voided and the warehouse's stock released.
    expect(mocks.inputsOf("bookShipment").map((b) => b.fulfillmentId)).not.toContain(west);
    expect(mocks.inputsOf("releaseInventory")).toContainEqual({ orderId, warehouseId: "wh-west" });
    if (mocks.inputsOf("authorizePayment").some((a) => a.fulfillmentId === west)) {
      expect(mocks.inputsOf("voidPayment")).toEqual([
        { fulfillmentId: west, authorizationId: `auth-${west}` },
      ]);
    }
    expect(result.amounts.totalMinor).toBe(3199);
    expectConsistentSnapshots(mocks, result);
  });

  it("a fulfillment waiting on a hold, left without lines, is compensated at once", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await authorizing.reached;
      await handle.executeUpdate(placeHoldUpdate, {
        args: [{ type: "MANUAL", reason: "", requestedBy: "ops" }],
      });
      authorizing.open();
      await mocks.saved((s) => s.order.fulfillments.every((f) => f.status === "AUTHORIZED"));
      await cancelItems(handle, [{ sku: "KEYBOARD-MX", quantity: 1 }]);
      await mocks.saved((s) => s.order.fulfillments[1]?.status === "CANCELLED");
      await handle.executeUpdate(releaseHoldUpdate, {
        args: [{ holdId: "hold-1", reason: "", requestedBy: "ops" }],
      });
      await shipAndDeliver(handle, mocks, `${id}/1`);
      return { result: await handle.result(), orderId: id };
    });
    expect(result.status).toBe("COMPLETED");
    expect(mocks.inputsOf("voidPayment")).toEqual([
      { fulfillmentId: `${orderId}/2`, authorizationId: `auth-${orderId}/2` },
    ]);
    expectConsistentSnapshots(mocks, result);
  });

  it("cancelling every item cancels the order", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result } = await withOrder(env, mocks.activities, {}, async (handle) => {
      await authorizing.reached;
      await cancelItems(handle, [
        { sku: "SKU-100", quantity: 2 },
        { sku: "KEYBOARD-MX", quantity: 1 },
      ]);
      authorizing.open();
      return { result: await handle.result() };
    });
    expect(result.status).toBe("CANCELLED");
    expect(result.cancellation).toMatchObject({
      reason: "CUSTOMER",
      description: "every item was cancelled",
    });
    expect(mocks.inputsOf("bookShipment")).toEqual([]);
    expectConsistentSnapshots(mocks, result);
  });

  it("refuses booked quantities (naming the fulfillment), unknown or repeated SKUs, and a stale version", async () => {
    const { gate: booking, mocks } = gatedMocks("bookShipment");
    await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await booking.reached;
      booking.open();
      await mocks.saved(booked(`${id}/1`, `${id}/2`));
      expect(await refusal(cancelItems(handle, [{ sku: "SKU-100", quantity: 1 }]))).toEqual({
        type: "ITEMS_NOT_CANCELLABLE",
        message: `only 0 of 1 x SKU-100 can still be cancelled; the rest is in fulfillment(s) ${id}/1, booked with the courier or ended`,
        metadata: { fulfillment_ids: `${id}/1` },
      });
      expect((await refusal(cancelItems(handle, [{ sku: "NOPE", quantity: 1 }]))).message).toBe(
        "only 0 of 1 x NOPE is in fulfillments not yet booked",
      );
      expect(
        (
          await refusal(
            cancelItems(handle, [
              { sku: "SKU-100", quantity: 1 },
              { sku: "SKU-100", quantity: 1 },
            ]),
          )
        ).message,
      ).toBe("SKU-100 is listed twice");
      expect((await refusal(cancelItems(handle, [{ sku: "SKU-100", quantity: 1 }], 1))).type).toBe(
        "ORDER_VERSION_MISMATCH",
      );
      expect(mocks.inputsOf("releaseInventory")).toEqual([]);
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "done", requestedBy: "test" }],
      });
      await handle.result();
    });
  });
});
