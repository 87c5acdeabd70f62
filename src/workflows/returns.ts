import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  setHandler,
} from "@temporalio/workflow";
import { shipmentReached } from "../domain/fulfillment.js";
import type { Fulfillment, Order } from "../domain/order.js";
import {
  labelBooked,
  newReturn,
  type OrderReturn,
  paymentRefunded,
  planReturn,
  returnCancellable,
  returnClosed,
  returnEnded,
  returnId,
  returnInTransit,
  returnReached,
  returnReceived,
  returnRefunded,
  returnsOf,
} from "../domain/returns.js";
import { activities, compensations, readModel } from "./activity-proxies.js";
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
import { createOrderRecorder, type OrderRecorder } from "./order-recorder.js";
import { type CourierReports, takeCourierReport } from "./order-run.js";
import {
  type CancelReturnInput,
  cancelReturnUpdate,
  type OrderReturnsInput,
  type RequestReturnInput,
  ReturnFailureType,
  requestReturnUpdate,
} from "./returns-messages.js";

/**
 * Returns of a completed order, as a new run of the order's own workflow id
 * (`order/<order_id>`), started by the first RequestReturn with
 * Update-with-Start. An order without returns pays nothing for them: its run
 * ends at COMPLETED as before. This run owns the order while it lasts (the
 * order's first run has closed), writes every change as a version like the
 * first run did, and ends once every return has ended; a later RequestReturn
 * starts another run from the stored order.
 *
 * Each return: book a label (shipping) → wait for the courier to pick the
 * parcel up, a CancelReturn, or the ship-by deadline (a durable timer) →
 * in transit → received → refund (payments, key `<return_id>:refund`) and
 * restock (inventory) → REFUNDED. Cancelled or expired before pick-up: the
 * label is cancelled.
 */
export async function orderReturnsWorkflow(input: OrderReturnsInput): Promise<Order> {
  const recorder = createOrderRecorder(input.order, "", readModel.saveOrder, {
    timelineSequence: input.timelineSequence,
  });
  const run: ReturnsRun = {
    input,
    recorder,
    courier: new Map(),
    cancels: new Set(),
    processing: 0,
  };
  installReturnHandlers(run);
  // The first Update arrives with the start; the run lasts while any return is under way.
  await condition(
    () =>
      run.processing === 0 && returnsOf(recorder.order).every(returnEnded) && allHandlersFinished(),
  );
  await recorder.flushed();
  await condition(allHandlersFinished);
  return recorder.order;
}

interface ReturnsRun {
  readonly input: OrderReturnsInput;
  readonly recorder: OrderRecorder;
  /** Courier events per return id. */
  readonly courier: Map<string, CourierReports>;
  /** Returns a CancelReturn asked to stop. */
  readonly cancels: Set<string>;
  /** Returns whose steps are running. */
  processing: number;
}

function installReturnHandlers(run: ReturnsRun): void {
  const { recorder } = run;
  const orderId = recorder.order.orderId;

  setHandler(getOrderQuery, () => recorder.order);

  setHandler(
    requestReturnUpdate,
    async (request: RequestReturnInput) => {
      const plan = planReturn(recorder.order, request.items, new Date(), run.input.policy);
      if (!plan.ok) throw rejection(ReturnFailureType.NotReturnable, plan.why);
      const now = new Date().toISOString();
      const existing = returnsOf(recorder.order);
      const created = plan.returns.map((planned, i) =>
        newReturn(
          returnId(orderId, existing.length + i + 1),
          planned,
          request.reason,
          request.requestedBy,
          now,
          run.input.policy,
        ),
      );
      recorder.change({ returns: [...existing, ...created] });
      for (const r of created) {
        recorder.note(
          `return ${r.returnId} requested: ${r.lines.map((l) => `${l.quantity} x ${l.sku}`).join(", ")}${request.reason ? ` (${request.reason})` : ""}`,
          request.requestedBy,
        );
        startReturn(run, r.returnId);
      }
      await recorder.flushed();
      return { order: recorder.order, returnIds: created.map((r) => r.returnId) };
    },
    {
      validator: (request: RequestReturnInput) => {
        const plan = planReturn(recorder.order, request.items, new Date(), run.input.policy);
        if (!plan.ok) throw rejection(ReturnFailureType.NotReturnable, plan.why);
      },
    },
  );

  setHandler(
    cancelReturnUpdate,
    async (request: CancelReturnInput) => {
      const r = findReturn(recorder.order, request.returnId) as OrderReturn;
      if (!returnEnded(r) && !run.cancels.has(r.returnId)) {
        run.cancels.add(r.returnId);
        recorder.note(`return ${r.returnId}: cancellation requested`, request.requestedBy);
      }
      await condition(() => returnEnded(findReturn(recorder.order, r.returnId) as OrderReturn));
      await recorder.flushed();
      const ended = findReturn(recorder.order, r.returnId) as OrderReturn;
      if (ended.status !== "CANCELLED") {
        throw rejection(
          ReturnFailureType.ReturnNotCancellable,
          `return ${r.returnId} is ${ended.status.toLowerCase()}; the courier had already picked it up`,
        );
      }
      return recorder.order;
    },
    {
      validator: (request: CancelReturnInput) => {
        const r = findReturn(recorder.order, request.returnId);
        if (r === undefined) {
          throw rejection(
            ReturnFailureType.ReturnNotFound,
            `order "${orderId}" has no return "${request.returnId}"`,
          );
        }
        if (r.status !== "CANCELLED" && !returnCancellable(r)) {
          throw rejection(
            ReturnFailureType.ReturnNotCancellable,
            `return ${r.returnId} is ${r.status.toLowerCase()}; only a return not yet shipped can be cancelled`,
          );
        }
      },
    },
  );

  setHandler(
    reportShipmentEventUpdate,
    async (report: ShipmentEventReport) => {
      takeCourierReport(courierOf(run, report.fulfillmentId), report);
      await condition(() => {
        const r = findReturn(recorder.order, report.fulfillmentId) as OrderReturn;
        return returnEnded(r) || returnReached(r, report.event);
      });
      await recorder.flushed();
      const r = findReturn(recorder.order, report.fulfillmentId) as OrderReturn;
      if (!returnReached(r, report.event)) {
        throw rejection(
          WorkflowFailureType.ShipmentEventOutOfOrder,
          `return ${r.returnId} is ${r.status.toLowerCase()}; ${report.event.toLowerCase()} does not follow`,
        );
      }
      return labelAsFulfillment(recorder.order, r);
    },
    { validator: (report: ShipmentEventReport) => validateCourierEvent(run, report) },
  );

  // The order itself has ended: nothing to cancel or decide any more.
  setHandler(cancelOrderUpdate, async (_request: CancelOrderRequest) => recorder.order, {
    validator: (_request: CancelOrderRequest) => {
      throw rejection(
        WorkflowFailureType.NotCancellable,
        `order "${orderId}" is ${recorder.order.status.toLowerCase()}; nothing is left to cancel`,
      );
    },
  });
  setHandler(
    resolveUnavailableItemsUpdate,
    async (_request: ResolveUnavailableItemsRequest) => recorder.order,
    {
      validator: (_request: ResolveUnavailableItemsRequest) => {
        throw rejection(
          WorkflowFailureType.NotAwaitingAction,
          `order "${orderId}" is ${recorder.order.status.toLowerCase()}; it is not waiting for a decision on unavailable items`,
        );
      },
    },
  );
}

/** Runs one return's steps in the background; the run waits for all of them. */
function startReturn(run: ReturnsRun, id: string): void {
  run.processing += 1;
  void processReturn(run, id).finally(() => {
    run.processing -= 1;
  });
}

async function processReturn(run: ReturnsRun, id: string): Promise<void> {
  const { recorder } = run;
  const order = recorder.order;
  const r = findReturn(order, id) as OrderReturn;
  const reports = courierOf(run, id);

  let label: { shipmentId: string; courierReference: string };
  try {
    label = await activities.bookReturnLabel({
      orderId: order.orderId,
      returnId: id,
      warehouseId: r.warehouseId,
      pickup: order.shippingAddress,
      lines: r.lines,
    });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const why = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    updateReturn(recorder, id, (x) => returnClosed(x, "CANCELLED", `label not booked: ${why}`));
    recorder.note(`return ${id} cancelled: the label could not be booked (${why})`, "system");
    return;
  }
  updateReturn(recorder, id, (x) => labelBooked(x, label.shipmentId, label.courierReference));
  recorder.note(`return ${id}: label booked (shipment ${label.shipmentId})`, "system");

  // Shipped, cancelled, or not shipped in time (a durable timer).
  const remainingMs = Date.parse(r.shipByTime) - Date.now();
  await condition(
    () => reports.dispatchedAt !== "" || run.cancels.has(id),
    Math.max(1, remainingMs),
  );
  if (reports.dispatchedAt === "") {
    const cancelled = await compensations.cancelShipment({
      fulfillmentId: id,
      shipmentId: label.shipmentId,
    });
    if (cancelled) {
      const byCaller = run.cancels.has(id);
      const reason = byCaller ? "cancelled before it was shipped" : "not shipped in time";
      updateReturn(recorder, id, (x) =>
        returnClosed(x, byCaller ? "CANCELLED" : "EXPIRED", reason),
      );
      recorder.note(`return ${id} ${byCaller ? "cancelled" : "expired"}: ${reason}`, "system");
      return;
    }
    // The courier picked the parcel up meanwhile: its event is on the way.
    await condition(() => reports.dispatchedAt !== "");
  }
  updateReturn(recorder, id, (x) => returnInTransit(x, reports.dispatchedAt));
  recorder.note(`return ${id}: in transit`, reports.dispatchedBy || "system");

  await condition(() => reports.deliveredAt !== "");
  updateReturn(recorder, id, (x) => returnReceived(x, reports.deliveredAt));
  recorder.note(`return ${id}: received at ${r.warehouseId}`, reports.deliveredBy || "system");

  const f = recorder.fulfillment(r.fulfillmentId) as Fulfillment;
  const [refund] = await Promise.all([
    // 0 would refund everything captured: a return with nothing left to refund skips the call.
    r.refundMinor > 0
      ? activities.refundReturn({
          returnId: id,
          authorizationId: f.payment.authorizationId,
          amountMinor: r.refundMinor,
        })
      : Promise.resolve({ refundedMinor: 0 }),
    activities.restockReturn({
      orderId: order.orderId,
      returnId: id,
      warehouseId: r.warehouseId,
      lines: r.lines,
    }),
  ]);
  recorder.updateFulfillment(r.fulfillmentId, (x) => paymentRefunded(x, refund.refundedMinor));
  updateReturn(recorder, id, (x) => returnRefunded(x, refund.refundedMinor));
  recorder.note(`return ${id}: refunded ${refund.refundedMinor} and restocked`, "system");
}

function updateReturn(
  recorder: OrderRecorder,
  id: string,
  next: (r: OrderReturn) => OrderReturn,
): void {
  recorder.change({
    returns: returnsOf(recorder.order).map((r) => (r.returnId === id ? next(r) : r)),
  });
}

function findReturn(order: Order, id: string): OrderReturn | undefined {
  return returnsOf(order).find((r) => r.returnId === id);
}

function courierOf(run: ReturnsRun, id: string): CourierReports {
  let reports = run.courier.get(id);
  if (reports === undefined) {
    reports = { dispatchedAt: "", deliveredAt: "" };
    run.courier.set(id, reports);
  }
  return reports;
}

/**
 * Courier events in a returns run: for a return label, DISPATCHED once the
 * label is booked (or being booked), DELIVERED once dispatched; for the
 * order's own shipments (long delivered), only repeats of what was applied.
 */
function validateCourierEvent(run: ReturnsRun, report: ShipmentEventReport): void {
  const order = run.recorder.order;
  const r = findReturn(order, report.fulfillmentId);
  if (r === undefined) {
    const f = order.fulfillments.find((x) => x.fulfillmentId === report.fulfillmentId);
    if (f === undefined || f.shipment.shipmentId !== report.shipmentId) {
      throw rejection(
        WorkflowFailureType.ShipmentNotFound,
        `order "${order.orderId}" has no shipment "${report.shipmentId}" for "${report.fulfillmentId}"`,
      );
    }
    if (!shipmentReached(f.shipment.status, report.event)) {
      throw rejection(
        WorkflowFailureType.ShipmentEventOutOfOrder,
        `shipment ${report.shipmentId} is ${f.shipment.status.toLowerCase()}; ${report.event.toLowerCase()} does not follow`,
      );
    }
    return;
  }
  if (r.label.shipmentId !== "" && r.label.shipmentId !== report.shipmentId) {
    throw rejection(
      WorkflowFailureType.ShipmentNotFound,
      `return "${r.returnId}" has label "${r.label.shipmentId}", not "${report.shipmentId}"`,
    );
  }
  const dispatchSeen = courierOf(run, r.returnId).dispatchedAt !== "";
  const inOrder =
    returnReached(r, report.event) ||
    (report.event === "DISPATCHED"
      ? r.status === "REQUESTED" || r.status === "LABEL_BOOKED"
      : r.status === "IN_TRANSIT" || dispatchSeen);
  if (!inOrder) {
    throw rejection(
      WorkflowFailureType.ShipmentEventOutOfOrder,
      `return ${r.returnId} is ${r.status.toLowerCase()}; ${report.event.toLowerCase()} does not follow`,
    );
  }
}

/**
 * The reply of reportShipmentEvent for a return label, in the shape the
 * Update declares (a fulfillment): the label as its shipment.
 */
function labelAsFulfillment(order: Order, r: OrderReturn): Fulfillment {
  const f = order.fulfillments.find((x) => x.fulfillmentId === r.fulfillmentId) as Fulfillment;
  return {
    ...f,
    fulfillmentId: r.returnId,
    items: r.lines,
    shipment: {
      shipmentId: r.label.shipmentId,
      status: returnReached(r, "DELIVERED") ? "DELIVERED" : "DISPATCHED",
      courierReference: r.label.courierReference,
      dispatchTime: r.label.dispatchTime,
      deliveryTime: r.label.deliveryTime,
    },
  };
}

function rejection(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
