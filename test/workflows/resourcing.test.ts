/**
 * Re-sourcing in the order workflow, on the time-skipping test server with
 * mocked activities: a warehouse that rejects the fulfillment, a booking
 * that keeps failing past the bound, no other warehouse with stock (as
 * before: a rejection fails, a failing booking goes on), and the bound on
 * re-sourcing attempts.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Activities } from "../../src/activities/index.js";
import { WAREHOUSE_REJECTED } from "../../src/domain/resourcing.js";
import {
  expectConsistentSnapshots,
  type Mocks,
  mockActivities,
  ONE_WAREHOUSE,
  permanent,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

/** Where the mocked inventory has the lines when the first choice is excluded, in preference order. */
const OTHERS = ["wh-central", "wh-west"];

/** Reserves at the first warehouse of `others` not excluded (none: nothing available). */
const reserveElsewhere =
  (others = OTHERS): Activities["reserveInventory"] =>
  async (input) => {
    if (input.resourcing === undefined) {
      return { allocations: [{ warehouseId: "wh-east", items: input.items }], unavailable: [] };
    }
    const warehouseId = others.find((w) => !input.resourcing?.excludeWarehouseIds.includes(w));
    return warehouseId === undefined
      ? { allocations: [], unavailable: input.items }
      : { allocations: [{ warehouseId, items: input.items }], unavailable: [] };
  };

/** Bookings from these warehouses are rejected; others succeed. */
const rejecting =
  (...warehouses: string[]): Activities["bookShipment"] =>
  async (input) => {
    if (warehouses.includes(input.warehouseId)) {
      throw permanent(
        WAREHOUSE_REJECTED,
        `shipping: warehouse "${input.warehouseId}" rejected the fulfillment`,
      );
    }
    return {
      shipmentId: `ship-${input.fulfillmentId}`,
      courierReference: `CR-${input.fulfillmentId}`,
    };
  };

const POLICY = { maxAttempts: 2, bookingMaxAttempts: 3 };

describe("re-sourcing (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  /** Runs a one-line order under POLICY; the courier ships and delivers fulfillment n (if given). */
  const runOrder = (mocks: Mocks, deliver?: number) =>
    withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE, resourcing: POLICY },
      async (handle, id) => {
        if (deliver !== undefined) await shipAndDeliver(handle, mocks, `${id}/${deliver}`);
        return handle.result();
      },
    );

  it("re-sources the lines of a fulfillment its warehouse rejects, and completes there", async () => {
    const mocks = mockActivities({
      reserveInventory: reserveElsewhere(),
      bookShipment: rejecting("wh-east"),
    });
    const result = await runOrder(mocks, 2);
    const [first, second] = [`${result.orderId}/1`, `${result.orderId}/2`];
    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments.map((f) => [f.fulfillmentId, f.warehouseId, f.status])).toEqual([
      [first, "wh-east", "CANCELLED"],
      [second, "wh-central", "DELIVERED"],
    ]);
    const [moved, kept] = result.fulfillments;
    expect(moved?.items).toEqual([]);
    expect(moved?.amounts.totalMinor).toBe(0);
    expect(moved?.payment.status).toBe("VOIDED");
    expect(kept?.items).toEqual(ONE_WAREHOUSE);
    expect(result.amounts).toEqual(kept?.amounts);
    expect(kept?.payment).toMatchObject({
      status: "CAPTURED",
      capturedMinor: kept?.amounts.totalMinor,
    });
    // Reserved elsewhere under its own key, excluding the rejecting warehouse; released there once.
    expect(mocks.inputsOf("reserveInventory")[1]).toEqual({
      orderId: result.orderId,
      items: ONE_WAREHOUSE,
      resourcing: { fulfillmentId: first, excludeWarehouseIds: ["wh-east"] },
    });
    expect(mocks.inputsOf("releaseInventory")).toEqual([
      { orderId: result.orderId, warehouseId: "wh-east" },
    ]);
    expect(mocks.inputsOf("authorizePayment").map((a) => a.fulfillmentId)).toEqual([first, second]);
    expect(mocks.inputsOf("voidPayment").map((v) => v.fulfillmentId)).toEqual([first]);
    expect(mocks.inputsOf("capturePayment").map((c) => c.fulfillmentId)).toEqual([second]);
    expect(timeline(mocks)).toContain(
      `PROCESSING: ${first} (wh-east) re-sourced (attempt 1 of 2): shipping: warehouse "wh-east" rejected the fulfillment; 1 x SKU-1 now from ${second} (wh-central)`,
    );
    expect(moved?.statusReason).toBe(
      `re-sourced to ${second} (wh-central): shipping: warehouse "wh-east" rejected the fulfillment`,
    );
    expectConsistentSnapshots(mocks, result);
  });

  it("re-sources when the courier booking keeps failing past the bound", async () => {
    const mocks = mockActivities({
      reserveInventory: reserveElsewhere(),
      bookShipment: async (input) => {
        if (input.warehouseId === "wh-east") throw new Error("shipping: courier system down");
        return { shipmentId: `ship-${input.fulfillmentId}`, courierReference: "CR" };
      },
    });
    const result = await runOrder(mocks, 2);
    expect(result.status).toBe("COMPLETED");
    const east = mocks.calls.filter(
      (c) =>
        c.name === "bookShipment" && (c.input as { warehouseId: string }).warehouseId === "wh-east",
    );
    expect(east.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(result.fulfillments.map((f) => f.status)).toEqual(["CANCELLED", "DELIVERED"]);
    expect(
      timeline(mocks).some((e) =>
        e.includes(
          "re-sourced (attempt 1 of 2): the courier booking kept failing: shipping: courier system down",
        ),
      ),
    ).toBe(true);
  });

  it("a rejection with no other warehouse in stock fails the fulfillment, as before", async () => {
    const mocks = mockActivities({
      reserveInventory: reserveElsewhere([]),
      bookShipment: rejecting("wh-east"),
    });
    const result = await runOrder(mocks);
    expect(result.status).toBe("FAILED");
    expect(result.fulfillments).toHaveLength(1);
    expect(result.fulfillments[0]).toMatchObject({
      status: "FAILED",
      statusReason: 'shipping: warehouse "wh-east" rejected the fulfillment',
      payment: { status: "VOIDED" },
    });
    expect(timeline(mocks)).toContain(
      `PROCESSING: re-sourcing ${result.orderId}/1 (attempt 1 of 2): no other warehouse has 1 x SKU-1`,
    );
  });

  it("a booking failing past the bound with nowhere else to go keeps trying where it is", async () => {
    let failures = 5;
    const mocks = mockActivities({
      reserveInventory: reserveElsewhere([]),
      bookShipment: async (input) => {
        if (failures-- > 0) throw new Error("shipping: courier system down");
        return { shipmentId: `ship-${input.fulfillmentId}`, courierReference: "CR" };
      },
    });
    const result = await runOrder(mocks, 1);
    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments).toHaveLength(1);
    // 3 bounded attempts, then unbounded ones until the sixth call succeeds.
    expect(mocks.calls.filter((c) => c.name === "bookShipment").map((c) => c.attempt)).toEqual([
      1, 2, 3, 1, 2, 3,
    ]);
  });

  it("re-sources at most maxAttempts times in a row", async () => {
    const mocks = mockActivities({
      reserveInventory: reserveElsewhere(),
      bookShipment: rejecting("wh-east", "wh-central", "wh-west"),
    });
    const result = await runOrder(mocks);
    expect(result.status).toBe("FAILED");
    expect(result.fulfillments.map((f) => [f.warehouseId, f.status])).toEqual([
      ["wh-east", "CANCELLED"],
      ["wh-central", "CANCELLED"],
      ["wh-west", "FAILED"],
    ]);
    expect(
      mocks.inputsOf("reserveInventory").map((r) => r.resourcing?.excludeWarehouseIds),
    ).toEqual([undefined, ["wh-east"], ["wh-east", "wh-central"]]);
    // Every authorization voided, every warehouse's stock released once.
    expect(mocks.inputsOf("voidPayment")).toHaveLength(3);
    expect(
      mocks
        .inputsOf("releaseInventory")
        .map((r) => r.warehouseId)
        .sort(),
    ).toEqual(["wh-central", "wh-east", "wh-west"]);
    expect(timeline(mocks).filter((e) => e.includes("re-sourced (attempt"))).toHaveLength(2);
    expectConsistentSnapshots(mocks, result);
  });
});
