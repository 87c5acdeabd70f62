import { createRequire } from "node:module";
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
  /**
   * Whether the worker answers Temporal's stack trace query (`__stack_trace`,
   * the Web UI's "Stack Trace" tab) for its workflows. Off by default: see
   * {@link createOrderWorker} for what it costs.
   */
  workflowStackTraces?: boolean;
  /** Payload codecs (encryption); the workflow bundle does not depend on them. */
  dataConverter?: DataConverter;
  /** How long in-flight activities get to finish on shutdown. */
  shutdownGraceMs?: number;
  /** Interceptors and sinks for logs and traces (src/observability). */
  observability?: Pick<WorkerOptions, "interceptors" | "sinks">;
}

/**
 * A worker for the order workflows and their activities. Call `run()` to poll.
 *
 * Unless `workflowStackTraces` is on, the workflows run in the worker's main
 * thread (the SDK's `debugMode`, which the SDK also uses for replay) without
 * the SDK's promise hook. By default the SDK runs workflows in a worker thread
 * and installs a V8 promise hook there that captures and source-maps a stack
 * trace for every promise a workflow creates, so that the stack trace query
 * can show where each workflow waits. Measured on the order workflow (100
 * two-fulfillment orders at 16 callers, side by side): the hook cost about
 * 0.04 CPU-s per order, a third of the worker's CPU, and the second thread's
 * V8 heap about 80 MB of RSS. What is lost: the stack trace query answers
 * "Workflow stack traces are not enabled on this worker"; where an order
 * waits shows in its history and read model anyway. Turn it on
 * (OMS_WORKER_WORKFLOW_STACK_TRACES) on a worker started to debug one.
 */
export async function createOrderWorker(options: OrderWorkerOptions): Promise<Worker> {
  const inMainThread = options.workflowStackTraces !== true;
  if (inMainThread) withoutWorkflowPromiseHook();
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowBundle: { codePath: options.workflowBundlePath },
    activities: options.activities,
    ...(inMainThread ? { debugMode: true } : {}),
    ...(options.maxCachedWorkflows === undefined
      ? {}
      : { maxCachedWorkflows: options.maxCachedWorkflows }),
    shutdownGraceTime: options.shutdownGraceMs ?? 10_000,
    ...options.observability,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
  });
  if (inMainThread) withoutSandboxCallTimeout(worker);
  return worker;
}

/**
 * Calls into the workflow sandbox without the SDK's per-call time limit.
 * Node enforces a `vm` timeout by starting and joining a watchdog thread for
 * every call (nodejs/node#47739), about 50 calls per order: in the main
 * thread, where activities also run, those joins held the thread up (about a
 * fifth of its time under load) and cut throughput from 5.7 to 3.5 orders/s
 * in a side-by-side run. Endless loops in workflow code are caught instead by
 * the `oms worker` process's stall guard (stall-guard.ts). Must run before
 * the first workflow is created (each takes the limit when it is created).
 */
function withoutSandboxCallTimeout(worker: Worker): void {
  const creator = (
    worker as unknown as { workflowCreator?: { isolateExecutionTimeoutMs?: unknown } }
  ).workflowCreator;
  if (typeof creator?.isolateExecutionTimeoutMs !== "number") {
    throw new Error(
      "@temporalio/worker's workflow creator changed shape: update withoutSandboxCallTimeout, or set OMS_WORKER_WORKFLOW_STACK_TRACES=true",
    );
  }
  creator.isolateExecutionTimeoutMs = undefined;
}

/** The SDK's process-wide sandbox handlers (see withoutWorkflowPromiseHook). */
interface SandboxGlobalHandlers {
  installed: boolean;
  promiseHookInstalled: boolean;
  overridePrepareStackTrace(): void;
}

/**
 * Makes the workflow sandboxes of this thread run without the SDK's promise
 * hook. The SDK installs its handlers once per thread, when the first sandbox
 * is made: the source-mapped `Error.prepareStackTrace` (workflow failures
 * keep their source positions) and the promise hook. Marking them installed
 * after the first only leaves the hook out; each sandbox then starts with
 * stack traces disabled, a state the SDK supports (its runtimes without
 * promise hooks). A process that already installed the hook (a replay in
 * the same process) keeps it. Relies on an SDK internal: the version is
 * pinned, and a changed shape fails here, at start, rather than silently.
 */
export function withoutWorkflowPromiseHook(): boolean {
  const { globalHandlers } = createRequire(import.meta.url)(
    "@temporalio/worker/lib/workflow/vm-shared.js",
  ) as { globalHandlers?: Partial<SandboxGlobalHandlers> };
  if (
    typeof globalHandlers?.installed !== "boolean" ||
    typeof globalHandlers.promiseHookInstalled !== "boolean" ||
    typeof globalHandlers.overridePrepareStackTrace !== "function"
  ) {
    throw new Error(
      "@temporalio/worker's sandbox handlers changed shape: update withoutWorkflowPromiseHook, or set OMS_WORKER_WORKFLOW_STACK_TRACES=true",
    );
  }
  if (!globalHandlers.installed) {
    globalHandlers.overridePrepareStackTrace();
    globalHandlers.installed = true;
  }
  return !globalHandlers.promiseHookInstalled;
}
