import { ApplicationFailure, condition, setHandler } from "@temporalio/workflow";
import { fulfillmentEnded } from "../domain/completion.js";
import { shipmentReached } from "../domain/fulfillment.js";
import type { Fulfillment } from "../domain/order.js";
import { canCancel } from "../domain/status-rules.js";
import { installEditHandlers } from "./edits.js";
import { installHoldHandlers } from "./holds.js";
import { installItemCancellationHandler } from "./item-cancellation.js";
import { installItemEditHandler } from "./item-edits.js";
import {
  type CancelOrderRequest,
  cancelOrderUpdate,
  getOrderQuery,
  type ResolveUnavailableItemsRequest,
  reportShipmentEventUpdate,
  resolveUnavailableItemsUpdate,
  type ShipmentEventReport,
  WorkflowFailureType,
} from "./messages.js";
import {
  courierReportsOf,
  type OrderRun,
  requestCancellation,
  takeCourierReport,
} from "./order-run.js";

/**
 * The order's messages: a query for its current state and Updates for the
 * caller's cancellation and decision and for courier events. Validators
 * refuse what cannot apply before anything is written to history.
 */
export function installOrderHandlers(run: OrderRun): void {
  const { orderId, recorder } = run;

  setHandler(getOrderQuery, () => recorder.order);
  installHoldHandlers(run);
  installEditHandlers(run);
  installItemCancellationHandler(run);
  installItemEditHandler(run);

  setHandler(
    cancelOrderUpdate,
    async (request: CancelOrderRequest) => {
      requestCancellation(run, "CUSTOMER", request.description, request.requestedBy);
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (_request: CancelOrderRequest) => {
        const order = recorder.order;
        if (order.cancellation === null && !canCancel(order)) {
          throw rejection(
            WorkflowFailureType.NotCancellable,
            `order "${orderId}" is ${order.status.toLowerCase()}${order.status === "PROCESSING" ? " and every fulfillment has been dispatched" : ""}; nothing is left to cancel`,
          );
        }
      },
    },
  );

  setHandler(
    resolveUnavailableItemsUpdate,
    async (request: ResolveUnavailableItemsRequest) => {
      run.resolution = request.resolution;
      if (request.resolution === "CANCEL_ORDER") {
        requestCancellation(
          run,
          "CUSTOMER",
          "the customer declined a partial order",
          request.requestedBy,
        );
      } else {
        recorder.note(
          "the customer chose to proceed without the unavailable items",
          request.requestedBy,
        );
      }
      // Reply with the order as the decision left it (PROCESSING, or cancelling).
      await condition(
        () => recorder.order.status !== "CUSTOMER_ACTION_REQUIRED" || run.cancellation !== null,
      );
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (_request: ResolveUnavailableItemsRequest) => {
        const order = recorder.order;
        if (order.status !== "CUSTOMER_ACTION_REQUIRED" || run.resolution !== null) {
          throw rejection(
            WorkflowFailureType.NotAwaitingAction,
            `order "${orderId}" is ${order.status.toLowerCase()}; it is not waiting for a decision on unavailable items`,
          );
        }
      },
    },
  );

  setHandler(
    reportShipmentEventUpdate,
    async (report: ShipmentEventReport) => {
      takeCourierReport(courierReportsOf(run, report.fulfillmentId), report);
      // Reply once the order shows the event (or the fulfillment has ended
      // without it), so the courier's next event always finds it applied.
      await condition(() => {
        const f = run.recorder.fulfillment(report.fulfillmentId);
        return f === undefined || fulfillmentEnded(f) || reached(f, report.event);
      });
      await recorder.flushed();
      const f = run.recorder.fulfillment(report.fulfillmentId) as Fulfillment;
      if (f.shipment.shipmentId !== report.shipmentId || !reached(f, report.event)) {
        // Only a booking that ended otherwise than the courier thought gets here.
        throw rejection(
          WorkflowFailureType.ShipmentEventOutOfOrder,
          `shipment ${report.shipmentId} is ${f.shipment.status.toLowerCase()}; ${report.event.toLowerCase()} does not follow`,
        );
      }
      return f;
    },
    { validator: (report: ShipmentEventReport) => validateShipmentEvent(run, report) },
  );
}

/** Whether the fulfillment's shipment has got as far as the event. */
function reached(f: Fulfillment, event: ShipmentEventReport["event"]): boolean {
  return shipmentReached(f.shipment.status, event);
}

/**
 * Courier events must follow the shipment: DISPATCHED once booked (or while
 * the booking is in flight), DELIVERED once dispatched. A repeat of an event
 * already applied is accepted and changes nothing; anything else is refused.
 */
function validateShipmentEvent(run: OrderRun, report: ShipmentEventReport): void {
  const f = run.recorder.fulfillment(report.fulfillmentId);
  if (f === undefined) {
    throw rejection(
      WorkflowFailureType.ShipmentNotFound,
      `order "${run.orderId}" has no fulfillment "${report.fulfillmentId}"`,
    );
  }
  const { shipmentId, status } = f.shipment;
  if (shipmentId !== "" && shipmentId !== report.shipmentId) {
    throw rejection(
      WorkflowFailureType.ShipmentNotFound,
      `fulfillment "${f.fulfillmentId}" has shipment "${shipmentId}", not "${report.shipmentId}"`,
    );
  }
  const dispatchSeen = courierReportsOf(run, f.fulfillmentId).dispatchedAt !== "";
  // Booked at the shipping service but not yet recorded here: the booking is
  // in flight, and the handler waits for it.
  const bookingInFlight =
    shipmentId === "" && (f.status === "PENDING" || f.status === "AUTHORIZED");
  const inOrder =
    report.event === "DISPATCHED"
      ? bookingInFlight || status === "BOOKED" || status === "DISPATCHED" || status === "DELIVERED"
      : status === "DISPATCHED" ||
        status === "DELIVERED" ||
        ((status === "BOOKED" || bookingInFlight) && dispatchSeen);
  if (!inOrder || (f.status === "CANCELLED" && status !== "DELIVERED")) {
    throw rejection(
      WorkflowFailureType.ShipmentEventOutOfOrder,
      `shipment ${shipmentId || report.shipmentId} is ${status.toLowerCase()}; ${report.event.toLowerCase()} does not follow`,
    );
  }
}

function rejection(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
