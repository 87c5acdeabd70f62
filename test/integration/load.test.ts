/**
 * `oms load` end to end: the load generator against a whole system (API,
 * worker, reference services with an instant simulated courier reporting to
 * the system's ShipmentService), in-process through runLoad and as the CLI.
 */
import { randomBytes } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { type LoadResult, runLoad } from "../../src/load/run.js";
import { LOAD_CATALOG_FILE, readCatalogFile } from "../../src/reference-services/index.js";
import { freePort } from "../support/free-port.js";
import { omsLoad, smallLoadArgs } from "../support/oms-load.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

const runId = (name: string) => `${name}-${randomBytes(3).toString("hex")}`;

describe("oms load", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      refs: {
        catalog: readCatalogFile(LOAD_CATALOG_FILE),
        simulatedCourier: {
          dispatchDelayMs: 0,
          deliverDelayMs: 0,
          async reportEvent({ shipmentId, fulfillmentId, event, occurredAt }) {
            await sys.shipments.reportShipmentEvent({
              shipmentId,
              fulfillmentId,
              event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
              occurredAt: timestampFromDate(occurredAt),
            });
          },
        },
      },
    });
  });
  afterAll(() => sys?.stop());

  it("drives a mix of orders to their expected ends and reports them", async () => {
    const progress: number[] = [];
    const result: LoadResult = await runLoad({
      address: sys.url,
      orders: 12,
      concurrency: 4,
      mix: { "two-warehouse": 6, "out-of-stock": 2, cancel: 2, declined: 2 },
      runId: runId("it"),
      timeoutMs: 45_000,
      onProgress: (p) => progress.push(p.done),
    });

    expect(result.errors).toEqual([]);
    expect(result.unexpected).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.accepted).toBe(12);
    expect(result.finalStatuses).toEqual({ COMPLETED: 8, CANCELLED: 2, FAILED: 2 });
    expect(result.kinds).toMatchObject({
      "two-warehouse": { orders: 6, asExpected: 6, expected: "COMPLETED" },
      "out-of-stock": { orders: 2, asExpected: 2, expected: "COMPLETED" },
      cancel: { orders: 2, asExpected: 2, expected: "CANCELLED" },
      declined: { orders: 2, asExpected: 2, expected: "FAILED" },
    });
    expect(result.acceptLatencyMs.count).toBe(12);
    expect(result.endToEndMs.count).toBe(12);
    expect(result.endToEndMs.p50).toBeGreaterThan(0);
    expect(result.endToEndMs.p99).toBeGreaterThanOrEqual(result.endToEndMs.p50 ?? 0);
    expect(result.acceptedPerSecond).toBeGreaterThan(0);
    expect(result.completedPerSecond).toBeGreaterThan(0);
    expect(progress.at(-1)).toBe(12);

    // The kinds do what they say: two fulfillments, and proceeding without the OOS- line.
    const two = (await sys.grpc.getOrder({ orderId: `${result.runId}-1-tw` })).order;
    expect(two?.status).toBe(OrderStatus.COMPLETED);
    expect(two?.fulfillments.map((f) => f.warehouseId).sort()).toEqual(["wh-east", "wh-west"]);
    const oos = (await sys.grpc.listOrders({ customerId: "", pageSize: 100 })).orders.find(
      (o) => o.orderId.startsWith(result.runId) && o.orderId.endsWith("-oos"),
    );
    expect(oos?.status).toBe(OrderStatus.COMPLETED);
    expect(oos?.fulfillments.flatMap((f) => f.items.map((i) => i.sku))).not.toContain("OOS-LOAD");
  });

  it("runs as `oms load --json` with flags only, no configuration", async () => {
    const { code, stdout, stderr } = await omsLoad(
      [...smallLoadArgs(`127.0.0.1:${sys.port}`, runId("cli")), "--json"],
      // A configuration `oms dev` would refuse: `oms load` never reads it.
      { OMS_API_PORT: "not-a-port" },
    );
    expect(stderr).not.toMatch(/invalid configuration/);
    const result = JSON.parse(stdout) as LoadResult;
    expect(result).toMatchObject({
      ok: true,
      orders: 4,
      accepted: 4,
      finalStatuses: { COMPLETED: 2, FAILED: 2 },
      errors: [],
    });
    expect(code).toBe(0);
  });
});

describe("oms load against nothing", () => {
  it("reports RPC errors by code and fails", async () => {
    const port = await freePort();
    const result = await runLoad({
      address: `http://127.0.0.1:${port}`,
      orders: 3,
      concurrency: 2,
      mix: { "two-warehouse": 1 },
      runId: runId("down"),
      timeoutMs: 10_000,
    });
    expect(result.ok).toBe(false);
    expect(result.accepted).toBe(0);
    expect(result.finalStatuses).toEqual({ NOT_ACCEPTED: 3 });
    expect(result.errors).toMatchObject([{ code: "UNAVAILABLE", count: 3 }]);
    expect(result.errors[0]?.sample).toMatch(/^SubmitOrder down-\w+-\d-tw: /);
  });
});
