/**
 * Notifications are best effort (spec section 5.5): with the notification
 * service down for the whole life of an order, the order still completes, and
 * its workflow still closes once the bounded retries (5 attempts, 1 s initial
 * interval, backoff x2: about 15 s) have given up.
 */
import type { WorkflowHandle } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, waitForOrder } from "../support/watch.js";
import { courier, waitForActivityAttempt } from "./observe.js";

type HistoryEvent = NonNullable<
  Awaited<ReturnType<WorkflowHandle["fetchHistory"]>>["events"]
>[number];

/** Outcome of every sendNotification the workflow scheduled, from its history. */
function notificationOutcomes(events: HistoryEvent[]) {
  const scheduled = new Map<string, { attempt: number; outcome: string }>();
  for (const e of events) {
    const id = String(e.eventId);
    const s = e.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === "sendNotification") {
      scheduled.set(id, { attempt: 0, outcome: "SCHEDULED" });
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    const entry = scheduled.get(
      String(
        started?.scheduledEventId ??
          e.activityTaskFailedEventAttributes?.scheduledEventId ??
          e.activityTaskCompletedEventAttributes?.scheduledEventId ??
          e.activityTaskTimedOutEventAttributes?.scheduledEventId,
      ),
    );
    if (entry === undefined) continue;
    if (started) entry.attempt = started.attempt ?? 0;
    if (e.activityTaskFailedEventAttributes) entry.outcome = "FAILED";
    if (e.activityTaskCompletedEventAttributes) entry.outcome = "COMPLETED";
    if (e.activityTaskTimedOutEventAttributes) entry.outcome = "TIMED_OUT";
  }
  return [...scheduled.values()];
}

describe("notification service down for good", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ refs: { faults: { notifications: { outage: true } } } });
  });
  afterAll(() => sys?.stop());

  it("completes the order and closes its workflow without sending anything", {
    timeout: 40_000,
  }, async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const workflowId = orderWorkflowId(req.orderId);
    // ORDER_ACCEPTED is being retried, and the order goes on regardless.
    await waitForActivityAttempt(sys, workflowId, "sendNotification", 2);
    const shipments = await bookedShipments(sys, req.orderId, 1);
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);

    const done = await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.COMPLETED);
    expect(done.fulfillments[0]?.status).toBe(FulfillmentStatus.DELIVERED);
    expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.CAPTURED);
    // COMPLETED is recorded before the notifications have given up: they did not block it.
    const handle = sys.temporal.workflow.getHandle(workflowId);
    const open = await handle.describe();
    expect(open.status.name).toBe("RUNNING");
    expect(
      open.raw.pendingActivities?.some((a) => a.activityType?.name === "sendNotification"),
    ).toBe(true);

    // The workflow closes successfully once the last retries are exhausted.
    await handle.result();
    expect((await handle.describe()).status.name).toBe("COMPLETED");
    expect(sys.refs.notifications.list({ orderId: req.orderId })).toEqual([]);
    const outcomes = notificationOutcomes((await handle.fetchHistory()).events ?? []);
    // accepted, dispatched, delivered, completed: each tried 5 times, then given up.
    expect(outcomes).toHaveLength(4);
    for (const o of outcomes) {
      expect(o.outcome).toBe("FAILED");
      expect(o.attempt).toBe(5);
    }
    // Still the order the customer sees.
    expect((await sys.grpc.getOrder({ orderId: req.orderId })).order?.status).toBe(
      OrderStatus.COMPLETED,
    );
  });
});
