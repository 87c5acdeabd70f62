/**
 * Observation helpers for the chaos tests: instead of sleeping "long enough
 * for a retry", they look behind the API at what Temporal reports about a
 * workflow (its pending activities, its history) and return as soon as the
 * awaited fact holds, or fail after a bounded deadline with what was seen.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type WorkflowHandle, WorkflowNotFoundError } from "@temporalio/client";
import type { Order } from "../../gen/oms/v1/order_pb.js";
import type { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import type { TestSystem } from "../support/system.js";

type Description = Awaited<ReturnType<WorkflowHandle["describe"]>>;
/** One entry of DescribeWorkflowExecution's pending_activities. */
export type PendingActivity = NonNullable<Description["raw"]["pendingActivities"]>[number];

const POLL_MS = 100;

/**
 * Resolves once the workflow `workflowId` has a pending `activityType` whose
 * attempt is at least `minAttempt`: attempt N pending means N-1 attempts have
 * already failed and been retried. Tolerates a workflow that has not started
 * yet (a fulfillment child still being started).
 */
export async function waitForActivityAttempt(
  sys: TestSystem,
  workflowId: string,
  activityType: string,
  minAttempt: number,
  timeoutMs = 20_000,
): Promise<PendingActivity> {
  const handle = sys.temporal.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  let seen = "nothing yet";
  for (;;) {
    try {
      const description = await handle.describe();
      const pending = (description.raw.pendingActivities ?? []).find(
        (a) => a.activityType?.name === activityType,
      );
      seen = pending
        ? `${activityType} attempt ${pending.attempt}`
        : `no pending ${activityType} (workflow ${description.status.name})`;
      if (pending && (pending.attempt ?? 0) >= minAttempt) return pending;
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

/** Plays the courier: reports `event` for every shipment, one after the other. */
export async function courier(
  sys: TestSystem,
  shipments: readonly string[],
  event: ShipmentEvent.DISPATCHED | ShipmentEvent.DELIVERED,
): Promise<void> {
  for (const shipmentId of shipments) {
    await sys.shipments.reportShipmentEvent({ shipmentId, event });
  }
}

/** Waits for the order workflow to close, then returns the order as the read model has it. */
export async function finished(sys: TestSystem, orderId: string): Promise<Order> {
  await sys.temporal.workflow.getHandle(orderWorkflowId(orderId)).result();
  return (await sys.grpc.getOrder({ orderId })).order as Order;
}

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
