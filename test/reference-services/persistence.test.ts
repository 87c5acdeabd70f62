/**
 * The reference services keep their state in a SQLite file: stopped and
 * started again on the same file (or killed mid-operation), they have the
 * same ledger, idempotency keys, stock, holds, shipments and notifications,
 * and the simulated courier carries on where it was.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { NotificationTemplate } from "../../gen/notifications/v1/notification_service_pb.js";
import { AuthorizationStatus, LedgerOperation } from "../../gen/payments/v1/payment_service_pb.js";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_service_pb.js";
import { errorReason } from "../../src/reference-services/errors.js";
import { createIdempotencyStore } from "../../src/reference-services/idempotency.js";
import { loadDefaultCatalog } from "../../src/reference-services/inventory/catalog.js";
import { createPaymentStore } from "../../src/reference-services/payments/payment-store.js";
import { createReferenceServiceState } from "../../src/reference-services/server.js";
import type { ShipmentEventReport } from "../../src/reference-services/shipping/simulated-courier.js";
import { openReferenceState } from "../../src/reference-services/state.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

const root = path.resolve(import.meta.dirname, "../..");
let dir: string;
let file: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "oms-refs-state-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** Stops the services and starts them again on the same state file. */
async function restart(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  await h?.stop();
  h = await startHarness({ stateFile: file, ...options });
  return h;
}

/** Allocations as plain data, without the messages' type names. */
const plain = (
  allocations: readonly {
    warehouseId: string;
    lines: readonly { sku: string; quantity: number }[];
  }[],
) =>
  allocations.map(({ warehouseId, lines }) => ({
    warehouseId,
    lines: lines.map(({ sku, quantity }) => ({ sku, quantity })),
  }));

const address = { name: "Ada", line1: "1 Main St", city: "Springfield", countryCode: "US" };

/** Books one shipment for the order's first fulfillment, under a key of its own. */
const book = (s: Harness, orderId: string) =>
  s.shipping.bookShipment({
    idempotencyKey: `${orderId}/1/book`,
    orderId,
    fulfillmentId: `${orderId}/1`,
    warehouseId: "wh-east",
    address,
    items: [{ sku: "MUG-CLASSIC", quantity: 1 }],
  });

describe("a state file", () => {
  beforeAll(() => {
    file = path.join(dir, "services.sqlite");
  });

  it("keeps the ledger and idempotency keys: a repeated Authorize after a restart authorizes once", async () => {
    const orderId = uniqueId("order");
    const request = {
      idempotencyKey: `${orderId}/1/authorize`,
      customerId: uniqueId("cust"),
      orderId,
      fulfillmentId: `${orderId}/1`,
      amountMinor: 4_200n,
      currencyCode: "USD",
    };
    let s = await restart();
    const first = await s.payments.authorize(request);
    await s.payments.capture({
      idempotencyKey: `${orderId}/1/capture`,
      authorizationId: first.authorizationId,
      amountMinor: 4_000n,
    });

    s = await restart();
    expect(await s.payments.authorize(request)).toEqual(first);
    const reused = await s.payments.authorize({ ...request, amountMinor: 1n }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(reused).toBeInstanceOf(ConnectError);
    expect([(reused as ConnectError).code, errorReason(reused)]).toEqual([
      Code.AlreadyExists,
      "IDEMPOTENCY_KEY_REUSED",
    ]);
    const { entries } = await s.payments.listLedger({ orderId });
    expect(entries.map((e) => [LedgerOperation[e.operation], e.amountMinor])).toEqual([
      ["AUTHORIZE", 4_200n],
      ["CAPTURE", 4_000n],
    ]);
    const { authorization } = await s.payments.getAuthorization({
      authorizationId: first.authorizationId,
    });
    expect(authorization).toMatchObject({
      status: AuthorizationStatus.CAPTURED,
      capturedMinor: 4_000n,
      createTime: first.authorization?.createTime,
    });
    // The exposure against the spending limit counts the authorization from before.
    expect(s.services.payments.exposure(request.customerId)).toBe(4_000n);
  });

  it("keeps stock and holds: a hold taken before a restart is released after it", async () => {
    const orderId = uniqueId("order");
    let s = await restart();
    const before = s.services.inventory.available("wh-east", "MUG-CLASSIC");
    const reserved = await s.inventory.reserve({
      idempotencyKey: `${orderId}/reserve`,
      orderId,
      lines: [{ sku: "MUG-CLASSIC", quantity: 3 }],
    });
    const allocations = plain(reserved.allocations);
    expect(allocations).toEqual([
      { warehouseId: "wh-east", lines: [{ sku: "MUG-CLASSIC", quantity: 3 }] },
    ]);

    s = await restart();
    expect(s.services.inventory.available("wh-east", "MUG-CLASSIC")).toBe(before - 3);
    expect(s.services.inventory.heldBy(orderId)).toEqual(allocations);
    const { levels } = await s.inventory.getStock({ skus: ["MUG-CLASSIC"] });
    expect(levels.find((l) => l.warehouseId === "wh-east")?.reservedQuantity).toBeGreaterThan(2);
    // The reservation's key still answers with the first result, taking nothing more.
    const again = await s.inventory.reserve({
      idempotencyKey: `${orderId}/reserve`,
      orderId,
      lines: [{ sku: "MUG-CLASSIC", quantity: 3 }],
    });
    expect(plain(again.allocations)).toEqual(allocations);
    expect(s.services.inventory.available("wh-east", "MUG-CLASSIC")).toBe(before - 3);

    const released = await s.inventory.release({ idempotencyKey: `${orderId}/release`, orderId });
    expect(plain(released.released)).toEqual(allocations);
    s = await restart();
    expect(s.services.inventory.available("wh-east", "MUG-CLASSIC")).toBe(before);
    expect(s.services.inventory.heldBy(orderId)).toEqual([]);
  });

  it("keeps shipments and sent notifications", async () => {
    const orderId = uniqueId("order");
    let s = await restart();
    const booked = await book(s, orderId);
    s.services.shipping.dispatch(booked.shipmentId);
    await s.notifications.send({
      idempotencyKey: `${orderId}/accepted`,
      customerId: "c-1",
      orderId,
      template: NotificationTemplate.ORDER_ACCEPTED,
      data: { total: "1.00 USD" },
    });

    s = await restart();
    const { shipment } = await s.shipping.getShipment({ shipmentId: booked.shipmentId });
    expect(shipment).toMatchObject({
      status: ShipmentStatus.DISPATCHED,
      courierReference: booked.courierReference,
      address,
      bookTime: booked.shipment?.bookTime,
    });
    const rebooked = await book(s, orderId);
    expect(rebooked.shipmentId).toBe(booked.shipmentId);
    expect(s.services.shipping.list({ orderId })).toHaveLength(1);
    expect(s.services.notifications.list({ orderId })).toMatchObject([
      { template: "ORDER_ACCEPTED", data: { total: "1.00 USD" } },
    ]);
  });

  it("refuses to stock from another catalog than the one it was stocked from", async () => {
    await restart();
    await h?.stop();
    h = undefined;
    const catalog = loadDefaultCatalog();
    const other = { ...catalog, stock: { ...catalog.stock, "NEW-SKU": { "wh-east": 1 } } };
    await expect(startHarness({ stateFile: file, catalog: other })).rejects.toThrow(
      /stocked from another catalog/,
    );
    // Refused before it held the file: the same catalog still opens it.
    await restart({ catalog });
  });

  it("is refused to a second user while open", async () => {
    await restart();
    expect(() => openReferenceState(file)).toThrow(/locked/);
  });
});

describe("one transaction per operation", () => {
  it("keeps nothing of a call that failed after changing the state", () => {
    const stateFile = path.join(dir, `rollback-${uniqueId("f")}.sqlite`);
    const state = openReferenceState(stateFile);
    const payments = createPaymentStore({ state });
    const idempotency = createIdempotencyStore("payments.v1.PaymentService", state);
    const input = {
      idempotencyKey: "k-1",
      customerId: "c-1",
      orderId: "o-1",
      fulfillmentId: "o-1/1",
      amountMinor: 100n,
      currencyCode: "USD",
    };
    expect(() =>
      idempotency.run("k-1", "fp", () => {
        payments.authorize(input);
        throw new Error("the response could not be built");
      }),
    ).toThrow("could not be built");
    expect(payments.ledger()).toEqual([]);
    expect(payments.exposure("c-1")).toBe(0n);
    expect(idempotency.size).toBe(0);
    // What did commit, commits whole.
    const auth = idempotency.run("k-2", "fp", () => payments.authorize(input));
    state.close();

    const reopened = openReferenceState(stateFile);
    const again = createPaymentStore({ state: reopened });
    expect(again.ledger().map((e) => [e.operation, e.idempotencyKey])).toEqual([
      ["AUTHORIZE", "k-1"],
    ]);
    expect(again.get(auth.authorizationId)).toEqual(auth);
    const replayed = createIdempotencyStore("payments.v1.PaymentService", reopened);
    expect(replayed.size).toBe(1);
    expect(replayed.run("k-2", "fp", () => "performed again")).toEqual(auth);
    reopened.close();
  });

  it("never has a ledger entry without its idempotency record, however the process is killed", {
    timeout: 120_000,
  }, async () => {
    const stateFile = path.join(dir, `killed-${uniqueId("f")}.sqlite`);
    for (let round = 0; round < 4; round++) {
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "test/reference-services/fixtures/payments-loop.ts", stateFile],
        { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
      );
      const exited = once(child, "exit");
      // Killed at a different point each round: after 1 to 4 progress lines.
      const lines = 1 + round;
      let seen = 0;
      await new Promise<void>((resolve) => {
        child.stdout?.on("data", (chunk: Buffer) => {
          seen += chunk.toString().split("\n").length - 1;
          if (seen >= lines) resolve();
        });
        void exited.then(() => resolve());
      });
      child.kill("SIGKILL");
      await exited;
    }

    const state = createReferenceServiceState({ stateFile });
    const ledger = state.payments.ledger();
    const results = state.state.map<{ result: { authorizationId?: string } }>(
      "idempotency_results",
    );
    const keys = new Set(
      [...results.keys()].map((k) => k.replace("payments.v1.PaymentService ", "")),
    );
    expect(ledger.length).toBeGreaterThan(100);
    // Every entry has its idempotency record, and every record its one entry.
    expect(new Set(ledger.map((e) => e.idempotencyKey))).toEqual(keys);
    expect(ledger).toHaveLength(keys.size);
    const authorizations = ledger.filter((e) => e.operation === "AUTHORIZE");
    expect(new Set(authorizations.map((e) => e.orderId)).size).toBe(authorizations.length);
    for (const e of ledger.filter((e) => e.operation === "CAPTURE")) {
      expect(state.payments.get(e.authorizationId)?.status).toBe("CAPTURED");
    }
    state.state.close();
  });
});

describe("the simulated courier over a state file", () => {
  beforeAll(() => {
    file = path.join(dir, "courier.sqlite");
  });

  /** Collects reported events; `failing` ones are refused (not acknowledged). */
  function createShipper(failing = false) {
    const events: string[] = [];
    let arrived: () => void = () => {};
    return {
      events,
      async reportEvent(e: ShipmentEventReport) {
        if (failing) throw new Error("the OMS is down");
        events.push(`${e.shipmentId} ${e.event}`);
        arrived();
      },
      async waitFor(count: number) {
        while (events.length < count) {
          await new Promise<void>((resolve) => {
            arrived = resolve;
          });
        }
      },
    };
  }

  it("resumes booked shipments and reports again what was not acknowledged", async () => {
    // A courier that would pick up only in an hour, stopped with one booking waiting.
    let s = await restart({
      simulatedCourier: { dispatchDelayMs: 3_600_000, deliverDelayMs: 0 },
    });
    const waiting = await book(s, uniqueId("order"));
    // One whose DISPATCHED report the shipper never accepted.
    const down = createShipper(true);
    s = await restart({
      simulatedCourier: {
        dispatchDelayMs: 0,
        deliverDelayMs: 3_600_000,
        reportEvent: down.reportEvent,
        maxReportAttempts: 1,
      },
      // It gives up reporting, as this test wants: no need to read about it.
      logger: pino({ level: "silent" }),
    });
    const unreported = await book(s, uniqueId("order"));
    // The first booking was due long ago for this courier: both get picked up.
    await expect
      .poll(() => s.services.shipping.list().filter((x) => x.status === "DISPATCHED").length)
      .toBeGreaterThanOrEqual(2);

    const shipper = createShipper();
    s = await restart({
      simulatedCourier: { dispatchDelayMs: 0, deliverDelayMs: 0, reportEvent: shipper.reportEvent },
    });
    await shipper.waitFor(4);
    expect(shipper.events.sort()).toEqual(
      [
        `${waiting.shipmentId} DELIVERED`,
        `${waiting.shipmentId} DISPATCHED`,
        `${unreported.shipmentId} DELIVERED`,
        `${unreported.shipmentId} DISPATCHED`,
      ].sort(),
    );
    expect(s.services.shipping.get(waiting.shipmentId)?.status).toBe("DELIVERED");

    // Every report is saved as acknowledged: a courier started again has nothing to report.
    const reports = s.services.state.map<{ acknowledged: boolean }>("courier_reports");
    await expect.poll(() => [...reports.values()].filter((r) => r.acknowledged).length).toBe(4);
    expect(reports.size).toBe(4);
  });
});
