import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  proxyActivities,
  setHandler,
} from "@temporalio/workflow";
import type { Activities } from "../activities/index.js";
import { fulfillmentId } from "../domain/ids.js";
import { newOrder } from "../domain/new-order.js";
import type { Cancellation, Fulfillment, Order } from "../domain/order.js";
import { invoiceFor, sumAmounts } from "../domain/pricing.js";
import { canCancel } from "../domain/status-rules.js";
import {
  type CancelOrderRequest,
  cancelOrderUpdate,
  getOrderQuery,
  type OrderWorkflowInput,
  WorkflowFailureType,
} from "./messages.js";

const { reserveInventory, releaseInventory } = proxyActivities<Activities>({
  startToCloseTimeout: "30 seconds",
  // Transient downstream errors are retried with backoff for as long as it takes;
  // permanent ones are raised as non-retryable ApplicationFailures by the activity.
  retry: {
    initialInterval: "500 milliseconds",
    backoffCoefficient: 2,
    maximumInterval: "30 seconds",
  },
});

/**
 * The life of one order. Skeleton pipeline: accept → reserve stock → wait for
 * fulfillment (a durable timer standing in for the courier) → complete;
 * cancellation before completion releases the reservation.
 */
export async function orderWorkflow(input: OrderWorkflowInput): Promise<Order> {
  const { submission } = input;
  let order = newOrder(input.submission, input.acceptTime, input.pricing);
  let cancellation: Cancellation | null = null;

  /** Applies a change as a new version of the order. */
  const change = (patch: Partial<Order>): void => {
    order = { ...order, ...patch, version: order.version + 1, updateTime: now() };
  };

  setHandler(getOrderQuery, () => order);
  setHandler(
    cancelOrderUpdate,
    (request: CancelOrderRequest) => {
      if (order.cancellation === null) {
        cancellation = {
          reason: "CUSTOMER",
          description: request.description,
          requestedBy: request.requestedBy,
          requestTime: now(),
        };
        change({ cancellation });
      }
      return order;
    },
    {
      validator: (_request: CancelOrderRequest) => {
        if (order.cancellation === null && !canCancel(order)) {
          throw ApplicationFailure.create({
            type: WorkflowFailureType.NotCancellable,
            message: `order "${order.orderId}" is ${order.status.toLowerCase()}; nothing is left to cancel`,
            nonRetryable: true,
          });
        }
      },
    },
  );

  const reservation = await reserveInventory({
    orderId: submission.orderId,
    items: submission.items,
  });
  if (cancellation === null) {
    const fulfillments = reservation.allocations.map(
      (allocation, i): Fulfillment => ({
        fulfillmentId: fulfillmentId(submission.orderId, i + 1),
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
    change({
      status: "PROCESSING",
      fulfillments,
      amounts: sumAmounts(fulfillments.map((f) => f.amounts)),
    });
    // Stand-in for courier dispatch: a durable timer, cut short by a cancellation.
    await condition(() => cancellation !== null, input.fulfillmentDelayMs);
  }

  if (cancellation !== null) {
    await releaseInventory({ orderId: submission.orderId });
    change({
      status: "CANCELLED",
      statusReason: "cancelled by the customer",
      fulfillments: order.fulfillments.map((f) => ({ ...f, status: "CANCELLED" })),
    });
  } else {
    change({
      status: "COMPLETED",
      fulfillments: order.fulfillments.map((f) => ({ ...f, status: "DELIVERED" })),
    });
  }
  // Let an in-flight cancel Update reply before the run closes.
  await condition(allHandlersFinished);
  return order;
}

/** Workflow time (deterministic: the time of the current workflow task). */
function now(): string {
  return new Date(Date.now()).toISOString();
}
