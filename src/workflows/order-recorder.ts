import { acceptedEntry } from "../domain/new-order.js";
import type { Order, OrderStatus, TimelineEntry } from "../domain/order.js";

/**
 * Holds the order inside its workflow and turns changes into versions.
 *
 * Changes accumulate into one new version until `commit()` writes it (with
 * the timeline entries made since) through `save`, a local activity. Commits
 * are chained, so versions reach the read model strictly in order and a
 * watcher never sees version n+1 before n. Version 1 is the accepted order,
 * which the API may already have written; writing it again is a no-op.
 */
export interface OrderRecorder {
  readonly order: Order;
  /** Applies a change that belongs to the next version. */
  change(patch: Partial<Order>): void;
  /** A status change, with its timeline entry. */
  transition(status: OrderStatus, reason: string, actor?: string, patch?: Partial<Order>): void;
  /** A timeline entry without a status change (e.g. a cancellation was asked for). */
  note(reason: string, actor: string): void;
  /** Writes the pending version, if any; resolves when it (and every earlier one) is stored. */
  commit(): Promise<void>;
}

export function createOrderRecorder(
  initial: Order,
  acceptedBy: string,
  save: (input: { order: Order; entries: TimelineEntry[] }) => Promise<void>,
): OrderRecorder {
  let order = initial;
  let sequence = 1;
  let pending: TimelineEntry[] = [acceptedEntry(initial, acceptedBy)];
  let dirty = true;
  let written: Promise<void> = Promise.resolve();

  const change = (patch: Partial<Order>) => {
    if (!dirty) {
      order = { ...order, version: order.version + 1 };
      dirty = true;
    }
    order = { ...order, ...patch, updateTime: now() };
  };

  return {
    get order() {
      return order;
    },
    change,
    transition(status, reason, actor = "system", patch = {}) {
      const from = order.status;
      change({ ...patch, status, statusReason: reason });
      sequence += 1;
      pending.push(entry(order, sequence, order.updateTime, actor, from, reason));
    },
    note(reason, actor) {
      change({});
      sequence += 1;
      pending.push(entry(order, sequence, order.updateTime, actor, order.status, reason));
    },
    commit() {
      if (dirty) {
        const snapshot = { order, entries: pending };
        pending = [];
        dirty = false;
        written = written.then(() => save(snapshot));
      }
      return written;
    },
  };
}

function entry(
  order: Order,
  sequence: number,
  time: string,
  actor: string,
  fromStatus: OrderStatus | null,
  reason: string,
): TimelineEntry {
  return {
    orderId: order.orderId,
    sequence,
    time,
    actor,
    fromStatus,
    toStatus: order.status,
    reason,
    version: order.version,
  };
}

/** Workflow time: deterministic inside a workflow (the time of the current task). */
function now(): string {
  return new Date().toISOString();
}
