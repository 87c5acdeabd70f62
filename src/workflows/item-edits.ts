/**
 * UpdateOrderItems as a validated Update of the order workflow: the order's
 * lines change (quantities up or down, lines removed or added) in the
 * fulfillments that have not yet gone past the point of edits, all exactly
 * once under the edit's own keys (`items-edit-<n>`, n counting the order's
 * item edits):
 *
 * 1. added units are reserved (`<order>:reserve:items-edit-<n>`) in the
 *    warehouses of the editable fulfillments only; anything missing undoes
 *    the reservation and fails the edit (ITEMS_UNAVAILABLE), nothing changed;
 * 2. every changed fulfillment is re-priced; one already authorized for less
 *    than its new total is authorized again for it
 *    (`<f>:authorize:items-edit-<n>`); a decline undoes everything (the new
 *    authorizations voided, the reservation released) and fails the edit;
 * 3. the change is applied in one version; then the replaced authorizations
 *    are voided (`<f>:void:items-edit-<n>`) and removed units released
 *    (`<order>:release:<warehouse>:items-edit-<n>`). A fulfillment left
 *    without lines is withdrawn like CancelOrderItems does.
 *
 * While an edit runs, its fulfillments are locked: their steps wait before
 * authorizing, booking or compensating, so an edit and the step it races
 * are ordered, and the booking carries the edited lines. Steps check the
 * lock only when an edit holds one: an order without edits runs (and
 * replays) exactly as before.
 */
import { ActivityFailure, ApplicationFailure, setHandler } from "@temporalio/workflow";
import type { AuthorizeResult } from "../activities/index.js";
import { reauthorized } from "../domain/fulfillment.js";
import { type ItemEditPlan, planItemEdit, withEditedItems } from "../domain/item-edits.js";
import type { LineItem } from "../domain/order.js";
import { sumAmounts } from "../domain/pricing.js";
import { activities, compensations } from "./activity-proxies.js";
import { busyFulfillments, itemEditRunning, stateOf } from "./edit-locks.js";
import { rejection, validateEdit } from "./edits.js";
import { withdraw } from "./item-cancellation.js";
import {
  type UpdateOrderItemsRequest,
  updateOrderItemsUpdate,
  WorkflowFailureType,
} from "./messages.js";
import type { OrderRun } from "./order-run.js";

export function installItemEditHandler(run: OrderRun): void {
  const { recorder } = run;

  const plan = (request: UpdateOrderItemsRequest) => {
    const order = recorder.order;
    if (order.fulfillments.length === 0) {
      throw rejection(
        WorkflowFailureType.FulfillmentNotEditable,
        `order "${order.orderId}" is ${order.status.toLowerCase()} and its stock not yet allocated; edit its items once it is processing`,
        { fulfillment_ids: "" },
      );
    }
    const planned = planItemEdit(order, request.lines, busyFulfillments(run));
    if ("problem" in planned) {
      const p = planned.problem;
      throw p.kind === "invalid"
        ? rejection(WorkflowFailureType.InvalidItems, p.message, { field: "lines" })
        : rejection(WorkflowFailureType.FulfillmentNotEditable, p.message, {
            fulfillment_ids: p.fulfillmentIds.join(","),
          });
    }
    return planned.plan;
  };

  setHandler(
    updateOrderItemsUpdate,
    async (request: UpdateOrderItemsRequest) => {
      const planned = plan(request);
      if (planned === null) return recorder.order; // the lines are as they are
      const state = stateOf(run);
      state.count += 1;
      const editId = `items-edit-${state.count}`;
      const touched = [...planned.decreases.keys(), ...planned.candidates];
      for (const id of touched) state.locked.add(id);
      try {
        await applyEdit(run, planned, editId, request);
      } finally {
        for (const id of touched) state.locked.delete(id);
      }
      await recorder.flushed();
      return recorder.order;
    },
    {
      validator: (request: UpdateOrderItemsRequest) => {
        validateEdit(run, request.expectedVersion, "editing the items");
        if (itemEditRunning(run)) {
          throw rejection(
            WorkflowFailureType.EditInProgress,
            `another edit of order "${run.orderId}"'s items is in progress; read the order again and retry`,
          );
        }
        plan(request);
      },
    },
  );
}

async function applyEdit(
  run: OrderRun,
  planned: ItemEditPlan,
  editId: string,
  request: UpdateOrderItemsRequest,
): Promise<void> {
  const { recorder, orderId } = run;
  const pricing = run.input.pricing;
  const fulfillmentOf = (id: string) => {
    const f = recorder.fulfillment(id);
    if (f === undefined) throw new Error(`no fulfillment ${id}`);
    return f;
  };

  // 1. Reserve the added units in the editable fulfillments' warehouses.
  const added = new Map<string, LineItem[]>();
  let reserved: { warehouseId: string; items: LineItem[] }[] = [];
  if (planned.additions.length > 0) {
    const warehouseIds = [
      ...new Set(planned.candidates.map((id) => fulfillmentOf(id).warehouseId)),
    ];
    let result: Awaited<ReturnType<typeof activities.reserveInventory>>;
    try {
      result = await activities.reserveInventory({
        orderId,
        items: planned.additions,
        edit: { editId, warehouseIds },
      });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      const why = err.cause instanceof ApplicationFailure ? err.cause.message : err.message;
      throw rejection(WorkflowFailureType.InvalidItems, why, { field: "lines" });
    }
    reserved = result.allocations;
    if (result.unavailable.length > 0) {
      await releaseReserved(run, reserved, `${editId}-undo`);
      throw rejection(
        WorkflowFailureType.ItemsUnavailable,
        `not in stock where the order ships from (${warehouseIds.join(", ")}): ${result.unavailable.map((i) => `${i.quantity} x ${i.sku}`).join(", ")}; nothing changed`,
        { skus: result.unavailable.map((i) => i.sku).join(",") },
      );
    }
    for (const a of reserved) {
      const id = planned.candidates.find((c) => fulfillmentOf(c).warehouseId === a.warehouseId);
      if (id !== undefined) added.set(id, [...(added.get(id) ?? []), ...a.items]);
    }
  }

  // Cancelled meanwhile (its compensation waits for this edit): give back, authorize nothing.
  if (run.cancellation !== null) {
    await releaseReserved(run, reserved, `${editId}-undo`);
    throw rejection(
      WorkflowFailureType.NotEditable,
      `order "${orderId}" was cancelled while its items were being edited; nothing changed`,
    );
  }

  // 2. Re-price; authorize again where the new total is more than the authorization.
  const touched = new Set([...planned.decreases.keys(), ...added.keys()]);
  const changed = recorder.order.fulfillments
    .map((f) => f.fulfillmentId)
    .filter((id) => touched.has(id))
    .map((id) =>
      withEditedItems(
        fulfillmentOf(id),
        planned.decreases.get(id) ?? [],
        added.get(id) ?? [],
        pricing,
      ),
    );
  const raised = changed.filter(
    (f) =>
      f.payment.status === "AUTHORIZED" &&
      f.items.length > 0 &&
      f.amounts.totalMinor > f.payment.authorizedMinor,
  );
  // Each new authorization with the fulfillment and total it was asked for.
  const authorized = await Promise.all(
    raised.map(async (f) => ({
      fulfillmentId: f.fulfillmentId,
      amount: f.amounts.totalMinor,
      auth: await activities.authorizePayment({
        orderId,
        fulfillmentId: f.fulfillmentId,
        customerId: run.input.submission.customerId,
        currencyCode: run.input.submission.currencyCode,
        amountMinor: f.amounts.totalMinor,
        edit: editId,
      }),
    })),
  );
  const declined = authorized
    .map((a) => a.auth)
    .find((a): a is Extract<AuthorizeResult, { approved: false }> => !a.approved);
  if (declined !== undefined) {
    await Promise.all([
      ...authorized.map(({ fulfillmentId, auth }) =>
        auth.approved
          ? compensations.voidPayment({
              fulfillmentId,
              authorizationId: auth.authorizationId,
              edit: editId,
            })
          : undefined,
      ),
      releaseReserved(run, reserved, `${editId}-undo`),
    ]);
    throw rejection(
      WorkflowFailureType.ItemsPaymentDeclined,
      `the new total could not be authorized: ${declined.declineReason}; nothing changed`,
    );
  }

  // 3. Apply, in one version; then void what was replaced and release what was removed.
  const replaced: { fulfillmentId: string; authorizationId: string }[] = [];
  const newAuth = new Map<string, { auth: AuthorizeResult & { approved: true }; amount: number }>();
  for (const { fulfillmentId, amount, auth } of authorized) {
    if (auth.approved) newAuth.set(fulfillmentId, { auth, amount });
  }
  const state = stateOf(run);
  for (const next of changed) {
    const id = next.fulfillmentId;
    const renewed = newAuth.get(id);
    recorder.updateFulfillment(id, (x) => {
      const edited = { ...x, items: next.items, amounts: next.amounts };
      if (renewed === undefined) return edited;
      replaced.push({ fulfillmentId: id, authorizationId: x.payment.authorizationId });
      return reauthorized(edited, renewed.auth.authorizationId, renewed.amount);
    });
    if (renewed !== undefined) {
      const held = state.held.get(id);
      if (held !== undefined) held.expireTime = renewed.auth.expireTime;
    }
    if (next.items.length === 0) withdraw(run, id);
  }
  recorder.change({
    items: planned.lines,
    amounts: sumAmounts(recorder.order.fulfillments.map((f) => f.amounts)),
  });
  const totals = changed.map((f) => `${f.fulfillmentId} ${f.amounts.totalMinor}`).join(", ");
  const reauth = replaced
    .map(
      (r) =>
        `${r.fulfillmentId} re-authorized: ${newAuth.get(r.fulfillmentId)?.auth.authorizationId} replaces ${r.authorizationId}`,
    )
    .join("; ");
  recorder.note(
    `items changed: ${planned.changes.join(", ")}; new totals: ${totals}${reauth ? `; ${reauth}` : ""}${request.reason ? `: ${request.reason}` : ""}`,
    request.requestedBy,
  );
  await Promise.all([
    ...replaced.map((r) => compensations.voidPayment({ ...r, edit: editId })),
    ...[...planned.decreases]
      .filter(([id]) => fulfillmentOf(id).items.length > 0)
      .map(([id, removed]) => releaseUnits(run, fulfillmentOf(id).warehouseId, removed, editId)),
  ]);
}

/** Gives back what an edit reserved (it failed): each warehouse's lines, under the undo's key. */
async function releaseReserved(
  run: OrderRun,
  reserved: readonly { warehouseId: string; items: LineItem[] }[],
  undoId: string,
): Promise<void> {
  await Promise.all(reserved.map((r) => releaseUnits(run, r.warehouseId, r.items, undoId)));
}

/** Releases units of one warehouse, under the release's own key (`releaseId`). */
function releaseUnits(
  run: OrderRun,
  warehouseId: string,
  units: readonly LineItem[],
  releaseId: string,
): Promise<void> {
  return compensations.releaseInventory({
    orderId: run.orderId,
    warehouseId,
    partial: {
      cancellationId: releaseId,
      lines: units.map((u) => ({ sku: u.sku, quantity: u.quantity })),
    },
  });
}
