/**
 * Observation helpers for the chaos tests: instead of sleeping "long enough
 * for a retry", they look behind the API at what Temporal reports about a
 * workflow (its pending activities, its history) and return as soon as the
 * awaited fact holds, or fail after a bounded deadline with what was seen.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type WorkflowHandle, WorkflowNotFoundError } from "@temporalio/client";
import type { TestSystem } from "../support/system.js";

type Description = Awaited<ReturnType<WorkflowHandle["describe"]>>;
/** One entry of DescribeWorkflowExecution's pending_activities. */
export type PendingActivity = NonNullable<Description["raw"]["pendingActivities"]>[number];

const POLL_MS = 100;

/**
 * Resolves once the workflow `workflowId` has `count` pending `activityType`s
 * whose attempt is at least `minAttempt` (one per fulfillment, say): attempt
 * N pending means N-1 attempts have already failed and been retried.
 * Tolerates a workflow that has not started yet.
 */
export async function waitForActivityAttempt(
  sys: TestSystem,
  workflowId: string,
  activityType: string,
  minAttempt: number,
  count = 1,
  timeoutMs = 20_000,
): Promise<PendingActivity[]> {
  const handle = sys.temporal.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  let seen = "nothing yet";
  for (;;) {
    try {
      const description = await handle.describe();
      const pending = (description.raw.pendingActivities ?? []).filter(
        (a) => a.activityType?.name === activityType,
      );
      seen =
        pending.length > 0
          ? `${activityType} attempts ${pending.map((a) => a.attempt).join(", ")}`
          : `no pending ${activityType} (workflow ${description.status.name})`;
      const retried = pending.filter((a) => (a.attempt ?? 0) >= minAttempt);
      if (retried.length >= count) return retried;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      seen = "workflow not started";
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${workflowId}: no ${activityType} reached attempt ${minAttempt} within ${timeoutMs} ms; last saw ${seen}`,
      );
    }
    await sleep(POLL_MS);
  }
}

/** The message of the failure that made a pending activity retry. */
export const lastFailureOf = (activity: PendingActivity): string =>
  activity.lastFailure?.message ?? "";

/** Ledger operations of one order, grouped per fulfillment, each group sorted. */
export function ledgerByFulfillment(sys: TestSystem, orderId: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of sys.refs.payments.ledger({ orderId })) {
    const ops = out[e.fulfillmentId] ?? [];
    ops.push(e.operation);
    out[e.fulfillmentId] = ops;
  }
  for (const ops of Object.values(out)) ops.sort();
  return out;
}
