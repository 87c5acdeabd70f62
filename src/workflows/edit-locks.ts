/**
 * What UpdateOrderItems (item-edits.ts) shares with the order's other steps:
 * the fulfillments a running edit holds (their steps wait for it), the
 * fulfillments in a step no edit may interleave with, and the authorization
 * each fulfillment holds. Workflow state only: none of it makes a command,
 * and it stays empty in an order without edits.
 */
import { condition } from "@temporalio/workflow";
import type { OrderRun } from "./order-run.js";

/** What item edits keep per run (nothing until the first one). */
interface EditState {
  /** Item edits accepted so far; names the next one's keys. */
  count: number;
  /** Fulfillments the running edit holds. */
  locked: Set<string>;
  /** Fulfillments in a step an edit must not interleave with (authorizing, renewing, re-sourcing). */
  busy: Set<string>;
  /** The authorization a fulfillment holds, as its renewal timer sees it. */
  held: Map<string, { expireTime: string | undefined }>;
}

const stateByRun = new WeakMap<OrderRun, EditState>();

export function stateOf(run: OrderRun): EditState {
  let state = stateByRun.get(run);
  if (state === undefined) {
    state = { count: 0, locked: new Set(), busy: new Set(), held: new Map() };
    stateByRun.set(run, state);
  }
  return state;
}

/** Whether a running item edit holds the fulfillment. */
export function lockedByEdit(run: OrderRun, fulfillmentId: string): boolean {
  return stateByRun.get(run)?.locked.has(fulfillmentId) ?? false;
}

/**
 * Waits while an item edit holds the fulfillment. Callers ask
 * `lockedByEdit` first and await this only when it is true, so a run
 * without edits takes no extra turn of the event loop (its commands keep
 * their order, and its history replays).
 */
export async function waitForItemEdit(run: OrderRun, fulfillmentId: string): Promise<void> {
  await condition(() => !lockedByEdit(run, fulfillmentId));
}

/** Marks the fulfillment as in a step no edit may interleave with (or out of it). */
export function markBusy(run: OrderRun, fulfillmentId: string, busy: boolean): void {
  const state = stateOf(run);
  if (busy) state.busy.add(fulfillmentId);
  else state.busy.delete(fulfillmentId);
}

/** Lets an edit's re-authorization tell the fulfillment's renewal timer about the new expiry. */
export function trackHeldAuthorization(
  run: OrderRun,
  fulfillmentId: string,
  held: { expireTime: string | undefined },
): void {
  stateOf(run).held.set(fulfillmentId, held);
}

export function busyFulfillments(run: OrderRun): Set<string> {
  const state = stateOf(run);
  return new Set([...run.bookingsInFlight, ...state.busy, ...state.locked]);
}

/** Whether an item edit is applying right now. */
export function itemEditRunning(run: OrderRun): boolean {
  return (stateByRun.get(run)?.locked.size ?? 0) > 0;
}
