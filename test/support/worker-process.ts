/**
 * A worker of a test system as a process of its own (`oms worker` from
 * source), for tests that SIGKILL it; start it after `sys.stopWorker()`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import type { SubmitOrderRequest } from "../../gen/oms/v1/order_service_pb.js";
import type { TestSystem } from "./system.js";
import { waitForOrder } from "./watch.js";

const root = path.resolve(import.meta.dirname, "../..");

export function spawnWorkerProcess(
  sys: TestSystem,
  env: Record<string, string> = {},
): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cmd/oms.ts", "worker"], {
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
      ...(sys.config.readModel.databaseUrl
        ? { OMS_DATABASE_URL: sys.config.readModel.databaseUrl }
        : {}),
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
}

/**
 * Submits each wave of orders; the moment a wave's first order has a
 * booking, while the wave's other submissions, bookings and courier events
 * are in flight, SIGKILLs the worker process (`current()`) and starts
 * another (`restart()`).
 */
export async function submitWavesKillingWorker(
  sys: TestSystem,
  waves: readonly SubmitOrderRequest[][],
  worker: { current: () => ChildProcess | undefined; restart: () => void },
  bookingTimeoutMs: number,
): Promise<void> {
  for (const wave of waves) {
    const [first, ...rest] = wave as [SubmitOrderRequest, ...SubmitOrderRequest[]];
    await sys.grpc.submitOrder(first);
    const submitted = Promise.all(rest.map((req) => sys.grpc.submitOrder(req)));
    await waitForOrder(
      sys,
      first.orderId,
      (o) => o.fulfillments.some((f) => (f.shipment?.shipmentId ?? "") !== ""),
      bookingTimeoutMs,
    );
    const dying = worker.current() as ChildProcess;
    const exited = once(dying, "exit");
    dying.kill("SIGKILL");
    await exited;
    worker.restart();
    await submitted;
  }
}
