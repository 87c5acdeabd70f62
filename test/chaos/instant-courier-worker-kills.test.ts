/**
 * A courier that reports the instant the shipping service books, while the
 * worker process is SIGKILLed and restarted: every courier event reaches its
 * order (routed by the booking's reference, never refused as NOT_FOUND or out
 * of order), no order is stuck, and no money moves twice.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import type { SubmitOrderRequest } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";
import { ledgerByFulfillment } from "./observe.js";

const root = path.resolve(import.meta.dirname, "../..");
const ORDERS = 12;

describe("an instant courier while the worker is killed", () => {
  let sys: TestSystem;
  const refused: string[] = [];
  let worker: ChildProcess | undefined;

  const startWorkerProcess = () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cmd/oms.ts", "worker"], {
      cwd: root,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: sys.config.temporal.address,
        TEMPORAL_NAMESPACE: sys.config.temporal.namespace,
        OMS_TASK_QUEUE: sys.config.temporal.taskQueue,
        OMS_DATA_DIR: sys.config.dataDir,
        OMS_CACHE_DIR: sys.config.cacheDir,
        OMS_INVENTORY_URL: sys.refs.url,
        OMS_PAYMENTS_URL: sys.refs.url,
        OMS_SHIPPING_URL: sys.refs.url,
        OMS_NOTIFICATIONS_URL: sys.refs.url,
        OMS_LOG_LEVEL: "warn",
        // The test system's API and worker store plain payloads.
        OMS_PAYLOAD_KEYS: "none",
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    worker = child;
  };

  beforeAll(async () => {
    sys = await startTestSystem({
      refs: {
        simulatedCourier: {
          dispatchDelayMs: 0,
          deliverDelayMs: 0,
          retryDelayMs: 50,
          maxReportAttempts: 1_000,
          reportEvent: async ({ shipmentId, fulfillmentId, event, occurredAt }) => {
            try {
              await sys.shipments.reportShipmentEvent({
                shipmentId,
                fulfillmentId,
                event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
                occurredAt: timestampFromDate(occurredAt),
              });
            } catch (err) {
              const code = ConnectError.from(err).code;
              // Retryable answers are the courier's to retry; these would lose the event.
              if (code === Code.NotFound || code === Code.FailedPrecondition) {
                refused.push(`${fulfillmentId} ${event}: ${String(err)}`);
              }
              throw err;
            }
          },
        },
      },
    });
    // The workflows run in a separate process that this test kills.
    await sys.stopWorker();
    startWorkerProcess();
  });

  afterAll(async () => {
    worker?.kill("SIGKILL");
    await sys?.stop();
  });

  it("completes every order, routes every event, and moves money once", {
    timeout: 120_000,
  }, async () => {
    // Three waves; in each, the worker is killed the moment the wave's first
    // booking shows, while the others' bookings and courier events are in flight.
    const orders = Array.from({ length: ORDERS }, () => twoWarehouses());
    const waves = [orders.slice(0, 4), orders.slice(4, 8), orders.slice(8)];
    for (const wave of waves) {
      const [first, ...rest] = wave as [SubmitOrderRequest, ...SubmitOrderRequest[]];
      await sys.grpc.submitOrder(first);
      const submitted = Promise.all(rest.map((req) => sys.grpc.submitOrder(req)));
      await waitForOrder(sys, first.orderId, (o) =>
        o.fulfillments.some((f) => (f.shipment?.shipmentId ?? "") !== ""),
      );
      const dying = worker as ChildProcess;
      const exited = once(dying, "exit");
      dying.kill("SIGKILL");
      await exited;
      startWorkerProcess();
      await submitted;
    }

    for (const req of orders) {
      const done = await waitForOrder(
        sys,
        req.orderId,
        (o) => o.status === OrderStatus.COMPLETED,
        90_000,
      );
      expect(done.fulfillments.map((f) => FulfillmentStatus[f.status])).toEqual([
        "DELIVERED",
        "DELIVERED",
      ]);
      for (const ops of Object.values(ledgerByFulfillment(sys, req.orderId))) {
        expect(ops).toEqual(["AUTHORIZE", "CAPTURE"]);
      }
    }
    expect(refused).toEqual([]);
  });
});
