/**
 * A courier that reports the instant the shipping service books, while the
 * worker process is SIGKILLed and restarted: every courier event reaches its
 * order (routed by the booking's reference, never refused as NOT_FOUND or out
 * of order), no order is stuck, and no money moves twice.
 */
import type { ChildProcess } from "node:child_process";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";
import { spawnWorkerProcess, submitWavesKillingWorker } from "../support/worker-process.js";
import { ledgerByFulfillment } from "./observe.js";

const ORDERS = 12;

describe("an instant courier while the worker is killed", () => {
  let sys: TestSystem;
  const refused: string[] = [];
  let worker: ChildProcess | undefined;

  const startWorkerProcess = () => {
    worker = spawnWorkerProcess(sys);
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

  // Bounds, not durations: every wait returns the moment its event happens.
  // A loaded machine needs them long (a killed worker's tasks time out after
  // 10 s, and each new worker process compiles TypeScript as it starts).
  it("completes every order, routes every event, and moves money once", {
    timeout: 600_000,
  }, async () => {
    // Three waves; in each, the worker is killed the moment the wave's first
    // booking shows, while the others' bookings and courier events are in flight.
    const orders = Array.from({ length: ORDERS }, () => twoWarehouses());
    const waves = [orders.slice(0, 4), orders.slice(4, 8), orders.slice(8)];
    await submitWavesKillingWorker(
      sys,
      waves,
      { current: () => worker, restart: startWorkerProcess },
      180_000,
    );

    for (const req of orders) {
      const done = await waitForOrder(
        sys,
        req.orderId,
        (o) => o.status === OrderStatus.COMPLETED,
        180_000,
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
