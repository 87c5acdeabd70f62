import { type Client, WithStartWorkflowOperation } from "@temporalio/client";
import { OrderNotFoundError, OrderStateError, ReturnNotFoundError } from "../domain/errors.js";
import { orderWorkflowId } from "../domain/ids.js";
import type { Order } from "../domain/order.js";
import { type ReturnItem, type ReturnPolicy, returnsOf } from "../domain/returns.js";
import type { OrderStore } from "../readmodel/store.js";
import {
  cancelReturnUpdate,
  ORDER_RETURNS_WORKFLOW_TYPE,
  type OrderReturnsInput,
  type RequestReturnResult,
  ReturnFailureType,
  requestReturnUpdate,
} from "../workflows/returns-messages.js";
import { submissionFingerprint } from "./fingerprint.js";
import { guard, isRejection, rethrowRejection } from "./order-commands.js";

/** What the API asks of Temporal about returns. Every method throws only DomainErrors. */
export interface ReturnCommands {
  requestReturn(
    orderId: string,
    items: ReturnItem[],
    reason: string,
    principal: string,
    signal?: AbortSignal,
  ): Promise<RequestReturnResult>;
  cancelReturn(
    orderId: string,
    returnId: string,
    principal: string,
    signal?: AbortSignal,
  ): Promise<Order>;
}

export interface ReturnCommandsOptions {
  client: Client;
  store: OrderStore;
  taskQueue: string;
  policy: ReturnPolicy;
}

export function createReturnCommands(options: ReturnCommandsOptions): ReturnCommands {
  const { client, store, taskQueue, policy } = options;

  const stored = async (orderId: string): Promise<Order> => {
    const order = await store.getOrder(orderId);
    if (order === null) throw new OrderNotFoundError(orderId);
    return order;
  };

  return {
    requestReturn: (orderId, items, reason, principal, signal) =>
      guard(client, signal, async () => {
        const order = await stored(orderId);
        if (order.status !== "COMPLETED") {
          throw new OrderStateError(
            ReturnFailureType.NotReturnable,
            `order "${orderId}" is ${order.status.toLowerCase()}; only completed orders take returns`,
            { order_id: orderId },
          );
        }
        // The order's run has closed (its COMPLETED version is stored before
        // it ends): the first return starts a returns run under the same
        // workflow id; while one runs, the request joins it.
        const history = await store.getHistory(orderId);
        const input: OrderReturnsInput = {
          order,
          timelineSequence: history.at(-1)?.sequence ?? 1,
          policy,
        };
        try {
          return await client.workflow.executeUpdateWithStart(requestReturnUpdate, {
            args: [{ items, reason, requestedBy: principal }],
            startWorkflowOperation: new WithStartWorkflowOperation(ORDER_RETURNS_WORKFLOW_TYPE, {
              taskQueue,
              workflowId: orderWorkflowId(orderId),
              args: [input],
              // SubmitOrder's idempotency reads the latest run's memo.
              memo: {
                submissionFingerprint: submissionFingerprint(order),
                acceptTime: order.createTime,
              },
              workflowIdConflictPolicy: "USE_EXISTING",
              workflowIdReusePolicy: "ALLOW_DUPLICATE",
            }),
          });
        } catch (err) {
          rethrowRejection(err, orderId);
          throw err;
        }
      }),

    cancelReturn: (orderId, returnId, principal, signal) =>
      guard(client, signal, async () => {
        try {
          return await client.workflow
            .getHandle(orderWorkflowId(orderId))
            .executeUpdate(cancelReturnUpdate, { args: [{ returnId, requestedBy: principal }] });
        } catch (err) {
          if (isRejection(err) && err.cause.type === ReturnFailureType.ReturnNotFound) {
            throw new ReturnNotFoundError(orderId, returnId);
          }
          rethrowRejection(err, orderId);
        }
        // No returns run: the return has ended (or never existed).
        const order = await stored(orderId);
        const r = returnsOf(order).find((x) => x.returnId === returnId);
        if (r === undefined) throw new ReturnNotFoundError(orderId, returnId);
        if (r.status === "CANCELLED") return order;
        throw new OrderStateError(
          ReturnFailureType.ReturnNotCancellable,
          `return ${returnId} is ${r.status.toLowerCase()}; only a return not yet shipped can be cancelled`,
          { order_id: orderId, return_id: returnId },
        );
      }),
  };
}
