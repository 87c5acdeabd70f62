/**
 * Re-sourcing, as part of a fulfillment's step: when the warehouse rejects
 * the fulfillment (its courier booking is refused with WAREHOUSE_REJECTED),
 * or the booking keeps failing past the policy's bound of attempts, the
 * order reserves the fulfillment's lines at another warehouse with stock
 * (never one the order already ships from or was rejected by), gives back
 * what the fulfillment held there (void, release) and goes on with new
 * fulfillments for the new warehouse(s), each authorized, booked and
 * captured on its own. Bounded: a fulfillment's lines are re-sourced at
 * most `maxAttempts` times in a row; every attempt is in the timeline.
 *
 * Histories recorded before this existed fail the fulfillment there, as
 * before (patch `resource-rejected-fulfillment`). Orders whose input has no
 * policy book without a bound, as before.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
} from "@temporalio/workflow";
import type { Activities } from "../activities/index.js";
import { newFulfillment } from "../domain/fulfillment.js";
import { fulfillmentId as fulfillmentIdOf } from "../domain/ids.js";
import { sumAmounts } from "../domain/pricing.js";
import {
  DEFAULT_RESOURCING_POLICY,
  describeLines,
  type ResourcingPolicy,
  resourcedAway,
  WAREHOUSE_REJECTED,
} from "../domain/resourcing.js";
import { activities } from "./activity-proxies.js";
import type { OrderRun } from "./order-run.js";

export const RESOURCE_PATCH = "resource-rejected-fulfillment";

/** Re-sourcings in a row behind each fulfillment (absent: 0), per run. */
const depthByRun = new WeakMap<OrderRun, Map<string, number>>();

function policyOf(run: OrderRun): ResourcingPolicy {
  return run.input.resourcing ?? DEFAULT_RESOURCING_POLICY;
}

function depthOf(run: OrderRun, fulfillmentId: string): number {
  return depthByRun.get(run)?.get(fulfillmentId) ?? 0;
}

const bounded = new Map<number, Pick<Activities, "bookShipment">>();

/**
 * Who books the courier: with a policy in the order's input (orders
 * submitted since re-sourcing exists), a proxy whose retries stop after the
 * bound; else, or once `unbounded`, the usual one that retries for as long
 * as it takes.
 */
export function courierBooking(
  run: OrderRun,
  unbounded: boolean,
): Pick<Activities, "bookShipment"> {
  const maxAttempts = run.input.resourcing?.bookingMaxAttempts;
  if (unbounded || maxAttempts === undefined || maxAttempts <= 0) return activities;
  let proxy = bounded.get(maxAttempts);
  if (proxy === undefined) {
    proxy = proxyActivities<Pick<Activities, "bookShipment">>({
      startToCloseTimeout: "30 seconds",
      retry: {
        initialInterval: "500 milliseconds",
        backoffCoefficient: 2,
        maximumInterval: "30 seconds",
        maximumAttempts: maxAttempts,
      },
    });
    bounded.set(maxAttempts, proxy);
  }
  return proxy;
}

/** Why a failed booking calls for re-sourcing. */
export interface BookingFailure {
  /** The warehouse refused it (else: attempts exhausted). */
  rejected: boolean;
  reason: string;
}

/**
 * Whether a booking's failure calls for re-sourcing the fulfillment's lines:
 * a rejection by the warehouse or attempts exhausted, with attempts of the
 * policy left. Null: the failure is handled as before.
 */
export function resourcingCalledFor(
  run: OrderRun,
  fulfillmentId: string,
  err: unknown,
): BookingFailure | null {
  if (!(err instanceof ActivityFailure)) return null;
  const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
  const rejected = cause?.type === WAREHOUSE_REJECTED;
  if (!rejected && err.retryState !== "MAXIMUM_ATTEMPTS_REACHED") return null;
  if (depthOf(run, fulfillmentId) >= policyOf(run).maxAttempts) return null;
  // Recorded histories failed the fulfillment here: they replay that.
  if (!patched(RESOURCE_PATCH)) return null;
  const why = cause?.message ?? err.message;
  return {
    rejected,
    reason: rejected ? why : `the courier booking kept failing: ${why}`,
  };
}

/** What re-sourcing needs of the fulfillment step (passed in to keep the modules apart). */
export interface FulfillmentSteps {
  fulfill(run: OrderRun, fulfillmentId: string): Promise<void>;
  /** Gives back what the fulfillment holds, and ends it with this status and reason. */
  compensate(
    run: OrderRun,
    fulfillmentId: string,
    status: "CANCELLED" | "FAILED",
    reason: string,
  ): Promise<void>;
}

/**
 * Re-sources the fulfillment's lines. False when no other warehouse has any
 * of them (nothing changed; the caller goes on as without re-sourcing).
 * True once the fulfillment has been compensated (CANCELLED, its lines
 * moved) and the new fulfillments have ended.
 */
export async function resource(
  run: OrderRun,
  fulfillmentId: string,
  failure: BookingFailure,
  steps: FulfillmentSteps,
): Promise<boolean> {
  const { recorder, orderId, input } = run;
  const f = recorder.fulfillment(fulfillmentId);
  if (f === undefined) return false;
  const attempt = depthOf(run, fulfillmentId) + 1;
  const { maxAttempts } = policyOf(run);
  const excluded = [...new Set(recorder.order.fulfillments.map((x) => x.warehouseId))];
  const reservation = await activities.reserveInventory({
    orderId,
    items: f.items,
    resourcing: { fulfillmentId, excludeWarehouseIds: excluded },
  });
  if (reservation.allocations.length === 0) {
    recorder.note(
      `re-sourcing ${fulfillmentId} (attempt ${attempt} of ${maxAttempts}): no other warehouse has ${describeLines(f.items)}`,
      "system",
    );
    return false;
  }
  const first = recorder.order.fulfillments.length + 1;
  const fresh = reservation.allocations.map((a, i) =>
    newFulfillment(fulfillmentIdOf(orderId, first + i), a.warehouseId, a.items, input.pricing),
  );
  const depths = depthByRun.get(run) ?? new Map<string, number>();
  depthByRun.set(run, depths);
  for (const x of fresh) depths.set(x.fulfillmentId, attempt);
  const fulfillments = [
    ...recorder.order.fulfillments.map((x) =>
      x.fulfillmentId === fulfillmentId ? resourcedAway(x, input.pricing) : x,
    ),
    ...fresh,
  ];
  const to = fresh.map((x) => `${x.fulfillmentId} (${x.warehouseId})`).join(", ");
  recorder.change({ fulfillments, amounts: sumAmounts(fulfillments.map((x) => x.amounts)) });
  recorder.note(
    `${fulfillmentId} (${f.warehouseId}) re-sourced (attempt ${attempt} of ${maxAttempts}): ${failure.reason}; ${describeLines(f.items)} now from ${to}${
      reservation.unavailable.length > 0
        ? `; no warehouse has ${describeLines(reservation.unavailable)}`
        : ""
    }`,
    "system",
  );
  await Promise.all([
    steps.compensate(run, fulfillmentId, "CANCELLED", `re-sourced to ${to}: ${failure.reason}`),
    ...fresh.map((x) => steps.fulfill(run, x.fulfillmentId)),
  ]);
  return true;
}
