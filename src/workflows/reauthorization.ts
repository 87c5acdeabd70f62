/**
 * Re-authorization before expiry, as part of a fulfillment's step: while a
 * fulfillment waits with an authorization it has not captured (on a hold,
 * for the courier's pickup), a durable timer at (expiry − margin) renews it:
 * authorize again under the renewal's own idempotency key, then void the old
 * authorization under its own. The wait's timer is the only cost when the
 * courier comes first (TimerStarted + TimerCanceled, no workflow task).
 *
 * Orders whose payment service sets no expiry, and histories recorded before
 * this existed (patch `reauthorize-before-expiry`), wait as before.
 */
import { condition, patched } from "@temporalio/workflow";
import type { AuthorizeResult } from "../activities/index.js";
import { captureAmount, reauthorized } from "../domain/fulfillment.js";
import { DEFAULT_REAUTHORIZE_MARGIN_MS, renewalDelayMs } from "../domain/reauthorization.js";
import { activities, compensations } from "./activity-proxies.js";
import { lockedByEdit, markBusy, waitForItemEdit } from "./edit-locks.js";
import type { OrderRun } from "./order-run.js";

export const REAUTHORIZE_PATCH = "reauthorize-before-expiry";

/** The authorization a fulfillment holds, as far as its renewal is concerned. */
export interface HeldAuthorization {
  /** When it expires (ISO 8601); undefined: it does not expire. */
  expireTime: string | undefined;
  /** Renewals so far (each one's generation names its idempotency keys). */
  generation: number;
  /** Why the last renewal was declined, if it was. */
  declineReason: string;
}

/** What the fulfillment holds after its (approved) authorization. */
export function heldAuthorization(auth: AuthorizeResult): HeldAuthorization {
  return {
    expireTime: auth.approved ? auth.expireTime : undefined,
    generation: 0,
    declineReason: "",
  };
}

/**
 * Whether this fulfillment renews its authorization while it waits: its
 * authorization expires, and the run is past the patch. Callers that get
 * false wait exactly as before (their own `condition`, no extra await).
 */
export function renewsBeforeExpiry(held: HeldAuthorization): boolean {
  return held.expireTime !== undefined && patched(REAUTHORIZE_PATCH);
}

/**
 * Waits until `done()`, renewing the authorization each time it is due (for
 * fulfillments that `renewsBeforeExpiry`). False when a renewal was declined
 * (the old authorization is left as it was, still valid until its expiry;
 * `held.declineReason` says why).
 */
export async function waitKeepingAuthorization(
  run: OrderRun,
  fulfillmentId: string,
  held: HeldAuthorization,
  done: () => boolean,
): Promise<boolean> {
  const marginMs = run.input.reauthorizeMarginMs ?? DEFAULT_REAUTHORIZE_MARGIN_MS;
  for (;;) {
    if (done()) return true;
    if (held.expireTime === undefined) {
      await condition(done);
      return true;
    }
    const expiry = held.expireTime;
    const delayMs = renewalDelayMs(expiry, Date.now(), marginMs);
    if (delayMs > 0 && (await condition(done, delayMs))) return true;
    if (done()) return true;
    // An item edit authorized again meanwhile (a later expiry), or is doing so: look again.
    if (held.expireTime !== expiry) continue;
    if (lockedByEdit(run, fulfillmentId)) {
      await waitForItemEdit(run, fulfillmentId);
      continue;
    }
    markBusy(run, fulfillmentId, true);
    const renewed = await renew(run, fulfillmentId, held);
    markBusy(run, fulfillmentId, false);
    if (!renewed) return false;
  }
}

/** Authorizes again, then voids the authorization the new one replaces. */
async function renew(run: OrderRun, fulfillmentId: string, held: HeldAuthorization) {
  const { recorder, orderId } = run;
  const f = recorder.fulfillment(fulfillmentId);
  if (f === undefined) throw new Error(`no fulfillment ${fulfillmentId}`);
  const generation = held.generation + 1;
  const amountMinor = captureAmount(f);
  const old = f.payment.authorizationId;
  const auth = await activities.authorizePayment({
    orderId,
    fulfillmentId,
    customerId: run.input.submission.customerId,
    currencyCode: run.input.submission.currencyCode,
    amountMinor,
    renewal: generation,
  });
  if (!auth.approved) {
    held.declineReason = auth.declineReason;
    recorder.note(
      `payment re-authorization declined (${fulfillmentId}): ${auth.declineReason}`,
      "system",
    );
    return false;
  }
  held.generation = generation;
  held.expireTime = auth.expireTime;
  recorder.updateFulfillment(fulfillmentId, (x) =>
    reauthorized(x, auth.authorizationId, amountMinor),
  );
  recorder.note(
    `payment re-authorized before expiry (${fulfillmentId}, renewal ${generation}): ${auth.authorizationId} replaces ${old}${auth.expireTime ? `, valid until ${auth.expireTime}` : ""}`,
    "system",
  );
  await compensations.voidPayment({ fulfillmentId, authorizationId: old, renewal: generation });
  return true;
}
