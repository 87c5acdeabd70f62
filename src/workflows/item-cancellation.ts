/**
 * CancelOrderItems as a validated Update of the order workflow: quantities
 * of lines not yet booked with the courier are taken out of their
 * fulfillments, which are re-priced (the capture at dispatch then takes only
 * the new total), and their stock is released at once. A fulfillment left
 * without lines is withdrawn: its own step compensates it (void, release)
 * like a cancellation. The rest of the order carries on.
 */
import { setHandler } from "@temporalio/workflow";
import { planItemCancellation } from "../domain/edits.js";
import { withEditedItems } from "../domain/item-edits.js";
import { sumAmounts } from "../domain/pricing.js";
import { compensations } from "./activity-proxies.js";
import { itemEditRunning } from "./edit-locks.js";
import { rejection, validateEdit } from "./edits.js";
import {
  type CancelOrderItemsRequest,
  cancelOrderItemsUpdate,
  WorkflowFailureType,
} from "./messages.js";
import { type OrderRun, requestCancellation } from "./order-run.js";

/** Fulfillments left without lines by CancelOrderItems, per run. */
const withdrawnByRun = new WeakMap<OrderRun, Set<string>>();

/** Whether CancelOrderItems took every line of the fulfillment: it is to be compensated. */
export function isWithdrawn(run: OrderRun, fulfillmentId: string): boolean {
  return withdrawnByRun.get(run)?.has(fulfillmentId) ?? false;
}

/** Marks the fulfillment as left without lines by an edit: its step compensates it. */
export function withdraw(run: OrderRun, fulfillmentId: string): void {
  const withdrawn = withdrawnByRun.get(run) ?? new Set<string>();
  withdrawnByRun.set(run, withdrawn);
  withdrawn.add(fulfillmentId);
}

export function installItemCancellationHandler(run: OrderRun): void {
  const { recorder, orderId } = run;

  setHandler(
    cancelOrderItemsUpdate,
    async (request: CancelOrderItemsRequest) => {
      const planned = planItemCancellation(recorder.order, request.items, run.bookingsInFlight);
      if (!("plan" in planned)) throw new Error(planned.problem); // the validator refused it
      // The version this edit makes names its stock release: unique per edit.
      const cancellationId = `items-v${recorder.order.version + 1}`;
      const withdrawn = withdrawnByRun.get(run) ?? new Set<string>();
      withdrawnByRun.set(run, withdrawn);
      const releases: Promise<void>[] = [];
      for (const [fulfillmentId, removed] of planned.plan) {
        const f = recorder.updateFulfillment(fulfillmentId, (x) =>
          withEditedItems(x, removed, [], run.input.pricing),
        );
        if (f.items.length === 0) {
          withdrawn.add(fulfillmentId);
        } else {
          releases.push(
            compensations.releaseInventory({
              orderId,
              warehouseId: f.warehouseId,
              partial: { cancellationId, lines: removed },
            }),
          );
        }
      }
      recorder.change({ amounts: sumAmounts(recorder.order.fulfillments.map((f) => f.amounts)) });
      const what = [...planned.plan]
        .flatMap(([id, removed]) => removed.map((r) => `${r.quantity} x ${r.sku} (${id})`))
        .join(", ");
      recorder.note(
        `items cancelled: ${what}${request.reason ? `: ${request.reason}` : ""}`,
        request.requestedBy,
      );
      const nothingLeft = recorder.order.fulfillments.every(
        (f) => f.items.length === 0 || f.status === "CANCELLED" || f.status === "FAILED",
      );
      if (nothingLeft) {
        requestCancellation(run, "CUSTOMER", "every item was cancelled", request.requestedBy);
      }
      await Promise.all(releases);
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (request: CancelOrderItemsRequest) => {
        validateEdit(run, request.expectedVersion, "cancelling items");
        if (itemEditRunning(run)) {
          throw rejection(
            WorkflowFailureType.EditInProgress,
            `an edit of order "${orderId}"'s items is in progress; read the order again and retry`,
          );
        }
        const order = recorder.order;
        if (order.fulfillments.length === 0) {
          throw rejection(
            WorkflowFailureType.ItemsNotCancellable,
            `order "${orderId}" is ${order.status.toLowerCase()} and its stock not yet allocated; cancel items once it is processing, or cancel the order`,
          );
        }
        const planned = planItemCancellation(order, request.items, run.bookingsInFlight);
        if (!("plan" in planned)) {
          throw rejection(WorkflowFailureType.ItemsNotCancellable, planned.problem, {
            fulfillment_ids: planned.fulfillmentIds.join(","),
          });
        }
      },
    },
  );
}
