import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  type ChildWorkflowHandle,
  condition,
  log,
  setHandler,
  startChild,
} from "@temporalio/workflow";
import type { NotificationKind } from "../activities/index.js";
import {
  finalOrderStatus,
  fulfillmentCancellable,
  fulfillmentEnded,
} from "../domain/completion.js";
import { fulfillmentId, fulfillmentWorkflowId } from "../domain/ids.js";
import { newOrder } from "../domain/new-order.js";
import type { Cancellation, CancellationReason, Fulfillment, LineItem } from "../domain/order.js";
import { invoiceFor, sumAmounts } from "../domain/pricing.js";
import { canCancel } from "../domain/status-rules.js";
import { activities, compensations, notifications, readModel } from "./activity-proxies.js";
import { fulfillmentWorkflow } from "./fulfillment.js";
import {
  type CancelOrderRequest,
  cancelFulfillmentSignal,
  cancelOrderUpdate,
  fulfillmentProgressSignal,
  getOrderQuery,
  type OrderWorkflowInput,
  type Resolution,
  type ResolveUnavailableItemsRequest,
  resolveUnavailableItemsUpdate,
  WorkflowFailureType,
} from "./messages.js";
import { createOrderRecorder } from "./order-recorder.js";

/**
 * The life of one order (spec section 5): accept → reserve → [customer
 * decision on unavailable items] → one child workflow per warehouse → done.
 * This workflow is the only writer of the order's read model: every
 * transition becomes a version, written by a local activity before the order
 * moves on.
 */
export async function orderWorkflow(input: OrderWorkflowInput): Promise<void> {
  const { submission } = input;
  const { orderId } = submission;
  const recorder = createOrderRecorder(
    newOrder(submission, input.acceptTime, input.pricing),
    input.submittedBy,
    readModel.saveOrder,
  );
  let cancellation: Cancellation | null = null;
  let resolution: Resolution | null = null;
  const children = new Map<string, ChildWorkflowHandle<typeof fulfillmentWorkflow>>();
  const sent: Promise<void>[] = [];

  /** Best effort: a notification that keeps failing is logged, never fatal. */
  const notify = (
    kind: Exclude<NotificationKind, "UNSPECIFIED">,
    subject = "",
    data: Record<string, string> = {},
  ) => {
    sent.push(
      notifications
        .sendNotification({ orderId, customerId: submission.customerId, kind, subject, data })
        .catch((err: unknown) => log.warn("notification not sent", { kind, error: String(err) })),
    );
  };

  const requestCancellation = (
    reason: CancellationReason,
    description: string,
    requestedBy: string,
  ) => {
    if (cancellation !== null) return;
    cancellation = { reason, description, requestedBy, requestTime: new Date().toISOString() };
    recorder.change({ cancellation });
    recorder.note(`cancellation requested${description ? `: ${description}` : ""}`, requestedBy);
    for (const f of recorder.order.fulfillments) {
      if (fulfillmentCancellable(f)) void cancelChild(f.fulfillmentId);
    }
  };

  /** A child that has ended meanwhile has nothing left to cancel: its signal may fail. */
  const cancelChild = async (id: string) => {
    await children
      .get(id)
      ?.signal(cancelFulfillmentSignal)
      .catch(() => undefined);
  };

  setHandler(getOrderQuery, () => recorder.order);

  setHandler(
    cancelOrderUpdate,
    async (request: CancelOrderRequest) => {
      requestCancellation("CUSTOMER", request.description, request.requestedBy);
      await recorder.commit();
      return recorder.order;
    },
    {
      validator: (_request: CancelOrderRequest) => {
        const order = recorder.order;
        if (order.cancellation === null && !canCancel(order)) {
          throw ApplicationFailure.create({
            type: WorkflowFailureType.NotCancellable,
            message: `order "${orderId}" is ${order.status.toLowerCase()}${order.status === "PROCESSING" ? " and every fulfillment has been dispatched" : ""}; nothing is left to cancel`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  setHandler(
    resolveUnavailableItemsUpdate,
    async (request: ResolveUnavailableItemsRequest) => {
      resolution = request.resolution;
      if (request.resolution === "CANCEL_ORDER") {
        requestCancellation(
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
      await recorder.commit();
      // Reply with the order as the decision left it (PROCESSING, or cancelling).
      await condition(
        () => recorder.order.status !== "CUSTOMER_ACTION_REQUIRED" || cancellation !== null,
      );
      await recorder.commit();
      return recorder.order;
    },
    {
      validator: (_request: ResolveUnavailableItemsRequest) => {
        const order = recorder.order;
        if (order.status !== "CUSTOMER_ACTION_REQUIRED" || resolution !== null) {
          throw ApplicationFailure.create({
            type: WorkflowFailureType.NotAwaitingAction,
            message: `order "${orderId}" is ${order.status.toLowerCase()}; it is not waiting for a decision on unavailable items`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  setHandler(fulfillmentProgressSignal, (progress: Fulfillment) => {
    const before = recorder.order.fulfillments.find(
      (f) => f.fulfillmentId === progress.fulfillmentId,
    );
    if (before === undefined || fulfillmentEnded(before)) return;
    replaceFulfillment(progress);
    if (progress.status === "DISPATCHED" && before.status !== "DISPATCHED") {
      notify("SHIPMENT_DISPATCHED", progress.fulfillmentId, {
        courier_reference: progress.shipment.courierReference,
      });
    }
    void recorder.commit();
  });

  const replaceFulfillment = (next: Fulfillment) => {
    recorder.change({
      fulfillments: recorder.order.fulfillments.map((f) =>
        f.fulfillmentId === next.fulfillmentId ? next : f,
      ),
    });
  };

  /** Ends the order; everything it held has been given back or delivered. */
  const end = async () => {
    await recorder.commit();
    await Promise.all(sent);
    await condition(allHandlersFinished);
  };

  /** Cancelled before any fulfillment started: only the reservation is held. */
  const cancelBeforeProcessing = async (reason: string) => {
    await compensations.releaseInventory({ orderId });
    recorder.transition("CANCELLED", reason);
    notify("ORDER_CANCELLED");
    await end();
  };

  // 1. Accept: recorded before anything else happens.
  await recorder.commit();
  notify("ORDER_ACCEPTED");

  // 2. Reserve.
  let reservation: Awaited<ReturnType<typeof activities.reserveInventory>>;
  try {
    reservation = await activities.reserveInventory({ orderId, items: submission.items });
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const reason = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
    recorder.transition("FAILED", `stock could not be reserved: ${reason}`);
    notify("ORDER_FAILED");
    return end();
  }
  if (cancellation !== null) return cancelBeforeProcessing("cancelled before processing");

  // 3. Unavailable items: nothing at all, or the customer decides.
  if (reservation.allocations.length === 0) {
    cancellation = {
      reason: "OUT_OF_STOCK",
      description: "none of the items is in stock",
      requestedBy: "system",
      requestTime: new Date().toISOString(),
    };
    recorder.change({ cancellation, unavailableItems: reservation.unavailable });
    return cancelBeforeProcessing("out of stock");
  }
  if (reservation.unavailable.length > 0) {
    recorder.transition(
      "CUSTOMER_ACTION_REQUIRED",
      describeUnavailable(reservation.unavailable),
      "system",
      {
        unavailableItems: reservation.unavailable,
      },
    );
    await recorder.commit();
    notify("ACTION_REQUIRED");
    const decided = await condition(
      () => resolution !== null || cancellation !== null,
      input.customerActionTimeoutMs,
    );
    if (!decided) {
      requestCancellation(
        "ACTION_TIMEOUT",
        "no decision on the unavailable items in time",
        "system",
      );
    }
    if (cancellation !== null) {
      const reason = decided ? "cancelled by the customer" : "cancelled: no decision in time";
      return cancelBeforeProcessing(reason);
    }
  }

  // 4. One fulfillment per warehouse, in parallel.
  const fulfillments = reservation.allocations.map(
    (allocation, i): Fulfillment => ({
      fulfillmentId: fulfillmentId(orderId, i + 1),
      warehouseId: allocation.warehouseId,
      status: "PENDING",
      items: allocation.items,
      amounts: invoiceFor(allocation.items, input.pricing),
      payment: {
        status: "PENDING",
        authorizationId: "",
        authorizedMinor: 0,
        capturedMinor: 0,
        refundedMinor: 0,
        declineReason: "",
      },
      shipment: {
        shipmentId: "",
        status: "PENDING",
        courierReference: "",
        dispatchTime: "",
        deliveryTime: "",
      },
      statusReason: "",
    }),
  );
  recorder.transition("PROCESSING", `${fulfillments.length} fulfillment(s)`, "system", {
    fulfillments,
    amounts: sumAmounts(fulfillments.map((f) => f.amounts)),
  });
  await recorder.commit();

  const results = await Promise.all(
    fulfillments.map(async (f) => {
      const handle = await startChild(fulfillmentWorkflow, {
        workflowId: fulfillmentWorkflowId(f.fulfillmentId),
        args: [
          {
            orderId,
            customerId: submission.customerId,
            currencyCode: submission.currencyCode,
            shippingAddress: submission.shippingAddress,
            fulfillment: f,
          },
        ],
      });
      children.set(f.fulfillmentId, handle);
      // A cancellation that arrived while the child was starting.
      if (cancellation !== null) await cancelChild(f.fulfillmentId);
      const result = await handle.result();
      replaceFulfillment(result);
      if (result.status === "DELIVERED") notify("SHIPMENT_DELIVERED", result.fulfillmentId);
      void recorder.commit();
      return result;
    }),
  );

  // 5. Completion.
  const status = finalOrderStatus(results, cancellation !== null);
  const reason =
    status === "COMPLETED"
      ? `${results.filter((r) => r.status === "DELIVERED").length} of ${results.length} fulfillment(s) delivered`
      : status === "CANCELLED"
        ? "cancelled"
        : `every fulfillment failed: ${results.map((r) => r.statusReason).join("; ")}`;
  recorder.transition(status, reason);
  notify(
    status === "COMPLETED"
      ? "ORDER_COMPLETED"
      : status === "CANCELLED"
        ? "ORDER_CANCELLED"
        : "ORDER_FAILED",
  );
  await end();
}

function describeUnavailable(items: readonly LineItem[]): string {
  return `unavailable: ${items.map((i) => `${i.quantity} x ${i.sku}`).join(", ")}`;
}
