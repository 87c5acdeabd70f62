/**
 * Edits of a running order as validated Updates of its workflow. The
 * validators decide from the order as the workflow holds it, so an edit and
 * the step it races (a courier booking, an authorization) are ordered by the
 * workflow itself: whichever reaches it first wins, and the other sees it.
 */
import { ApplicationFailure, setHandler } from "@temporalio/workflow";
import { bookedWithCourier, isStale } from "../domain/edits.js";
import { isTerminal } from "../domain/order.js";
import {
  type UpdateShippingAddressRequest,
  updateShippingAddressUpdate,
  WorkflowFailureType,
} from "./messages.js";
import type { OrderRun } from "./order-run.js";

/** The checks every edit shares: the order has not ended, and is at the version the caller edited. */
export function validateEdit(run: OrderRun, expectedVersion: number, what: string): void {
  const order = run.recorder.order;
  if (isTerminal(order.status)) {
    throw rejection(
      WorkflowFailureType.NotEditable,
      `order "${order.orderId}" is ${order.status.toLowerCase()}; ${what} no longer applies`,
    );
  }
  if (isStale(order, expectedVersion)) {
    throw rejection(
      WorkflowFailureType.VersionMismatch,
      `order "${order.orderId}" is at version ${order.version}, not ${expectedVersion}; read it again and retry`,
      { current_version: String(order.version) },
    );
  }
}

export function installEditHandlers(run: OrderRun): void {
  const { recorder } = run;

  setHandler(
    updateShippingAddressUpdate,
    async (request: UpdateShippingAddressRequest) => {
      const a = request.address;
      recorder.change({ shippingAddress: a });
      recorder.note(
        `shipping address changed to ${[a.line1, a.city, a.countryCode].filter(Boolean).join(", ")}${request.reason ? `: ${request.reason}` : ""}`,
        request.requestedBy,
      );
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (request: UpdateShippingAddressRequest) => {
        validateEdit(run, request.expectedVersion, "a new shipping address");
        const booked = bookedWithCourier(recorder.order, run.bookingsInFlight);
        if (booked.length > 0) {
          const ids = booked.map((f) => f.fulfillmentId);
          throw rejection(
            WorkflowFailureType.AlreadyBooked,
            `the shipping address can no longer change: fulfillment(s) ${ids.join(", ")} are booked with the courier`,
            { fulfillment_ids: ids.join(",") },
          );
        }
      },
    },
  );
}

/** A validator's refusal: nothing is written to history; the API maps `type` to a gRPC status. */
export function rejection(
  type: string,
  message: string,
  metadata: Record<string, string> = {},
): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: [metadata] });
}
