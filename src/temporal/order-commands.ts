import {
  type Client,
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from "@temporalio/client";
import { ApplicationFailure } from "@temporalio/common";
import {
  DependencyUnavailableError,
  DomainError,
  OrderConflictError,
  OrderNotFoundError,
  OrderStateError,
  ShipmentNotFoundError,
} from "../domain/errors.js";
import { submissionFingerprint } from "../domain/fingerprint.js";
import { fulfillmentWorkflowId, orderWorkflowId } from "../domain/ids.js";
import { acceptedEntry, newOrder } from "../domain/new-order.js";
import type { Fulfillment, Order, OrderSubmission, ShipmentStatus } from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";
import type { OrderStore } from "../readmodel/store.js";
import {
  cancelOrderUpdate,
  ORDER_WORKFLOW_TYPE,
  type OrderWorkflowInput,
  type Resolution,
  reportShipmentEventUpdate,
  resolveUnavailableItemsUpdate,
  type ShipmentEvent,
  WorkflowFailureType,
} from "../workflows/messages.js";

/** What the API asks of Temporal. Every method throws only DomainErrors. */
export interface OrderCommands {
  submit(submission: OrderSubmission, principal: string, signal?: AbortSignal): Promise<Order>;
  cancel(orderId: string, reason: string, principal: string, signal?: AbortSignal): Promise<Order>;
  resolveUnavailableItems(
    orderId: string,
    resolution: Resolution,
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
  reportShipmentEvent(
    shipmentId: string,
    event: ShipmentEvent,
    occurredAt: string,
    signal?: AbortSignal,
  ): Promise<{ orderId: string; fulfillmentId: string; status: ShipmentStatus }>;
}

export interface OrderCommandsOptions {
  client: Client;
  store: OrderStore;
  taskQueue: string;
  pricing: PricingPolicy;
  customerActionTimeoutMs: number;
  /** Clock for accept times; injectable for tests. */
  now?: () => Date;
}

const SHIPMENT_PROGRESS: readonly ShipmentStatus[] = [
  "PENDING",
  "BOOKED",
  "DISPATCHED",
  "DELIVERED",
];

interface SubmitMemo {
  submissionFingerprint: string;
  acceptTime: string;
}

export function createOrderCommands(options: OrderCommandsOptions): OrderCommands {
  const { client, store, taskQueue, pricing } = options;
  const now = options.now ?? (() => new Date());
  const handleOf = (orderId: string) => client.workflow.getHandle(orderWorkflowId(orderId));

  /** The order from the read model; NOT_FOUND when there is none. */
  const stored = async (orderId: string): Promise<Order> => {
    const order = await store.getOrder(orderId);
    if (order === null) throw new OrderNotFoundError(orderId);
    return order;
  };

  return {
    submit: (submission, principal, signal) =>
      guard(client, signal, async () => {
        const fingerprint = submissionFingerprint(submission);
        const acceptTime = now().toISOString();
        const input: OrderWorkflowInput = {
          submission,
          acceptTime,
          submittedBy: principal,
          pricing,
          customerActionTimeoutMs: options.customerActionTimeoutMs,
        };
        const memo: SubmitMemo = { submissionFingerprint: fingerprint, acceptTime };
        try {
          await client.workflow.start(ORDER_WORKFLOW_TYPE, {
            taskQueue,
            workflowId: orderWorkflowId(submission.orderId),
            args: [input],
            memo: { ...memo },
            // An order id is used once, ever: a closed order's id is not reused either.
            workflowIdConflictPolicy: "FAIL",
            workflowIdReusePolicy: "REJECT_DUPLICATE",
          });
          return await saveAccepted(submission, acceptTime, principal);
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        // A workflow for this id exists: the same submission again, or a conflict.
        const description = await handleOf(submission.orderId).describe();
        const existing = description.memo as Partial<SubmitMemo> | undefined;
        if (existing?.submissionFingerprint !== fingerprint)
          throw new OrderConflictError(submission.orderId);
        return (
          (await store.getOrder(submission.orderId)) ??
          // Accepted, but neither the first API call nor the workflow has written it yet.
          (await saveAccepted(submission, existing.acceptTime ?? acceptTime, principal))
        );
      }),

    cancel: (orderId, reason, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await handleOf(orderId).executeUpdate(cancelOrderUpdate, {
            args: [{ description: reason, requestedBy: principal }],
          });
        } catch (err) {
          rethrowRejection(err, orderId);
        }
        // No running workflow: unknown order (NOT_FOUND) or one that has ended.
        const order = await stored(orderId);
        if (order.status === "CANCELLED") return order;
        throw notCancellable(
          orderId,
          `order "${orderId}" is ${order.status.toLowerCase()}; nothing is left to cancel`,
        );
      }),

    resolveUnavailableItems: (orderId, resolution, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await handleOf(orderId).executeUpdate(resolveUnavailableItemsUpdate, {
            args: [{ resolution, requestedBy: principal }],
          });
        } catch (err) {
          rethrowRejection(err, orderId);
        }
        const order = await stored(orderId);
        throw new OrderStateError(
          WorkflowFailureType.NotAwaitingAction,
          `order "${orderId}" is ${order.status.toLowerCase()}; it is not waiting for a decision on unavailable items`,
          { order_id: orderId },
        );
      }),

    reportShipmentEvent: (shipmentId, event, occurredAt, signal) =>
      guard(client, signal, async () => {
        const owner = await store.findShipment(shipmentId);
        if (owner === null) throw new ShipmentNotFoundError(shipmentId);
        const handle = client.workflow.getHandle(fulfillmentWorkflowId(owner.fulfillmentId));
        let fulfillment: Fulfillment;
        try {
          fulfillment = await handle.executeUpdate(reportShipmentEventUpdate, {
            args: [{ event, occurredAt }],
          });
        } catch (err) {
          if (isRejection(err)) {
            throw new OrderStateError(
              WorkflowFailureType.ShipmentEventOutOfOrder,
              rejectionMessage(err),
              {
                shipment_id: shipmentId,
                order_id: owner.orderId,
              },
            );
          }
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          // The fulfillment has ended: a repeat of what it saw is fine, anything else is not.
          fulfillment = (await handle.result()) as Fulfillment;
          const applied =
            fulfillment.shipment.status === "DELIVERED" ||
            (event === "DISPATCHED" && fulfillment.shipment.status === "DISPATCHED");
          if (!applied) {
            throw new OrderStateError(
              WorkflowFailureType.ShipmentEventOutOfOrder,
              `shipment ${shipmentId} is ${fulfillment.shipment.status.toLowerCase()}; ${event.toLowerCase()} does not follow`,
              { shipment_id: shipmentId, order_id: owner.orderId },
            );
          }
        }
        // The handler answers before the workflow applies the event: report the later of the two.
        const status =
          SHIPMENT_PROGRESS.indexOf(fulfillment.shipment.status) >= SHIPMENT_PROGRESS.indexOf(event)
            ? fulfillment.shipment.status
            : event;
        return { orderId: owner.orderId, fulfillmentId: owner.fulfillmentId, status };
      }),
  };

  /**
   * Read-your-writes without waiting for a worker: the API writes version 1
   * itself, exactly as the workflow will (same function, same accept time);
   * the store ignores whichever write comes second.
   */
  async function saveAccepted(
    submission: OrderSubmission,
    acceptTime: string,
    principal: string,
  ): Promise<Order> {
    const order = newOrder(submission, acceptTime, pricing);
    await store.saveOrder(order, [acceptedEntry(order, principal)]);
    return order;
  }
}

function isRejection(
  err: unknown,
): err is WorkflowUpdateFailedError & { cause: ApplicationFailure } {
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure;
}

function rejectionMessage(err: WorkflowUpdateFailedError & { cause: ApplicationFailure }): string {
  return err.cause.message;
}

/** An Update the workflow's validator refused becomes FAILED_PRECONDITION; a closed workflow falls through. */
function rethrowRejection(err: unknown, orderId: string): void {
  if (isRejection(err)) {
    throw new OrderStateError(err.cause.type ?? "FAILED_PRECONDITION", err.cause.message, {
      order_id: orderId,
    });
  }
  if (!(err instanceof WorkflowNotFoundError)) throw err;
}

function notCancellable(orderId: string, message: string): OrderStateError {
  return new OrderStateError(WorkflowFailureType.NotCancellable, message, { order_id: orderId });
}

/** Lets DomainErrors through and turns an unreachable Temporal or store into DependencyUnavailableError. */
async function guard<T>(
  client: Client,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    // The caller's deadline and cancellation reach every Temporal call, so no
    // call (or retry of one) outlives the RPC that made it.
    return await (signal ? client.withAbortSignal(signal, fn) : fn());
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (err instanceof ServiceError) {
      throw new DependencyUnavailableError("the Temporal Service", { cause: err });
    }
    throw err;
  }
}
