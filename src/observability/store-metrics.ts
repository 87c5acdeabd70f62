import type { Order, OrderStatus, TimelineEntry } from "../domain/order.js";
import { isTerminal } from "../domain/order.js";
import { slaBreachReason } from "../domain/sla.js";
import type { OrderStore } from "../readmodel/store.js";
import {
  orderDuration,
  ordersAccepted,
  ordersCancelled,
  ordersCompleted,
  ordersFailed,
  readModelWriteDuration,
  secondsSince,
  slaBreaches,
} from "./metrics.js";

const TERMINAL_COUNTERS: Partial<Record<OrderStatus, { inc(): void }>> = {
  COMPLETED: ordersCompleted,
  CANCELLED: ordersCancelled,
  FAILED: ordersFailed,
};

/**
 * The store, with its writes timed and the orders' outcomes counted. An order
 * version is applied exactly once however often it is written (retries,
 * replays, the API and the workflow both writing version 1), so counting the
 * versions the store applied counts each acceptance and each terminal
 * transition once, in whichever process wrote it, and outside workflow code.
 */
export function withStoreMetrics(store: OrderStore): OrderStore {
  const saveOrder: OrderStore["saveOrder"] = async (order, entries, outbox, options) => {
    const started = performance.now();
    let outcome = "error";
    try {
      const result = await store.saveOrder(order, entries, outbox, options);
      outcome = result.applied ? "applied" : "unchanged";
      if (result.applied) countOutcome(order, entries);
      return result;
    } finally {
      readModelWriteDuration.observe({ outcome }, secondsSince(started));
    }
  };
  // SubmitOrder's write of version 1, counted as saveOrder counts it.
  const acceptOrder: OrderStore["acceptOrder"] = async (acceptance) => {
    const started = performance.now();
    let outcome = "error";
    try {
      const result = await store.acceptOrder(acceptance);
      outcome = result.accepted ? "applied" : "unchanged";
      if (result.accepted) countOutcome(acceptance.order, acceptance.entries);
      return result;
    } finally {
      readModelWriteDuration.observe({ outcome }, secondsSince(started));
    }
  };
  return new Proxy(store, {
    get: (target, property, receiver) =>
      property === "saveOrder"
        ? saveOrder
        : property === "acceptOrder"
          ? acceptOrder
          : Reflect.get(target, property, receiver),
  });
}

function countOutcome(order: Order, entries: readonly TimelineEntry[]): void {
  if (order.version === 1) ordersAccepted.inc();
  countSlaBreaches(order, entries);
  if (!isTerminal(order.status)) return;
  const transition = entries.find(
    (e) => e.toStatus === order.status && (e.fromStatus === null || !isTerminal(e.fromStatus)),
  );
  if (transition === undefined) return;
  TERMINAL_COUNTERS[order.status]?.inc();
  const seconds = (Date.parse(transition.time) - Date.parse(order.createTime)) / 1_000;
  if (Number.isFinite(seconds) && seconds >= 0) {
    orderDuration.observe({ status: order.status }, seconds);
  }
}

/**
 * A breach's timeline entry travels in exactly one version (the one that
 * recorded it), and that version is applied once: counting the breached
 * stages whose entry this version carries counts each breach once.
 */
function countSlaBreaches(order: Order, entries: readonly TimelineEntry[]): void {
  for (const stage of order.sla?.stages ?? []) {
    if (stage.breachTime === "") continue;
    const reason = slaBreachReason(stage);
    if (entries.some((e) => e.reason === reason)) slaBreaches.inc({ stage: stage.stage });
  }
}
