import type { DataConverter } from "@temporalio/common";
import { type NativeConnection, Worker, type WorkerOptions } from "@temporalio/worker";
import type { Activities } from "../activities/index.js";

export interface OrderWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** A prebuilt bundle (see workflow-bundle.ts): workers never bundle at start. */
  workflowBundlePath: string;
  activities: Activities;
  /**
   * Workflows kept in memory between their tasks. An order spends most of its
   * life waiting (for a courier, a customer), and a cached order costs about
   * half a megabyte; an evicted one is rebuilt from its history when it moves
   * again, which costs CPU only then. The SDK's default grows with the heap
   * (thousands), which lets memory grow with the orders in flight.
   */
  maxCachedWorkflows?: number;
  /** Payload codecs (encryption); the workflow bundle does not depend on them. */
  dataConverter?: DataConverter;
  /** How long in-flight activities get to finish on shutdown. */
  shutdownGraceMs?: number;
  /** Interceptors and sinks for logs and traces (src/observability). */
  observability?: Pick<WorkerOptions, "interceptors" | "sinks">;
}

/** A worker for the order workflows and their activities. Call `run()` to poll. */
export function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.workflowBundlePath },
    activities: options.activities,
    ...(options.maxCachedWorkflows === undefined
      ? {}
      : { maxCachedWorkflows: options.maxCachedWorkflows }),
    shutdownGraceTime: options.shutdownGraceMs ?? 10_000,
    ...options.observability,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
}
