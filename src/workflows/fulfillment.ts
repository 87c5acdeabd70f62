import { ActivityFailure, ApplicationFailure, condition, log } from "@temporalio/workflow";
import {
  authorized,
  booked,
  bookingCancelled,
  captureAmount,
  captured,
  compensated,
  declined,
  delivered,
  dispatched,
  voided,
} from "../domain/fulfillment.js";
import type { Fulfillment } from "../domain/order.js";
import { activities, compensations } from "./activity-proxies.js";
import { lockedByEdit, markBusy, trackHeldAuthorization, waitForItemEdit } from "./edit-locks.js";
import { authorizeAfterFraudReview, goesToFraudReview, onHold, passHolds } from "./holds.js";
import { isWithdrawn } from "./item-cancellation.js";
import { courierReportsOf, noteCourierEvent, type OrderRun } from "./order-run.js";
import {
  heldAuthorization,
  renewsBeforeExpiry,
  waitKeepingAuthorization,
} from "./reauthorization.js";
import { courierBooking, resource, resourcingCalledFor } from "./resourcing.js";

/**
 * One warehouse's part of an order, as a step of the order workflow (no child
 * workflow: every fulfillment of an order shares its workflow tasks):
 * authorize its invoice → book a courier → wait for DISPATCHED (then capture)
 * → wait for DELIVERED. A cancellation before dispatch compensates what was
 * done, newest first: cancel the booking, void the authorization, release
 * the stock. Resolves when the fulfillment has ended.
 */
export async function fulfill(run: OrderRun, fulfillmentId: string): Promise<void> {
  const { orderId, recorder } = run;
  const { submission } = run.input;
  const update = (next: (f: Fulfillment) => Fulfillment) =>
    recorder.updateFulfillment(fulfillmentId, next);
  const current = () => {
    const f = recorder.fulfillment(fulfillmentId);
    if (f === undefined) throw new Error(`no fulfillment ${fulfillmentId}`);
    return f;
  };
  const reports = courierReportsOf(run, fulfillmentId);
  // The order's cancellation, or CancelOrderItems taking every line of this fulfillment.
  const cancelled = () => run.cancellation !== null || isWithdrawn(run, fulfillmentId);

  try {
    if (onHold(run)) {
      await passHolds(run, cancelled);
      if (cancelled())
        return await compensate(run, fulfillmentId, "CANCELLED", "cancelled on hold");
    }
    // An item edit holding this fulfillment (on hold until now) goes first.
    // Checked before awaiting: an order without edits runs as it always did.
    if (lockedByEdit(run, fulfillmentId)) {
      await waitForItemEdit(run, fulfillmentId);
      if (cancelled())
        return await compensate(run, fulfillmentId, "CANCELLED", "cancelled before authorization");
    }
    const f = current();
    markBusy(run, fulfillmentId, true);
    let asked = f.amounts.totalMinor;
    let auth = await activities.authorizePayment({
      orderId,
      fulfillmentId,
      customerId: submission.customerId,
      currencyCode: submission.currencyCode,
      amountMinor: asked,
    });
    if (!auth.approved && goesToFraudReview(run, auth)) {
      const reviewed = await authorizeAfterFraudReview(run, fulfillmentId, auth);
      if (reviewed === null) {
        markBusy(run, fulfillmentId, false);
        return await compensate(run, fulfillmentId, "CANCELLED", "cancelled in fraud review");
      }
      ({ result: auth, amountMinor: asked } = reviewed);
    }
    markBusy(run, fulfillmentId, false);
    if (!auth.approved) {
      update((x) => declined(x, auth.authorizationId, auth.declineReason));
      await compensations.releaseInventory({ orderId, warehouseId: f.warehouseId });
      return;
    }
    update((x) => authorized(x, auth.authorizationId, asked));
    // From here until the capture the authorization is renewed before it expires.
    const held = heldAuthorization(auth);
    trackHeldAuthorization(run, fulfillmentId, held);
    if (onHold(run)) {
      if (!renewsBeforeExpiry(held)) await passHolds(run, cancelled);
      else if (
        !(await waitKeepingAuthorization(
          run,
          fulfillmentId,
          held,
          () => !onHold(run) || cancelled(),
        ))
      )
        return await compensate(run, fulfillmentId, "FAILED", renewalDeclined(held));
    }
    // An item edit holding this fulfillment goes first: the booking carries its lines.
    if (lockedByEdit(run, fulfillmentId)) await waitForItemEdit(run, fulfillmentId);
    if (cancelled())
      return await compensate(run, fulfillmentId, "CANCELLED", "cancelled before dispatch");

    // The address as the order has it now (UpdateShippingAddress may have
    // changed it); from here on it cannot change for this fulfillment.
    run.bookingsInFlight.add(fulfillmentId);
    let booking: { shipmentId: string; courierReference: string };
    // Bounded attempts (orders with a re-sourcing policy) until nowhere else has the stock.
    for (let unbounded = false; ; unbounded = true) {
      try {
        booking = await courierBooking(run, unbounded).bookShipment({
          orderId,
          fulfillmentId,
          warehouseId: f.warehouseId,
          address: recorder.order.shippingAddress,
          // As CancelOrderItems may have left them.
          items: current().items,
        });
        break;
      } catch (err) {
        const failure = resourcingCalledFor(run, fulfillmentId, err);
        if (failure === null) throw err;
        run.bookingsInFlight.delete(fulfillmentId);
        markBusy(run, fulfillmentId, true);
        const moved = await resource(run, fulfillmentId, failure, { fulfill, compensate });
        markBusy(run, fulfillmentId, false);
        if (moved) return;
        // Nowhere else: a rejection fails the fulfillment; a failing booking goes on here.
        if (failure.rejected) throw err;
        run.bookingsInFlight.add(fulfillmentId);
      }
    }
    run.bookingsInFlight.delete(fulfillmentId);
    update((x) => booked(x, booking.shipmentId, booking.courierReference));

    // With renewals: ends early when a renewal of the authorization is declined.
    const pickedUpOrCancelled = () => cancelled() || reports.dispatchedAt !== "";
    if (!renewsBeforeExpiry(held)) await condition(pickedUpOrCancelled);
    else await waitKeepingAuthorization(run, fulfillmentId, held, pickedUpOrCancelled);
    if (reports.dispatchedAt === "") {
      const stopped = await compensations.cancelShipment({
        fulfillmentId,
        shipmentId: booking.shipmentId,
      });
      if (stopped) {
        update(bookingCancelled);
        return cancelled()
          ? await compensate(run, fulfillmentId, "CANCELLED", "cancelled before dispatch")
          : await compensate(run, fulfillmentId, "FAILED", renewalDeclined(held));
      }
      // The courier picked it up before the cancellation reached it: carry on.
      log.info("shipment already dispatched; the cancellation does not apply", { fulfillmentId });
      await condition(() => reports.dispatchedAt !== "");
    }

    // Recorded at once: from here nothing can be cancelled, even while the
    // capture below is still retrying through a payments outage.
    const sent = update((x) => dispatched(x, reports.dispatchedAt));
    noteCourierEvent(run, "DISPATCHED", `shipment ${booking.shipmentId}`, reports);
    recorder.notify("SHIPMENT_DISPATCHED", fulfillmentId, {
      courier_reference: sent.shipment.courierReference,
    });
    await activities.capturePayment({
      fulfillmentId,
      authorizationId: sent.payment.authorizationId,
      amountMinor: captureAmount(sent),
    });
    update(captured);

    await condition(() => reports.deliveredAt !== "");
    update((x) => delivered(x, reports.deliveredAt));
    noteCourierEvent(run, "DELIVERED", `shipment ${booking.shipmentId}`, reports);
    recorder.notify("SHIPMENT_DELIVERED", fulfillmentId);
  } catch (err) {
    // Only a permanent downstream error gets here (transient ones are retried
    // without end): the fulfillment fails and gives back what it holds.
    if (!(err instanceof ActivityFailure)) throw err;
    run.bookingsInFlight.delete(fulfillmentId);
    markBusy(run, fulfillmentId, false);
    const reason = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    log.warn("fulfillment failed", { fulfillmentId, reason });
    const f = current();
    if (f.shipment.status === "BOOKED") {
      await compensations.cancelShipment({ fulfillmentId, shipmentId: f.shipment.shipmentId });
      update(bookingCancelled);
    }
    await compensate(run, fulfillmentId, "FAILED", reason);
  }
}

function renewalDeclined(held: { declineReason: string }): string {
  return `payment declined at re-authorization: ${held.declineReason}`;
}

/**
 * Gives back what the fulfillment holds: void the authorization, release the
 * stock. Stock the courier has already picked up has left the warehouse and
 * is not released (a capture refused after dispatch gets here).
 */
async function compensate(
  run: OrderRun,
  fulfillmentId: string,
  status: "CANCELLED" | "FAILED",
  reason: string,
): Promise<void> {
  const { orderId, recorder } = run;
  // An item edit holding this fulfillment finishes first: what it added is given back too.
  if (lockedByEdit(run, fulfillmentId)) await waitForItemEdit(run, fulfillmentId);
  const f = recorder.fulfillment(fulfillmentId);
  if (f === undefined) return;
  // Both at once: they are independent, and their completions share a workflow task.
  await Promise.all([
    f.payment.status === "AUTHORIZED"
      ? compensations
          .voidPayment({ fulfillmentId, authorizationId: f.payment.authorizationId })
          .then(() => recorder.updateFulfillment(fulfillmentId, voided))
      : undefined,
    f.shipment.status === "DISPATCHED" || f.shipment.status === "DELIVERED"
      ? undefined
      : compensations.releaseInventory({ orderId, warehouseId: f.warehouseId }),
  ]);
  recorder.updateFulfillment(fulfillmentId, (x) => compensated(x, status, reason));
}
