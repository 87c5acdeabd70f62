import { patched } from "@temporalio/workflow";
import { newOrder } from "../domain/new-order.js";
import type { Cancellation, CancellationReason } from "../domain/order.js";
import { readModel } from "./activity-proxies.js";
import type { OrderWorkflowInput, Resolution, ShipmentEventReport } from "./messages.js";
import { createOrderRecorder, type OrderRecorder } from "./order-recorder.js";

/** What the courier has reported for one fulfillment (times as the courier gave them). */
export interface CourierReports {
  dispatchedAt: string;
  deliveredAt: string;
  /** Who reported each event first (the timeline's actor); "" until reported. */
  dispatchedBy?: string;
  deliveredBy?: string;
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

/**
 * Takes a courier event into the run's reports: its time and its reporter,
 * the first report of each event winning (repeats change nothing).
 */
export function takeCourierReport(reports: CourierReports, report: ShipmentEventReport): void {
  const by = report.reportedBy || "system";
  if (report.event === "DISPATCHED") {
    if (reports.dispatchedAt === "") reports.dispatchedBy = by;
    reports.dispatchedAt ||= report.occurredAt;
  } else {
    if (reports.deliveredAt === "") reports.deliveredBy = by;
    reports.deliveredAt ||= report.occurredAt;
  }
}

/**
 * The timeline entry of a courier event the order has just applied, with
 * the reporting courier as its actor. Behind a patch: runs that applied
 * events before it wrote no such entry, and their replay must number the
 * later entries as they were stored.
 */
export function noteCourierEvent(
  run: OrderRun,
  event: ShipmentEventReport["event"],
  subject: string,
  reports: CourierReports,
): void {
  if (!patched("issue-10-courier-timeline")) return;
  const by = (event === "DISPATCHED" ? reports.dispatchedBy : reports.deliveredBy) || "system";
  run.recorder.note(`${subject} ${event === "DISPATCHED" ? "dispatched" : "delivered"}`, by);
}

export function courierReportsOf(run: OrderRun, fulfillmentId: string): CourierReports {
  let reports = run.courier.get(fulfillmentId);
  if (reports === undefined) {
    reports = { dispatchedAt: "", deliveredAt: "" };
    run.courier.set(fulfillmentId, reports);
  }
  return reports;
}
