import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
} from "@temporalio/workflow";
import type { ReservationResult } from "../activities/index.js";
import { finalOrderStatus } from "../domain/completion.js";
import { newFulfillment } from "../domain/fulfillment.js";
import { fulfillmentId } from "../domain/ids.js";
import type { LineItem, Order } from "../domain/order.js";
import { sumAmounts } from "../domain/pricing.js";
import { activities, compensations } from "./activity-proxies.js";
import { fulfill } from "./fulfillment.js";
import { releaseRemainingHolds } from "./holds.js";
import type { OrderWorkflowInput } from "./messages.js";
import { installOrderHandlers } from "./order-handlers.js";
import { createOrderRun, type OrderRun, requestCancellation } from "./order-run.js";
import { startSlaClocks } from "./sla.js";

/**
 * The life of one order (docs/spec.md section 5), in one workflow: accept → reserve
 * → [the customer decides on unavailable items] → every warehouse's
 * fulfillment as a concurrent step → done. This workflow is the only writer
 * of the order's read model: every transition becomes a version (see
 * order-recorder.ts). Returns the order as it ended.
 *
 * The steps below are exported so that the next version of this workflow can
 * be composed from them in a test (test/replay/variants, see
 * docs/workflow-changes.md) without copying them; the bundle's entry
 * (index.ts) exports only the workflow.
 */
export async function orderWorkflow(input: OrderWorkflowInput): Promise<Order> {
  const run = createOrderRun(input);
  installOrderHandlers(run);
  startSlaClocks(run);

  const reservation = await reserve(run);
  if (reservation === null) return end(run);
  if (!(await settleUnavailableItems(run, reservation))) return end(run);
  await fulfillAll(run, reservation.allocations);
  complete(run);
  return end(run);
}

/** Step 1: reserve stock. Null when the order failed (unknown SKU) or was cancelled meanwhile. */
export async function reserve(run: OrderRun): Promise<ReservationResult | null> {
  const { orderId, recorder } = run;
  let reservation: ReservationResult;
  try {
    reservation = await activities.reserveInventory({ orderId, items: run.input.submission.items });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const reason = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    recorder.transition("FAILED", `stock could not be reserved: ${reason}`);
    recorder.notify("ORDER_FAILED");
    return null;
  }
  if (run.cancellation !== null) {
    await cancelBeforeProcessing(run, "cancelled before processing");
    return null;
  }
  return reservation;
}

/**
 * Step 2: lines no warehouse can supply. Nothing at all: cancelled (out of
 * stock). Some: the order waits in CUSTOMER_ACTION_REQUIRED, on a durable
 * timer, for the caller to proceed without them or cancel. False when the
 * order ended here.
 */
export async function settleUnavailableItems(
  run: OrderRun,
  reservation: ReservationResult,
): Promise<boolean> {
  const { recorder } = run;
  if (reservation.allocations.length === 0) {
    run.cancellation = {
      reason: "OUT_OF_STOCK",
      description: "none of the items is in stock",
      requestedBy: "system",
      requestTime: new Date().toISOString(),
    };
    recorder.change({ cancellation: run.cancellation, unavailableItems: reservation.unavailable });
    await cancelBeforeProcessing(run, "out of stock");
    return false;
  }
  if (reservation.unavailable.length === 0) return true;

  recorder.transition(
    "CUSTOMER_ACTION_REQUIRED",
    describeUnavailable(reservation.unavailable),
    "system",
    { unavailableItems: reservation.unavailable },
  );
  recorder.notify("ACTION_REQUIRED");
  const decided = await condition(
    () => run.resolution !== null || run.cancellation !== null,
    run.input.customerActionTimeoutMs,
  );
  if (!decided) {
    requestCancellation(
      run,
      "ACTION_TIMEOUT",
      "no decision on the unavailable items in time",
      "system",
    );
  }
  if (run.cancellation === null) return true;
  await cancelBeforeProcessing(
    run,
    decided ? "cancelled by the customer" : "cancelled: no decision in time",
  );
  return false;
}

/** Step 3: one fulfillment per warehouse, all at once, until every one has ended. */
export async function fulfillAll(run: OrderRun, allocations: ReservationResult["allocations"]) {
  const { orderId, recorder, input } = run;
  const fulfillments = allocations.map((a, i) =>
    newFulfillment(fulfillmentId(orderId, i + 1), a.warehouseId, a.items, input.pricing),
  );
  recorder.transition("PROCESSING", `${fulfillments.length} fulfillment(s)`, "system", {
    fulfillments,
    amounts: sumAmounts(fulfillments.map((f) => f.amounts)),
  });
  await Promise.all(fulfillments.map((f) => fulfill(run, f.fulfillmentId)));
}

/** Step 4: the order's outcome follows from its fulfillments'. */
export function complete(run: OrderRun): void {
  const { recorder } = run;
  const results = recorder.order.fulfillments;
  const status = finalOrderStatus(results, run.cancellation !== null);
  const reason =
    status === "COMPLETED"
      ? `${results.filter((r) => r.status === "DELIVERED").length} of ${results.length} fulfillment(s) delivered`
      : status === "CANCELLED"
        ? "cancelled"
        : `every fulfillment failed: ${results.map((r) => r.statusReason).join("; ")}`;
  recorder.transition(status, reason);
  recorder.notify(
    status === "COMPLETED"
      ? "ORDER_COMPLETED"
      : status === "CANCELLED"
        ? "ORDER_CANCELLED"
        : "ORDER_FAILED",
  );
}

/** Cancelled before any fulfillment started: only the reservation is held. */
async function cancelBeforeProcessing(run: OrderRun, reason: string): Promise<void> {
  await compensations.releaseInventory({ orderId: run.orderId });
  run.recorder.transition("CANCELLED", reason);
  run.recorder.notify("ORDER_CANCELLED");
}

/** The order has ended: everything is stored and every Update has had its reply. */
export async function end(run: OrderRun): Promise<Order> {
  releaseRemainingHolds(run);
  await run.recorder.flushed();
  await condition(allHandlersFinished);
  return run.recorder.order;
}

function describeUnavailable(items: readonly LineItem[]): string {
  return `unavailable: ${items.map((i) => `${i.quantity} x ${i.sku}`).join(", ")}`;
}
