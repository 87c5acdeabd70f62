/**
 * Holds as steps of the order workflow: PlaceHold / ReleaseHold Updates, a
 * durable deadline timer per hold, the gate every fulfillment passes before
 * it authorizes or books, and the automatic FRAUD_REVIEW hold of an
 * authorization declined over the customer's spending limit.
 *
 * Nothing here runs for an order that never has a hold: no timer, no marker,
 * no extra write, so the common path costs what it did before holds.
 */
import { condition, patched, setHandler } from "@temporalio/workflow";
import type { AuthorizeResult } from "../activities/index.js";
import {
  DEFAULT_HOLD_POLICY,
  describeHold,
  endHold,
  type Hold,
  type HoldPolicy,
  type HoldType,
  holdsOf,
  isOnHold,
  newHold,
  withHold,
} from "../domain/holds.js";
import { isTerminal } from "../domain/order.js";
import { activities } from "./activity-proxies.js";
import { rejection } from "./edits.js";
import {
  type PlaceHoldRequest,
  placeHoldUpdate,
  type ReleaseHoldRequest,
  releaseHoldUpdate,
  WorkflowFailureType,
} from "./messages.js";
import { type OrderRun, requestCancellation } from "./order-run.js";

function policyOf(run: OrderRun): HoldPolicy {
  return run.input.holdPolicy ?? DEFAULT_HOLD_POLICY;
}

function holdById(run: OrderRun, holdId: string): Hold | undefined {
  return holdsOf(run.recorder.order).find((h) => h.holdId === holdId);
}

/** Records a new active hold, with its timeline entry, and starts its deadline timer. */
export function placeHold(run: OrderRun, type: HoldType, reason: string, placedBy: string): Hold {
  const { recorder } = run;
  const policy = policyOf(run);
  const hold = newHold(recorder.order, type, reason, placedBy, new Date(), policy);
  recorder.change({ holds: withHold(recorder.order, hold) });
  recorder.note(
    `${describeHold(hold)} placed${reason ? `: ${reason}` : ""} (deadline ${hold.deadline}, then ${hold.expiryAction.toLowerCase()})`,
    placedBy,
  );
  void expireAtDeadline(run, hold.holdId, policy[type].timeoutMs);
  return hold;
}

/** Ends an active hold (released by someone, or by the order ending); false if it was not active. */
export function releaseHold(run: OrderRun, holdId: string, by: string, reason: string): boolean {
  const { recorder } = run;
  const hold = holdById(run, holdId);
  if (hold === undefined || hold.status !== "ACTIVE") return false;
  const ended = endHold(hold, "RELEASED", by, reason, new Date().toISOString());
  recorder.change({ holds: withHold(recorder.order, ended) });
  recorder.note(`${describeHold(hold)} released${reason ? `: ${reason}` : ""}`, by);
  return true;
}

/**
 * The hold's deadline, as a durable timer: if it is still active then, it
 * expires and its type's action runs: the order goes on (RELEASE) or is
 * cancelled with compensation (CANCEL).
 */
async function expireAtDeadline(run: OrderRun, holdId: string, timeoutMs: number): Promise<void> {
  const active = () => holdById(run, holdId)?.status === "ACTIVE";
  if (await condition(() => !active(), timeoutMs)) return;
  const { recorder } = run;
  const hold = holdById(run, holdId) as Hold;
  const expired = endHold(hold, "EXPIRED", "system", "deadline passed", new Date().toISOString());
  recorder.change({ holds: withHold(recorder.order, expired) });
  recorder.note(
    `${describeHold(hold)} expired at its deadline: ${hold.expiryAction === "CANCEL" ? "cancelling the order" : "released"}`,
    "system",
  );
  if (hold.expiryAction === "CANCEL") {
    requestCancellation(
      run,
      "BUSINESS",
      `the ${hold.type} hold was not released by its deadline`,
      "system",
    );
  }
}

/** Whether any hold is active now. */
export function onHold(run: OrderRun): boolean {
  return isOnHold(run.recorder.order);
}

/**
 * The gate before anything new is authorized or booked: waits while any
 * hold is active; ends early when the order is cancelled meanwhile. Callers
 * ask `onHold` first, so an order without holds does not even await here.
 */
export async function passHolds(
  run: OrderRun,
  stopped: () => boolean = () => run.cancellation !== null,
): Promise<void> {
  await condition(() => !onHold(run) || stopped());
}

/** Whether a declined authorization goes to fraud review instead of failing the fulfillment. */
export function goesToFraudReview(run: OrderRun, auth: AuthorizeResult): boolean {
  return (
    !auth.approved &&
    auth.declineCode === "SPENDING_LIMIT_EXCEEDED" &&
    policyOf(run).fraudReviewOnSpendingLimit &&
    // Histories recorded before holds existed declined here: they replay that.
    patched("holds-fraud-review")
  );
}

/**
 * An authorization declined over the spending limit: the order goes to
 * FRAUD_REVIEW (one hold, shared by every fulfillment declined meanwhile)
 * and waits. Released: the authorization is asked again, once, with the
 * review's approval. Cancelled meanwhile: null (nothing is authorized; the
 * caller compensates). Expired without a release: the decline stands.
 */
export async function authorizeAfterFraudReview(
  run: OrderRun,
  fulfillmentId: string,
  declined: AuthorizeResult & { approved: false },
): Promise<{ result: AuthorizeResult; amountMinor: number } | null> {
  const { recorder, orderId } = run;
  const existing = holdsOf(recorder.order).find(
    (h) => h.type === "FRAUD_REVIEW" && h.status === "ACTIVE" && h.placedBy === "system",
  );
  const hold =
    existing ??
    placeHold(
      run,
      "FRAUD_REVIEW",
      `an authorization was declined over the customer's spending limit: ${declined.declineReason}`,
      "system",
    );
  await condition(
    () => holdById(run, hold.holdId)?.status !== "ACTIVE" || run.cancellation !== null,
  );
  if (run.cancellation !== null) return null;
  // Expired without a decision (an expiry that releases): the decline stands.
  if (holdById(run, hold.holdId)?.status !== "RELEASED") {
    return { result: declined, amountMinor: 0 };
  }
  if (onHold(run)) await passHolds(run);
  if (run.cancellation !== null) return null;
  const f = recorder.fulfillment(fulfillmentId);
  if (f === undefined) return null;
  const { submission } = run.input;
  const amountMinor = f.amounts.totalMinor;
  const result = await activities.authorizePayment({
    orderId,
    fulfillmentId,
    customerId: submission.customerId,
    currencyCode: submission.currencyCode,
    amountMinor,
    fraudReviewHoldId: hold.holdId,
  });
  return { result, amountMinor };
}

/** An order that ends releases the holds still active (they stop nothing any more). */
export function releaseRemainingHolds(run: OrderRun): void {
  for (const hold of holdsOf(run.recorder.order)) {
    if (hold.status === "ACTIVE") releaseHold(run, hold.holdId, "system", "the order has ended");
  }
}

/** PlaceHold and ReleaseHold. */
export function installHoldHandlers(run: OrderRun): void {
  const { orderId, recorder } = run;

  setHandler(
    placeHoldUpdate,
    async (request: PlaceHoldRequest) => {
      const hold = placeHold(run, request.type, request.reason, request.requestedBy);
      await recorder.flushed();
      return { order: recorder.order, hold: holdById(run, hold.holdId) as Hold };
    },
    {
      validator: (_request: PlaceHoldRequest) => {
        const status = recorder.order.status;
        if (isTerminal(status)) {
          throw rejection(
            WorkflowFailureType.NotHoldable,
            `order "${orderId}" is ${status.toLowerCase()}; an order that has ended cannot be held`,
          );
        }
      },
    },
  );

  setHandler(
    releaseHoldUpdate,
    async (request: ReleaseHoldRequest) => {
      releaseHold(run, request.holdId, request.requestedBy, request.reason);
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (request: ReleaseHoldRequest) => {
        if (holdById(run, request.holdId) === undefined) {
          throw rejection(
            WorkflowFailureType.HoldNotFound,
            `order "${orderId}" has no hold "${request.holdId}"`,
          );
        }
      },
    },
  );
}
