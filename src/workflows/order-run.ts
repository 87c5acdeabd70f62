import { newOrder } from "../domain/new-order.js";
import type { Cancellation, CancellationReason } from "../domain/order.js";
import { readModel } from "./activity-proxies.js";
import type { OrderWorkflowInput, Resolution } from "./messages.js";
import { createOrderRecorder, type OrderRecorder } from "./order-recorder.js";

/** What the courier has reported for one fulfillment (times as the courier gave them). */
export interface CourierReports {
  dispatchedAt: string;
  deliveredAt: string;
}

/**
 * The state of one order's workflow run, shared by its steps and message
 * handlers. The order itself (statuses, fulfillments, amounts) lives in the
 * recorder, which turns every change into a read-model version; the rest is
 * what the steps wait on.
 */
export interface OrderRun {
  readonly input: OrderWorkflowInput;
  readonly orderId: string;
  readonly recorder: OrderRecorder;
  /** Set once, by the first cancellation (caller, decision, timeout). */
  cancellation: Cancellation | null;
  /** The caller's decision on unavailable items, once made. */
  resolution: Resolution | null;
  /** Courier events per fulfillment id; they may arrive before the booking is recorded. */
  readonly courier: Map<string, CourierReports>;
  /** Fulfillments whose courier booking has been asked for and not yet recorded. */
  readonly bookingsInFlight: Set<string>;
}

export function createOrderRun(input: OrderWorkflowInput): OrderRun {
  return {
    input,
    orderId: input.submission.orderId,
    recorder: createOrderRecorder(
      newOrder(input.submission, input.acceptTime, input.pricing),
      input.submittedBy,
      readModel.saveOrder,
    ),
    cancellation: null,
    resolution: null,
    courier: new Map(),
    bookingsInFlight: new Set(),
  };
}

/** Records the first cancellation; every step still holding something reacts to it. */
export function requestCancellation(
  run: OrderRun,
  reason: CancellationReason,
  description: string,
  requestedBy: string,
): void {
  if (run.cancellation !== null) return;
  run.cancellation = { reason, description, requestedBy, requestTime: new Date().toISOString() };
  run.recorder.change({ cancellation: run.cancellation });
  run.recorder.note(`cancellation requested${description ? `: ${description}` : ""}`, requestedBy);
}

export function courierReportsOf(run: OrderRun, fulfillmentId: string): CourierReports {
  let reports = run.courier.get(fulfillmentId);
  if (reports === undefined) {
    reports = { dispatchedAt: "", deliveredAt: "" };
    run.courier.set(fulfillmentId, reports);
  }
  return reports;
}
