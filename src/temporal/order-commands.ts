import {
  type Client,
  ServiceError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type WorkflowUpdateOptions,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from "@temporalio/client";
import { ApplicationFailure, type UpdateDefinition } from "@temporalio/common";
import type { ItemQuantity } from "../domain/edits.js";
import {
  DependencyUnavailableError,
  DomainError,
  EditInProgressError,
  HoldNotFoundError,
  InvalidFieldError,
  OrderConflictError,
  OrderNotFoundError,
  OrderStateError,
  ShipmentNotFoundError,
  VersionMismatchError,
} from "../domain/errors.js";
import { shipmentReached } from "../domain/fulfillment.js";
import type { Hold, HoldPolicy, HoldType } from "../domain/holds.js";
import { orderIdOfFulfillment, orderWorkflowId } from "../domain/ids.js";
import type { EditedLine } from "../domain/item-edits.js";
import { acceptedEntry, acceptedNotification, newOrder } from "../domain/new-order.js";
import {
  type Address,
  isTerminal,
  type Order,
  type OrderSubmission,
  type ShipmentStatus,
} from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";
import type { ResourcingPolicy } from "../domain/resourcing.js";
import { returnLabelOf } from "../domain/returns.js";
import { newOrderSla, type OrderSla, type SlaPolicy } from "../domain/sla.js";
import type { OrderStore, ShipmentOwner, WorkflowStartRequest } from "../readmodel/store.js";
import {
  cancelOrderItemsUpdate,
  cancelOrderUpdate,
  ORDER_WORKFLOW_TYPE,
  type OrderWorkflowInput,
  placeHoldUpdate,
  type Resolution,
  releaseHoldUpdate,
  reportShipmentEventUpdate,
  resolveUnavailableItemsUpdate,
  type ShipmentEvent,
  updateOrderItemsUpdate,
  updateShippingAddressUpdate,
  WorkflowFailureType,
} from "../workflows/messages.js";
import { submissionFingerprint } from "./fingerprint.js";
import type { AfterAnswer, SubmitMemo, WorkflowStarter } from "./workflow-starts.js";

/** What the API asks of Temporal. Every method throws only DomainErrors. */
export interface OrderCommands {
  /**
   * Accepts an order and answers; its workflow starts in the background once
   * `afterAnswer` runs it (when the caller's answer has been written), else on
   * the next turn of the event loop.
   */
  submit(
    submission: OrderSubmission,
    principal: string,
    signal?: AbortSignal,
    afterAnswer?: AfterAnswer,
  ): Promise<Order>;
  cancel(orderId: string, reason: string, principal: string, signal?: AbortSignal): Promise<Order>;
  resolveUnavailableItems(
    orderId: string,
    resolution: Resolution,
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
  /**
   * Applies a courier event to the order that owns the shipment: found from
   * `fulfillmentId` (the booking's reference) when given, else from the read
   * model's shipment index.
   */
  reportShipmentEvent(
    shipment: { shipmentId: string; fulfillmentId: string },
    event: ShipmentEvent,
    occurredAt: string,
    /** The authenticated principal reporting it (the timeline's actor). */
    reportedBy: string,
    signal?: AbortSignal,
  ): Promise<{ orderId: string; fulfillmentId: string; status: ShipmentStatus }>;
  placeHold(
    orderId: string,
    type: HoldType,
    reason: string,
    principal: string,
    signal?: AbortSignal,
  ): Promise<{ order: Order; hold: Hold }>;
  releaseHold(
    orderId: string,
    holdId: string,
    reason: string,
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
  updateShippingAddress(
    orderId: string,
    edit: { address: Address; expectedVersion: number; reason: string },
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
  cancelOrderItems(
    orderId: string,
    edit: { items: ItemQuantity[]; expectedVersion: number; reason: string },
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
  updateOrderItems(
    orderId: string,
    edit: { lines: EditedLine[]; expectedVersion: number; reason: string },
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
}

export interface OrderCommandsOptions {
  client: Client;
  store: OrderStore;
  taskQueue: string;
  pricing: PricingPolicy;
  customerActionTimeoutMs: number;
  /** Deadlines and expiry actions of holds, fixed into each order at submission. */
  holdPolicy?: HoldPolicy;
  /** SLA targets per stage, turned into each order's deadlines at acceptance; absent: none tracked. */
  slaPolicy?: SlaPolicy;
  /** How long before an authorization expires the order authorizes again, fixed at submission. */
  reauthorizeMarginMs?: number;
  /** Re-sourcing of rejected fulfillments, fixed at submission. */
  resourcing?: ResourcingPolicy;
  /** Clock for accept times; injectable for tests. */
  now?: () => Date;
  /** Starts the workflows of accepted orders (in the background after SubmitOrder, at once for other commands). */
  starter: WorkflowStarter;
  /** How long an accepted order's start is left to this process before any start dispatcher takes it. Default 2 s. */
  startGraceMs?: number;
}

export function createOrderCommands(options: OrderCommandsOptions): OrderCommands {
  const { client, store, taskQueue, pricing, starter } = options;
  const now = options.now ?? (() => new Date());
  const startGraceMs = options.startGraceMs ?? 2_000;
  const handleOf = (orderId: string) => client.workflow.getHandle(orderWorkflowId(orderId));

  /**
   * An Update of the order's workflow. Right after SubmitOrder the workflow
   * may not exist yet (it starts in the background): a workflow not found
   * whose start is still pending is started now, and the Update sent once
   * more. So is one whose start completed between the Update and the look at
   * its start record (the record is gone then): the order is still open in
   * the read model, and its workflow exists by now.
   */
  async function updateOrder<Ret, Args extends [unknown, ...unknown[]]>(
    orderId: string,
    update: UpdateDefinition<Ret, Args>,
    updateOptions: WorkflowUpdateOptions & { args: Args },
  ): Promise<Ret> {
    try {
      return await handleOf(orderId).executeUpdate(update, updateOptions);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (!(await starter.startPending(orderId)) && !(await stillOpen(orderId))) throw err;
    }
    return await handleOf(orderId).executeUpdate(update, updateOptions);
  }

  /** Whether the read model has the order, not yet ended. */
  const stillOpen = async (orderId: string): Promise<boolean> => {
    const order = await store.getOrder(orderId);
    return order !== null && !isTerminal(order.status);
  };

  /** The order from the read model; NOT_FOUND when there is none. */
  const stored = async (orderId: string): Promise<Order> => {
    const order = await store.getOrder(orderId);
    if (order === null) throw new OrderNotFoundError(orderId);
    return order;
  };

  /**
   * An edit of the order as its workflow's Update. Rejections keep their
   * answers; no running workflow means an unknown order (NOT_FOUND) or one
   * that has ended, which `what` no longer applies to.
   */
  const editCommand =
    <R extends { requestedBy: string }>(update: UpdateDefinition<Order, [R]>, what: string) =>
    (
      orderId: string,
      edit: Omit<R, "requestedBy">,
      principal: string,
      signal?: AbortSignal,
    ): Promise<Order> =>
      guard(client, signal, async () => {
        try {
          return await updateOrder(orderId, update, {
            // The edit plus who asked: R exactly (TypeScript cannot see through Omit here).
            args: [{ ...edit, requestedBy: principal } as R],
          });
        } catch (err) {
          rethrowRejection(err, orderId);
        }
        throw notEditable(await stored(orderId), what);
      });

  return {
    submit: (submission, principal, signal, afterAnswer) =>
      guard(client, signal, async () => {
        const fingerprint = submissionFingerprint(submission);
        const acceptTime = now().toISOString();
        const input: OrderWorkflowInput = {
          submission,
          acceptTime,
          submittedBy: principal,
          pricing,
          customerActionTimeoutMs: options.customerActionTimeoutMs,
          ...(options.holdPolicy ? { holdPolicy: options.holdPolicy } : {}),
          ...slaOf(acceptTime),
          ...(options.reauthorizeMarginMs !== undefined
            ? { reauthorizeMarginMs: options.reauthorizeMarginMs }
            : {}),
          ...(options.resourcing ? { resourcing: options.resourcing } : {}),
        };
        const memo: SubmitMemo = { submissionFingerprint: fingerprint, acceptTime };
        const order = { ...newOrder(submission, acceptTime, pricing), ...slaOf(acceptTime) };
        const request: WorkflowStartRequest = {
          workflowType: ORDER_WORKFLOW_TYPE,
          workflowId: orderWorkflowId(submission.orderId),
          taskQueue,
          args: [input],
          memo: { ...memo },
        };
        // Accept first: version 1, its timeline entry and notification, the
        // fingerprint and the workflow's start, in one transaction; the
        // workflow starts once that has committed.
        const { accepted } = await store.acceptOrder({
          order,
          entries: [acceptedEntry(order, principal)],
          outbox: [acceptedNotification(order)],
          fingerprint,
          start: request,
          startGraceMs,
        });
        if (accepted) {
          starter.startSoon(
            { orderId: submission.orderId, fingerprint, request, createTime: acceptTime },
            afterAnswer,
          );
          return order;
        }
        // The order exists: the same submission again, or a conflict.
        const existing = await store.getSubmissionFingerprint(submission.orderId);
        if (existing !== null) {
          if (existing !== fingerprint) throw new OrderConflictError(submission.orderId);
          return await stored(submission.orderId);
        }
        // Accepted before the read model kept fingerprints: its workflow's memo tells.
        let description: Awaited<ReturnType<ReturnType<typeof handleOf>["describe"]>>;
        try {
          description = await handleOf(submission.orderId).describe();
        } catch (err) {
          // The order is there but its workflow is not: its id is used all the same.
          if (err instanceof WorkflowNotFoundError)
            throw new OrderConflictError(submission.orderId);
          throw err;
        }
        const previous = description.memo as Partial<SubmitMemo> | undefined;
        if (previous?.submissionFingerprint !== fingerprint)
          throw new OrderConflictError(submission.orderId);
        return await stored(submission.orderId);
      }),

    cancel: (orderId, reason, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await updateOrder(orderId, cancelOrderUpdate, {
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
          return await updateOrder(orderId, resolveUnavailableItemsUpdate, {
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

    placeHold: (orderId, type, reason, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await updateOrder(orderId, placeHoldUpdate, {
            args: [{ type, reason, requestedBy: principal }],
          });
        } catch (err) {
          rethrowRejection(err, orderId);
        }
        const order = await stored(orderId);
        throw new OrderStateError(
          WorkflowFailureType.NotHoldable,
          `order "${orderId}" is ${order.status.toLowerCase()}; an order that has ended cannot be held`,
          { order_id: orderId },
        );
      }),

    releaseHold: (orderId, holdId, reason, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await updateOrder(orderId, releaseHoldUpdate, {
            args: [{ holdId, reason, requestedBy: principal }],
          });
        } catch (err) {
          if (isRejection(err) && err.cause.type === WorkflowFailureType.HoldNotFound) {
            throw new HoldNotFoundError(orderId, holdId);
          }
          rethrowRejection(err, orderId);
        }
        // The order has ended, and released every hold it still had.
        const order = await stored(orderId);
        if (!(order.holds ?? []).some((h) => h.holdId === holdId)) {
          throw new HoldNotFoundError(orderId, holdId);
        }
        return order;
      }),

    updateShippingAddress: editCommand(updateShippingAddressUpdate, "a new shipping address"),
    cancelOrderItems: editCommand(cancelOrderItemsUpdate, "cancelling items"),
    updateOrderItems: editCommand(updateOrderItemsUpdate, "editing the items"),

    reportShipmentEvent: ({ shipmentId, fulfillmentId }, event, occurredAt, reportedBy, signal) =>
      guard(client, signal, async () => {
        const owner = await ownerOf(shipmentId, fulfillmentId);
        const failure = (message: string) =>
          new OrderStateError(WorkflowFailureType.ShipmentEventOutOfOrder, message, {
            shipment_id: shipmentId,
            order_id: owner.orderId,
          });
        let shipment: ShipmentStatus;
        try {
          const fulfillment = await updateOrder(owner.orderId, reportShipmentEventUpdate, {
            args: [
              { fulfillmentId: owner.fulfillmentId, shipmentId, event, occurredAt, reportedBy },
            ],
            // One Update per courier event, however often it is reported:
            // a retry (the courier's, or after this process died) joins
            // the Update already under way instead of adding another to
            // the order's history and another workflow task.
            updateId: shipmentEventUpdateId(shipmentId, event),
          });
          shipment = fulfillment.shipment.status;
        } catch (err) {
          if (isRejection(err)) {
            if (err.cause.type === WorkflowFailureType.ShipmentNotFound) {
              throw new ShipmentNotFoundError(shipmentId);
            }
            throw failure(rejectionMessage(err));
          }
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          // The order has ended (its last version is stored before it ends):
          // a repeat of what it saw is fine, anything else is not.
          const stored = await store.getOrder(owner.orderId);
          const f =
            stored?.fulfillments.find(
              (x) =>
                x.fulfillmentId === owner.fulfillmentId && x.shipment.shipmentId === shipmentId,
            ) ??
            (stored === null ? undefined : returnLabelOf(stored, owner.fulfillmentId, shipmentId));
          if (f === undefined) throw new ShipmentNotFoundError(shipmentId);
          shipment = f.shipment.status;
          if (!shipmentReached(shipment, event)) {
            throw failure(
              `shipment ${shipmentId} is ${shipment.toLowerCase()}; ${event.toLowerCase()} does not follow`,
            );
          }
        }
        return { orderId: owner.orderId, fulfillmentId: owner.fulfillmentId, status: shipment };
      }),
  };

  /** The order and fulfillment a courier event belongs to. */
  async function ownerOf(shipmentId: string, fulfillmentId: string): Promise<ShipmentOwner> {
    if (fulfillmentId !== "") {
      const orderId = orderIdOfFulfillment(fulfillmentId);
      if (orderId === null) throw new ShipmentNotFoundError(shipmentId);
      return { orderId, fulfillmentId };
    }
    const owner = await store.findShipment(shipmentId);
    if (owner === null) throw new ShipmentNotFoundError(shipmentId);
    return owner;
  }

  /** The order's SLA clocks, as a field to spread: nothing when no stage is tracked. */
  function slaOf(acceptTime: string): { sla?: OrderSla } {
    const sla = options.slaPolicy && newOrderSla(acceptTime, options.slaPolicy);
    return sla ? { sla } : {};
  }
}

export function isRejection(
  err: unknown,
): err is WorkflowUpdateFailedError & { cause: ApplicationFailure } {
  return err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure;
}

function rejectionMessage(err: WorkflowUpdateFailedError & { cause: ApplicationFailure }): string {
  return err.cause.message;
}

/**
 * An Update the workflow's validator refused becomes FAILED_PRECONDITION (a
 * stale expected_version: ABORTED), with the metadata the refusal carries;
 * a closed workflow falls through.
 */
export function rethrowRejection(err: unknown, orderId: string): void {
  if (isRejection(err)) {
    const details = err.cause.details?.[0];
    const metadata = {
      order_id: orderId,
      ...(typeof details === "object" && details !== null
        ? (details as Record<string, string>)
        : {}),
    };
    if (err.cause.type === WorkflowFailureType.VersionMismatch) {
      throw new VersionMismatchError(err.cause.message, metadata);
    }
    if (err.cause.type === WorkflowFailureType.EditInProgress) {
      throw new EditInProgressError(err.cause.message, metadata);
    }
    if (err.cause.type === WorkflowFailureType.InvalidItems) {
      throw new InvalidFieldError("lines", err.cause.message);
    }
    throw new OrderStateError(err.cause.type ?? "FAILED_PRECONDITION", err.cause.message, metadata);
  }
  if (!(err instanceof WorkflowNotFoundError)) throw err;
}

/** An edit of an order whose workflow has closed. */
function notEditable(order: Order, what: string): OrderStateError {
  return new OrderStateError(
    WorkflowFailureType.NotEditable,
    `order "${order.orderId}" is ${order.status.toLowerCase()}; ${what} no longer applies`,
    { order_id: order.orderId },
  );
}

function notCancellable(orderId: string, message: string): OrderStateError {
  return new OrderStateError(WorkflowFailureType.NotCancellable, message, { order_id: orderId });
}

/** Lets DomainErrors through and turns an unreachable Temporal or store into DependencyUnavailableError. */
export async function guard<T>(
  client: Client,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    // The caller's deadline and cancellation reach every Temporal call, so no
    // call (or retry of one) outlives the RPC that made it.
    return await (signal ? whileRunning(signal, (own) => client.withAbortSignal(own, fn)) : fn());
  } catch (err) {
    if (err instanceof DomainError) throw err;
    // An Update the workflow did not answer within the server's limit (a
    // worker restarting, say), or "workflow task in failed state" while a
    // killed worker's task times out: transient, the caller retries.
    if (err instanceof ServiceError || err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      throw new DependencyUnavailableError("the Temporal Service", { cause: err });
    }
    throw err;
  }
}

/**
 * Runs `fn` with a signal of its own that follows `signal` only until `fn`
 * settles. Temporal's connection adds an abort listener per gRPC call and
 * never removes it, and Connect aborts every RPC's signal when the RPC ends:
 * with the RPC's signal itself, each finished Temporal call was cancelled
 * again at the end of every RPC (and kept reachable until then).
 */
async function whileRunning<T>(
  signal: AbortSignal,
  fn: (own: AbortSignal) => Promise<T>,
): Promise<T> {
  const own = new AbortController();
  const follow = () => own.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener("abort", follow, { once: true });
  try {
    return await fn(own.signal);
  } finally {
    signal.removeEventListener("abort", follow);
  }
}

/** The Update id of a courier event: the same for every report of it. */
export function shipmentEventUpdateId(shipmentId: string, event: ShipmentEvent): string {
  return `shipment-event/${shipmentId}/${event.toLowerCase()}`;
}
