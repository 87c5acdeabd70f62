import { type NativeConnection, Worker } from "@temporalio/worker";
import type { Activities } from "../activities/index.js";

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** A prebuilt bundle (see workflow-bundle.ts): workers never bundle at start. */
  workflowBundlePath: string;
  activities: Activities;
  /** How long in-flight activities get to finish on shutdown. */
  shutdownGraceMs?: number;
}

/** A worker for the order workflows and their activities. Call `run()` to poll. */
export function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.workflowBundlePath },
    activities: options.activities,
    shutdownGraceTime: options.shutdownGraceMs ?? 10_000,
  });
}
