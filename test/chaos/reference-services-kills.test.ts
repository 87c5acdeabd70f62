/**
 * The downstream services die too: orders run through the OMS while the
 * `oms reference-services` process (payments, inventory, shipping with its
 * simulated courier, notifications) is SIGKILLed and started again on the
 * same port and state file. Every order ends as it should, and the payments
 * ledger, read from the process that is running at the end, moved money once:
 * one AUTHORIZE (or DECLINE) per fulfillment and one CAPTURE.
 */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, type Order, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { LedgerOperation, PaymentService } from "../../gen/payments/v1/payment_service_pb.js";
import { freePort } from "../support/free-port.js";
import { twoWarehouses } from "../support/orders.js";
import {
  type ReferenceServicesProcess,
  spawnReferenceServices,
} from "../support/reference-services-process.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";
import { submitWavesKillingWorker } from "../support/worker-process.js";

const root = path.resolve(import.meta.dirname, "../..");
const ENDED = [OrderStatus.COMPLETED, OrderStatus.FAILED];

describe("the reference services process is killed while orders run", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "oms-refs-kills-"));
  const stateFile = path.join(dir, "reference-services.sqlite");
  let sys: TestSystem;
  let refsUrl: string;
  let refs: ReferenceServicesProcess | undefined;
  let start: () => void;
  let kills = 0;

  /** SIGKILLs the running process and starts another on the same port and file. */
  const killAndRestart = async () => {
    const dying = refs?.child;
    if (dying === undefined) throw new Error("no reference services process");
    const exited = once(dying, "exit");
    dying.kill("SIGKILL");
    await exited;
    kills++;
    start();
  };

  beforeAll(async () => {
    // The process runs the compiled code, as a deployment does.
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
    const port = await freePort();
    refsUrl = `http://127.0.0.1:${port}`;
    // The worker calls the process; until it listens, its calls fail and are retried.
    sys = await startTestSystem({
      env: {
        OMS_INVENTORY_URL: refsUrl,
        OMS_PAYMENTS_URL: refsUrl,
        OMS_SHIPPING_URL: refsUrl,
        OMS_NOTIFICATIONS_URL: refsUrl,
      },
    });
    start = () => {
      refs = spawnReferenceServices(port, stateFile, sys.url, {
        // Short enough to run many orders, long enough that kills land with
        // shipments booked and dispatched, and reports in flight.
        OMS_COURIER_DISPATCH_DELAY_MS: "400",
        OMS_COURIER_DELIVERY_DELAY_MS: "400",
      });
    };
    start();
    await refs?.ready;
  }, 180_000);

  afterAll(async () => {
    refs?.child.kill("SIGKILL");
    await sys?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Bounds, not durations: every wait returns the moment its event happens.
  it("ends every order as expected and moves money once per fulfillment", {
    timeout: 600_000,
  }, async () => {
    const orders = Array.from({ length: 12 }, (_, i) =>
      // Every fourth customer's card is declined: those orders fail, with a DECLINE each.
      twoWarehouses(i % 4 === 3 ? `declined-${i}` : `customer-${i}`),
    );
    const declined = (customerId: string) => customerId.startsWith("declined-");
    const waves = [orders.slice(0, 4), orders.slice(4, 8), orders.slice(8)];
    // In each wave: killed the moment its first order has a booking, while the
    // others' reservations, authorizations, bookings and courier reports are in flight.
    await submitWavesKillingWorker(
      sys,
      waves,
      { current: () => refs?.child, restart: start },
      180_000,
    );
    // Once more while the courier has shipments on their way.
    await waitForOrder(
      sys,
      (orders[8] as (typeof orders)[number]).orderId,
      (o) =>
        ENDED.includes(o.status) ||
        o.fulfillments.some((f) => f.status === FulfillmentStatus.DISPATCHED),
      180_000,
    );
    await killAndRestart();

    const ended: Order[] = [];
    for (const req of orders) {
      ended.push(await waitForOrder(sys, req.orderId, (o) => ENDED.includes(o.status), 180_000));
    }
    await refs?.ready;
    const payments = createClient(PaymentService, createGrpcTransport({ baseUrl: refsUrl }));
    const summary: string[] = [];
    for (const [i, order] of ended.entries()) {
      const req = orders[i] as (typeof orders)[number];
      const { entries } = await payments.listLedger({ orderId: req.orderId });
      const byFulfillment = new Map<string, string[]>();
      for (const e of entries) {
        byFulfillment.set(e.fulfillmentId, [
          ...(byFulfillment.get(e.fulfillmentId) ?? []),
          LedgerOperation[e.operation],
        ]);
      }
      const expected = declined(req.customerId)
        ? { status: "FAILED", ledger: ["DECLINE"] }
        : { status: "COMPLETED", ledger: ["AUTHORIZE", "CAPTURE"] };
      expect(OrderStatus[order.status], req.orderId).toBe(expected.status);
      expect([...byFulfillment.keys()].sort()).toEqual(
        order.fulfillments.map((f) => f.fulfillmentId).sort(),
      );
      for (const ops of byFulfillment.values()) expect(ops).toEqual(expected.ledger);
      if (!declined(req.customerId)) {
        expect(order.fulfillments.map((f) => FulfillmentStatus[f.status])).toEqual([
          "DELIVERED",
          "DELIVERED",
        ]);
      }
      summary.push(`${OrderStatus[order.status]} ${entries.length} ledger entries`);
    }
    // The summary a reader of the test output wants (kills counts the extra one;
    // submitWavesKillingWorker's three are not counted there).
    process.stdout.write(
      `reference services killed ${kills + waves.length} times; ${orders.length} orders: ${summary.join(", ")}\n`,
    );
  });
});
