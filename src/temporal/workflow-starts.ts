/**
 * Accept-first SubmitOrder's second half: starting the order workflows that
 * the read model has accepted.
 *
 * SubmitOrder records version 1 and a workflow start record in one
 * read-model transaction and answers (see OrderStore.acceptOrder). The
 * {@link WorkflowStarter} then starts the workflow at once, in the
 * background, and deletes the record. The {@link startWorkflowStartDispatcher}
 * of every API process starts whatever is left over (the accepting process
 * died, or Temporal could not be reached), once the record's grace period is
 * over, with backoff; its claims are leases, so several API processes share
 * the work without starting anything twice at once. Starting twice is
 * harmless anyway: the workflow id is the order's, and a workflow that exists
 * with the same submission fingerprint counts as started.
 */

import { EventEmitter } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { type Client, WorkflowExecutionAlreadyStartedError } from "@temporalio/client";
import type { ClaimedWorkflowStart, OrderStore, WorkflowStart } from "../readmodel/store.js";

/** The log lines the starter and dispatcher write; a pino logger fits. */
export interface StartLogger {
  error(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  debug(fields: Record<string, unknown>, message: string): void;
}

/** How a start ended: the workflow exists (record deleted), or another one has the id (record parked). */
export type StartOutcome = "started" | "conflict";

/** Runs a function later: once the answer to the current call has been written. */
export type AfterAnswer = (fn: () => void) => void;

/** The memo every order workflow carries, from which a repeated start is recognized. */
export interface SubmitMemo {
  submissionFingerprint: string;
  acceptTime: string;
}

export interface WorkflowStarter {
  /**
   * Starts the workflow of a start record, then deletes the record. A
   * workflow that already exists with the record's fingerprint counts as
   * started; one with another fingerprint is a conflict: the record is
   * parked for an operator and logged as an error. Throws when Temporal
   * fails (the record stays). Concurrent calls for one order share one start.
   */
  start(start: WorkflowStart): Promise<StartOutcome>;
  /**
   * {@link start} in the background, free of the caller's abort signal; a
   * failure is left to the dispatcher. The start begins once `afterAnswer`
   * runs it (the API passes one that waits until the caller's answer has
   * been written), else on the next turn of the event loop: the answer the
   * caller is waiting for never waits for the start's own work (payload
   * encoding and encryption, the Temporal request).
   */
  startSoon(start: WorkflowStart, afterAnswer?: AfterAnswer): void;
  /**
   * Starts the order's workflow now if its start is still pending (not
   * parked). Resolves true when it did, false when there was nothing to start.
   */
  startPending(orderId: string): Promise<boolean>;
  /**
   * Resolves once the order has no start pending: at once when there is
   * none, else when a start by this process deletes the record.
   */
  whenStarted(orderId: string): Promise<void>;
  /** Resolves once the background starts under way have settled. */
  drain(): Promise<void>;
}

export interface WorkflowStarterOptions {
  client: Client;
  store: Pick<OrderStore, "completeWorkflowStart" | "parkWorkflowStart" | "getWorkflowStart">;
  logger: StartLogger;
}

export function createWorkflowStarter(options: WorkflowStarterOptions): WorkflowStarter {
  const { client, store, logger } = options;
  const running = new Map<string, Promise<StartOutcome>>();
  const started = new EventEmitter();
  started.setMaxListeners(0);

  async function startOnce(start: WorkflowStart): Promise<StartOutcome> {
    const { request } = start;
    try {
      await client.workflow.start(request.workflowType, {
        taskQueue: request.taskQueue,
        workflowId: request.workflowId,
        args: request.args,
        memo: request.memo,
        // An order id is used once, ever: a closed order's id is not reused either.
        workflowIdConflictPolicy: "FAIL",
        workflowIdReusePolicy: "REJECT_DUPLICATE",
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // Started before (by another process, or before a crash), or a conflict.
      const memo = (await client.workflow.getHandle(request.workflowId).describe()).memo as
        | Partial<SubmitMemo>
        | undefined;
      if (memo?.submissionFingerprint !== start.fingerprint) {
        const error = `workflow ${request.workflowId} exists with another submission (fingerprint ${String(memo?.submissionFingerprint)}, this order's ${start.fingerprint})`;
        logger.error(
          { orderId: start.orderId, workflowId: request.workflowId },
          `order workflow cannot be started: ${error}; the start is parked for an operator (docs/operations.md)`,
        );
        await store.parkWorkflowStart(start.orderId, error);
        started.emit(`started:${start.orderId}`);
        return "conflict";
      }
    }
    await store.completeWorkflowStart(start.orderId);
    started.emit(`started:${start.orderId}`);
    return "started";
  }

  const start = (record: WorkflowStart): Promise<StartOutcome> => {
    let promise = running.get(record.orderId);
    if (promise === undefined) {
      promise = startOnce(record).finally(() => running.delete(record.orderId));
      running.set(record.orderId, promise);
    }
    return promise;
  };

  // Not under the calling RPC's abort signal (the RPC has answered and ends
  // before the start does), but still in its trace (the promise keeps the
  // async context). A start asked for meanwhile (startPending) does not wait
  // for this one: start() shares whichever runs first.
  const soon = new Set<Promise<void>>();
  const startSoon = (record: WorkflowStart, afterAnswer?: AfterAnswer): void => {
    const later = new Promise<void>((resolve) =>
      afterAnswer === undefined ? setImmediate(resolve) : afterAnswer(resolve),
    )
      .then(() => client.withAbortSignal(new AbortController().signal, () => start(record)))
      .then(
        () => {},
        (err: unknown) => {
          logger.warn(
            { orderId: record.orderId, error: describe(err) },
            "order workflow not started yet; the start dispatcher retries it",
          );
        },
      )
      .finally(() => soon.delete(later));
    soon.add(later);
  };

  return {
    start,
    startSoon,
    async startPending(orderId) {
      const record = await store.getWorkflowStart(orderId);
      if (record === null || record.parked) return false;
      return (await start(record)) === "started";
    },
    async whenStarted(orderId) {
      const done = new Promise<void>((resolve) => started.once(`started:${orderId}`, resolve));
      const record = await store.getWorkflowStart(orderId);
      if (record === null || record.parked) return;
      await done;
    },
    async drain() {
      await Promise.allSettled([...soon, ...running.values()]);
    },
  };
}

/** Options of {@link startWorkflowStartDispatcher}. */
export interface WorkflowStartDispatcherOptions {
  store: Pick<OrderStore, "claimWorkflowStarts" | "retryWorkflowStart">;
  starter: Pick<WorkflowStarter, "start">;
  logger: StartLogger;
  /** How often due starts are looked for. Default 1 s. */
  pollIntervalMs?: number;
  /** Starts claimed (and made concurrently) at once. Default 16. */
  batchSize?: number;
  /** How long a claim holds a start against other dispatchers. Default 60 s. */
  leaseMs?: number;
  /** Backoff after the first failed attempt; doubled after each further one. Default 1 s. */
  initialBackoffMs?: number;
  /** Upper bound of the backoff. Default 30 s. */
  maxBackoffMs?: number;
}

export interface WorkflowStartDispatcher {
  /** Stops claiming and resolves once the starts under way have settled. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the workflows of start records left over: due once their grace
 * period is over (see OrderStore.acceptOrder), retried with backoff while
 * Temporal fails, never given up on (an accepted order must reach its
 * workflow), except for a conflict, which the starter parks.
 */
export function startWorkflowStartDispatcher(
  options: WorkflowStartDispatcherOptions,
): WorkflowStartDispatcher {
  const { store, starter, logger } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 16;
  const leaseMs = options.leaseMs ?? 60_000;
  const initialBackoffMs = options.initialBackoffMs ?? 1_000;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const stopping = new AbortController();
  let claimFailures = 0;

  async function attempt(claim: ClaimedWorkflowStart): Promise<void> {
    try {
      await starter.start(claim);
    } catch (err) {
      const error = describe(err);
      const delayMs = Math.min(maxBackoffMs, initialBackoffMs * 2 ** (claim.attempts - 1));
      // Every few attempts, loudly: an accepted order is waiting for its workflow.
      (claim.attempts % 5 === 1 ? logger.warn : logger.debug).call(
        logger,
        { orderId: claim.orderId, attempts: claim.attempts, delayMs, error },
        "order workflow start failed; retrying",
      );
      try {
        await store.retryWorkflowStart(claim, {
          error,
          notBefore: new Date(Date.now() + delayMs),
        });
      } catch {
        // The lease runs out instead.
      }
    }
  }

  async function loop(): Promise<void> {
    while (!stopping.signal.aborted) {
      let claimed = 0;
      try {
        const batch = await store.claimWorkflowStarts({ limit: batchSize, leaseMs });
        claimFailures = 0;
        claimed = batch.length;
        await Promise.all(batch.map(attempt));
      } catch (err) {
        // The read model is unreachable: the next poll tries again, logged once per outage.
        if (claimFailures++ === 0) {
          logger.warn({ error: describe(err) }, "workflow starts: claiming failed");
        }
      }
      // A full batch means more may be due.
      if (claimed === batchSize) continue;
      await sleep(pollIntervalMs, undefined, { signal: stopping.signal }).catch(() => {});
    }
  }

  const running = loop();
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping.abort();
        await running;
      })();
      return stopped;
    },
  };
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
