/**
 * A worker of a test system as a process of its own (`oms worker` from
 * source), for tests that SIGKILL it; start it after `sys.stopWorker()`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import type { TestSystem } from "./system.js";

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
