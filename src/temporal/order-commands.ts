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
} from "../domain/errors.js";
import { submissionFingerprint } from "../domain/fingerprint.js";
import { orderWorkflowId } from "../domain/ids.js";
import { newOrder } from "../domain/new-order.js";
import type { Order, OrderSubmission } from "../domain/order.js";
import type { PricingPolicy } from "../domain/pricing.js";
import {
  cancelOrderUpdate,
  getOrderQuery,
  ORDER_WORKFLOW_TYPE,
  type OrderWorkflowInput,
  WorkflowFailureType,
} from "../workflows/messages.js";

/** What the API asks of Temporal. Every method throws only DomainErrors. */
export interface OrderCommands {
  submit(submission: OrderSubmission, principal: string): Promise<Order>;
  get(orderId: string): Promise<Order>;
  cancel(orderId: string, reason: string, principal: string): Promise<Order>;
}

export interface OrderCommandsOptions {
  client: Client;
  taskQueue: string;
  pricing: PricingPolicy;
  fulfillmentDelayMs: number;
  /** Clock for accept times; injectable for tests. */
  now?: () => Date;
}

const MEMO_FINGERPRINT = "submissionFingerprint";

export function createOrderCommands(options: OrderCommandsOptions): OrderCommands {
  const { client, taskQueue, pricing, fulfillmentDelayMs } = options;
  const now = options.now ?? (() => new Date());
  const handleOf = (orderId: string) => client.workflow.getHandle(orderWorkflowId(orderId));

  const get = (orderId: string): Promise<Order> =>
    guard(async () => {
      try {
        return await handleOf(orderId).query(getOrderQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw new OrderNotFoundError(orderId);
        throw err;
      }
    });

  return {
    submit: (submission, principal) =>
      guard(async () => {
        const fingerprint = submissionFingerprint(submission);
        const input: OrderWorkflowInput = {
          submission,
          acceptTime: now().toISOString(),
          submittedBy: principal,
          pricing,
          fulfillmentDelayMs,
        };
        try {
          await client.workflow.start(ORDER_WORKFLOW_TYPE, {
            taskQueue,
            workflowId: orderWorkflowId(submission.orderId),
            args: [input],
            memo: { [MEMO_FINGERPRINT]: fingerprint },
            // An order id is used once, ever: a closed order's id is not reused either.
            workflowIdConflictPolicy: "FAIL",
            workflowIdReusePolicy: "REJECT_DUPLICATE",
          });
          return newOrder(submission, input.acceptTime, pricing);
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
        // A workflow for this id exists: the same submission again, or a conflict.
        const description = await handleOf(submission.orderId).describe();
        if (description.memo?.[MEMO_FINGERPRINT] !== fingerprint) {
          throw new OrderConflictError(submission.orderId);
        }
        return get(submission.orderId);
      }),

    get,

    cancel: (orderId, reason, principal) =>
      guard(async () => {
        try {
          return await handleOf(orderId).executeUpdate(cancelOrderUpdate, {
            args: [{ description: reason, requestedBy: principal }],
          });
        } catch (err) {
          if (
            err instanceof WorkflowUpdateFailedError &&
            err.cause instanceof ApplicationFailure &&
            err.cause.type === WorkflowFailureType.NotCancellable
          ) {
            throw notCancellable(orderId, err.cause.message);
          }
          if (!(err instanceof WorkflowNotFoundError)) throw err;
        }
        // No running workflow: unknown order (get throws NOT_FOUND) or one that has ended.
        const order = await get(orderId);
        if (order.status === "CANCELLED") return order;
        throw notCancellable(
          orderId,
          `order "${orderId}" is ${order.status.toLowerCase()}; nothing is left to cancel`,
        );
      }),
  };
}

function notCancellable(orderId: string, message: string): OrderStateError {
  return new OrderStateError(WorkflowFailureType.NotCancellable, message, { order_id: orderId });
}

/** Lets DomainErrors through and turns an unreachable Temporal into DependencyUnavailableError. */
async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof DomainError) throw err;
    if (err instanceof ServiceError)
      throw new DependencyUnavailableError("the Temporal Service", { cause: err });
    throw err;
  }
}
