/**
 * UpdateOrderItems (src/workflows/item-edits.ts): the rules deciding what an
 * edit of the order's lines changes, as pure functions over the order.
 */
import type { Fulfillment, LineItem, Order } from "./order.js";
import { invoiceFor, type PricingPolicy } from "./pricing.js";

/** One line as the edit wants it (quantity 0: removed). */
export interface EditedLine {
  sku: string;
  quantity: number;
  /** For a SKU the order does not have: its unit price; else 0 or the current price. */
  unitPriceMinor: number;
}

/** Why an edit cannot apply, as the API answers it. */
export type ItemEditProblem =
  /** The request is wrong whatever the order's state (INVALID_ARGUMENT). */
  | { kind: "invalid"; message: string }
  /** The change touches fulfillments past the point of edits (FAILED_PRECONDITION). */
  | { kind: "not-editable"; message: string; fulfillmentIds: string[] };

/** What an edit does, decided before anything is called. */
export interface ItemEditPlan {
  /** Units taken out, per fulfillment id (in fulfillment order). */
  decreases: Map<string, LineItem[]>;
  /** Units to add (increases and new lines), with their unit prices. */
  additions: LineItem[];
  /**
   * The fulfillments the additions may go to (their warehouses are where they
   * are reserved), most fitting first: those that already ship more of the
   * added SKUs. Empty when nothing is added.
   */
  candidates: string[];
  /** The order's lines after the edit. */
  lines: LineItem[];
  /** Per SKU "old → new", for the timeline. */
  changes: string[];
}

/** Fulfillments that still ship something: their lines are the order's. */
function live(order: Order): Fulfillment[] {
  return order.fulfillments.filter(
    (f) => f.status !== "CANCELLED" && f.status !== "FAILED" && f.items.length > 0,
  );
}

/** The order's lines as its live fulfillments ship them, per SKU. */
export function currentLines(order: Order): Map<string, LineItem> {
  const lines = new Map<string, LineItem>();
  for (const f of live(order)) {
    for (const item of f.items) {
      const line = lines.get(item.sku);
      lines.set(item.sku, {
        sku: item.sku,
        quantity: (line?.quantity ?? 0) + item.quantity,
        unitPriceMinor: item.unitPriceMinor,
      });
    }
  }
  return lines;
}

/**
 * Whether an edit may change this fulfillment now: not authorizing, booking
 * or otherwise in a step (`busy`), not booked, not ended.
 */
export function isEditable(f: Fulfillment, busy: ReadonlySet<string>): boolean {
  return (
    (f.status === "PENDING" || f.status === "AUTHORIZED") &&
    f.shipment.status === "PENDING" &&
    f.items.length > 0 &&
    !busy.has(f.fulfillmentId)
  );
}

/**
 * Decides what the edit changes: decreases are taken out of editable
 * fulfillments (in fulfillment order), additions go to editable ones. Null
 * plan when the lines are as they are.
 */
export function planItemEdit(
  order: Order,
  requested: readonly EditedLine[],
  busy: ReadonlySet<string>,
): { plan: ItemEditPlan | null } | { problem: ItemEditProblem } {
  const invalid = (message: string) => ({ problem: { kind: "invalid" as const, message } });
  const skus = requested.map((l) => l.sku);
  const repeated = skus.find((sku, i) => skus.indexOf(sku) !== i);
  if (repeated !== undefined) return invalid(`${repeated} is listed twice`);
  if (requested.every((l) => l.quantity === 0)) {
    return invalid("the edit leaves the order without lines; use CancelOrder");
  }
  const current = currentLines(order);
  const submitted = new Map(order.items.map((i) => [i.sku, i]));
  for (const l of requested) {
    const price = current.get(l.sku)?.unitPriceMinor;
    if (price !== undefined && l.unitPriceMinor !== 0 && l.unitPriceMinor !== price) {
      return invalid(
        `${l.sku} costs ${price}; an edit does not change prices (give 0 or the current price)`,
      );
    }
  }
  const wanted = new Map(requested.map((l) => [l.sku, l]));
  const allSkus = [...new Set([...current.keys(), ...wanted.keys()])];
  const editable = order.fulfillments.filter((f) => isEditable(f, busy));
  const decreases = new Map<string, LineItem[]>();
  const additions: LineItem[] = [];
  const lines: LineItem[] = [];
  const changes: string[] = [];
  const locked: string[] = [];
  for (const sku of allSkus) {
    const before = current.get(sku)?.quantity ?? 0;
    const line = wanted.get(sku);
    const after = line?.quantity ?? 0;
    const unitPriceMinor =
      current.get(sku)?.unitPriceMinor ??
      (line?.unitPriceMinor || submitted.get(sku)?.unitPriceMinor || 0);
    if (after > 0) lines.push({ sku, quantity: after, unitPriceMinor });
    if (after === before) continue;
    changes.push(`${sku} ${before} → ${after}`);
    if (after > before) {
      additions.push({ sku, quantity: after - before, unitPriceMinor });
      continue;
    }
    let left = before - after;
    for (const f of editable) {
      const units = Math.min(left, f.items.find((i) => i.sku === sku)?.quantity ?? 0);
      if (units === 0) continue;
      decreases.set(f.fulfillmentId, [
        ...(decreases.get(f.fulfillmentId) ?? []),
        { sku, quantity: units, unitPriceMinor },
      ]);
      left -= units;
      if (left === 0) break;
    }
    if (left > 0) {
      locked.push(
        ...live(order)
          .filter((f) => !editable.includes(f) && f.items.some((i) => i.sku === sku))
          .map((f) => f.fulfillmentId),
      );
    }
  }
  if (changes.length === 0) return { plan: null };
  const emptied = new Set(
    [...decreases].filter(([id, out]) => emptiedBy(order, id, out)).map(([id]) => id),
  );
  const candidates =
    additions.length === 0
      ? []
      : editable
          .filter((f) => !emptied.has(f.fulfillmentId))
          .map((f) => ({
            id: f.fulfillmentId,
            fit: f.items.filter((i) => additions.some((a) => a.sku === i.sku)).length,
          }))
          .sort((a, b) => b.fit - a.fit)
          .map((c) => c.id);
  if (additions.length > 0 && candidates.length === 0) {
    locked.push(...live(order).map((f) => f.fulfillmentId));
  }
  if (locked.length > 0) {
    const ids = [...new Set(locked)].sort();
    return {
      problem: {
        kind: "not-editable",
        message: `the items can no longer change that way: fulfillment(s) ${ids.join(", ")} are being authorized, booked with the courier or further along`,
        fulfillmentIds: ids,
      },
    };
  }
  return { plan: { decreases, additions, candidates, lines, changes } };
}

function emptiedBy(order: Order, fulfillmentId: string, out: readonly LineItem[]): boolean {
  const f = order.fulfillments.find((x) => x.fulfillmentId === fulfillmentId);
  if (f === undefined) return false;
  return f.items.every((i) => i.quantity <= (out.find((o) => o.sku === i.sku)?.quantity ?? 0));
}

/**
 * The fulfillment with units taken out and added, re-priced (no lines left:
 * nothing to pay). CancelOrderItems uses it too, with nothing added.
 */
export function withEditedItems(
  f: Fulfillment,
  removed: readonly Pick<LineItem, "sku" | "quantity">[],
  added: readonly LineItem[],
  pricing: PricingPolicy,
): Fulfillment {
  const items = f.items.map((item) => ({
    ...item,
    quantity: item.quantity - (removed.find((r) => r.sku === item.sku)?.quantity ?? 0),
  }));
  for (const a of added) {
    const line = items.find((i) => i.sku === a.sku);
    if (line === undefined) items.push({ ...a });
    else line.quantity += a.quantity;
  }
  const kept = items.filter((item) => item.quantity > 0);
  return { ...f, items: kept, amounts: invoiceFor(kept, pricing) };
}
