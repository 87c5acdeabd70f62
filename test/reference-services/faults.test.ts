import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { TargetService } from "../../gen/faults/v1/fault_service_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { AuthorizationDecision } from "../../gen/payments/v1/payment_service_pb.js";
import { errorReason } from "../../src/reference-services/errors.js";
import { createSeededRandom } from "../../src/reference-services/faults/seeded-random.js";
import { failure } from "../support/failure.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

function authorizeRequest(idempotencyKey = uniqueId("key"), orderId = uniqueId("order")) {
  return {
    idempotencyKey,
    customerId: "cust-1",
    orderId,
    fulfillmentId: `${orderId}/1`,
    amountMinor: 1_000n,
    currencyCode: "EUR",
  };
}

describe("outage", () => {
  it("fails every call of the target with UNAVAILABLE, and only that target", async () => {
    h = await startHarness({ faults: { payments: { outage: true } } });
    const error = await failure(h.payments.authorize(authorizeRequest()));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.metadata.get("fault-injected")).toBe("outage");
    // Even inspection and invalid requests: the service is down.
    expect((await failure(h.payments.listLedger({}))).code).toBe(Code.Unavailable);
    expect((await failure(h.payments.authorize({}))).code).toBe(Code.Unavailable);
    expect(h.services.payments.ledger()).toEqual([]);

    // Other services are up, and the fault service itself is never faulted.
    await h.inventory.getStock({ skus: ["MUG-CLASSIC"] });
    const current = await h.faults.getFaults({ target: TargetService.PAYMENTS });
    expect(current.faults?.outage).toBe(true);

    await h.faults.setFaults({ target: TargetService.PAYMENTS, faults: {} });
    const res = await h.payments.authorize(authorizeRequest());
    expect(res.decision).toBe(AuthorizationDecision.APPROVED);
  });
});

describe("rejected warehouses", () => {
  it("refuses bookings from the listed warehouses before doing any work, and nothing else", async () => {
    h = await startHarness();
    await h.faults.setFaults({
      target: TargetService.SHIPPING,
      faults: { rejectWarehouseIds: ["wh-east"] },
    });
    const book = (warehouseId: string) =>
      h?.shipping.bookShipment({
        idempotencyKey: uniqueId("key"),
        orderId: "o-1",
        fulfillmentId: "o-1/1",
        warehouseId,
        address: { name: "A", line1: "1 Road", city: "London", countryCode: "GB" },
        items: [{ sku: "MUG-CLASSIC", quantity: 1 }],
      });
    const error = await failure(book("wh-east") as Promise<unknown>);
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(errorReason(error)).toBe("WAREHOUSE_REJECTED");
    expect(error.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ warehouse_id: "wh-east" });
    expect(h.services.shipping.list({ orderId: "o-1" })).toEqual([]);
    expect((await book("wh-west"))?.shipmentId).toBeTruthy();
    const invalid = await failure(
      h.faults.setFaults({ target: TargetService.SHIPPING, faults: { rejectWarehouseIds: [""] } }),
    );
    expect(invalid.code).toBe(Code.InvalidArgument);
  });
});

describe("error rate", () => {
  it("fails calls before doing any work", async () => {
    h = await startHarness();
    await h.faults.setFaults({ target: TargetService.INVENTORY, faults: { errorRate: 1 } });
    const orderId = uniqueId("order");
    const error = await failure(
      h.inventory.reserve({
        idempotencyKey: uniqueId("key"),
        orderId,
        lines: [{ sku: "MUG-CLASSIC", quantity: 3 }],
      }),
    );
    expect(error.code).toBe(Code.Unavailable);
    expect(error.metadata.get("fault-injected")).toBe("error-rate");
    expect(h.services.inventory.heldBy(orderId)).toEqual([]);
    expect(h.services.inventory.available("wh-east", "MUG-CLASSIC")).toBe(500);
  });

  it("fails about the given fraction of calls, repeatably with a seed", async () => {
    const outcomes = async (seed: number): Promise<string> => {
      const harness = await startHarness({
        random: createSeededRandom(seed),
        faults: { notifications: { errorRate: 0.5 } },
      });
      try {
        let result = "";
        for (let i = 0; i < 40; i++) {
          const ok = await harness.notifications.listSent({}).then(
            () => true,
            () => false,
          );
          result += ok ? "." : "x";
        }
        return result;
      } finally {
        await harness.stop();
      }
    };
    const first = await outcomes(7);
    expect(await outcomes(7)).toBe(first);
    const failures = [...first].filter((c) => c === "x").length;
    expect(failures).toBeGreaterThan(8);
    expect(failures).toBeLessThan(32);
  });
});

describe("added latency", () => {
  it("delays calls, so short client deadlines expire", async () => {
    h = await startHarness({ faults: { shipping: { addedLatencyMs: 150 } } });
    const started = Date.now();
    const error = await failure(h.shipping.getShipment({ shipmentId: "shp_x" }));
    expect(error.code).toBe(Code.NotFound); // the call itself ran, late
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    const timedOut = await failure(
      h.shipping.getShipment({ shipmentId: "shp_x" }, { timeoutMs: 30 }),
    );
    expect(timedOut.code).toBe(Code.DeadlineExceeded);

    await h.faults.setFaults({
      target: TargetService.SHIPPING,
      faults: { addedLatency: durationFromMs(1_500) },
    });
    const { faults } = await h.faults.getFaults({ target: TargetService.SHIPPING });
    expect(faults?.addedLatency).toMatchObject({ seconds: 1n, nanos: 500_000_000 });
  });
});

describe("lose response", () => {
  it("does the work, fails the call, and the retry with the same key returns the first result", async () => {
    h = await startHarness({ faults: { payments: { loseResponseRate: 1 } } });
    const orderId = uniqueId("order");
    const request = authorizeRequest(`${orderId}/1/authorize`, orderId);

    const lost = await failure(h.payments.authorize(request));
    expect(lost.code).toBe(Code.Unavailable);
    expect(lost.metadata.get("fault-injected")).toBe("lose-response");
    // The money moved even though the caller was told the call failed.
    expect(h.services.payments.ledger({ orderId })).toHaveLength(1);

    await h.faults.setFaults({ target: TargetService.PAYMENTS, faults: {} });
    const retried = await h.payments.authorize(request);
    expect(retried.decision).toBe(AuthorizationDecision.APPROVED);
    const { entries } = await h.payments.listLedger({ orderId });
    expect(entries).toHaveLength(1);
    expect(entries[0]?.authorizationId).toBe(retried.authorizationId);
  });

  it("charges once while a client retries through lost responses", async () => {
    h = await startHarness({
      random: createSeededRandom(1),
      faults: { payments: { loseResponseRate: 0.7 } },
    });
    const orderId = uniqueId("order");
    const request = authorizeRequest(`${orderId}/1/authorize`, orderId);
    let lost = 0;
    let authorizationId: string | undefined;
    for (let attempt = 0; attempt < 50 && authorizationId === undefined; attempt++) {
      try {
        authorizationId = (await h.payments.authorize(request)).authorizationId;
      } catch (error) {
        expect(ConnectError.from(error).code).toBe(Code.Unavailable);
        lost++;
      }
    }
    expect(lost).toBeGreaterThan(0);
    expect(authorizationId).toBeDefined();
    const ledger = h.services.payments.ledger({ orderId });
    expect(ledger).toHaveLength(1);
    expect(ledger[0]?.authorizationId).toBe(authorizationId);
  });
});

describe("FaultService", () => {
  it("validates its requests", async () => {
    h = await startHarness();
    const badRate = await failure(
      h.faults.setFaults({ target: TargetService.PAYMENTS, faults: { errorRate: 1.5 } }),
    );
    expect(badRate.code).toBe(Code.InvalidArgument);
    const noTarget = await failure(h.faults.setFaults({ faults: { outage: true } }));
    expect(noTarget.code).toBe(Code.InvalidArgument);
    expect(h.services.faults.get("payments").outage).toBe(false);
  });

  it("reports the faults configured at start", async () => {
    h = await startHarness({
      faults: { inventory: { errorRate: 0.25, addedLatencyMs: 10, loseResponseRate: 0.1 } },
    });
    const { faults } = await h.faults.getFaults({ target: TargetService.INVENTORY });
    expect(faults).toMatchObject({ errorRate: 0.25, loseResponseRate: 0.1, outage: false });
    expect(faults?.addedLatency).toMatchObject({ seconds: 0n, nanos: 10_000_000 });
  });
});
