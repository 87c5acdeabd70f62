import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededError, OrderNotFoundError } from "../domain/errors.js";
import type { Order } from "../domain/order.js";
import { orderSettled } from "../domain/returns.js";
import type { OrderStore } from "../readmodel/store.js";

export interface OrderWatcherOptions {
  store: OrderStore;
  /** How often to look for new versions. */
  pollIntervalMs: number;
  /** Streams at once in this process. */
  maxStreams: number;
  /** Aborted when the server starts draining: streams end so clients reconnect elsewhere. */
  draining: AbortSignal;
}

/**
 * WatchOrder by polling the read model's version log (order_versions).
 *
 * Polling, not push: the workflow's writes happen in worker processes and the
 * stream may be served by any API replica, and a short indexed query per
 * stream works the same on SQLite and PostgreSQL with no broker to run.
 * Every version is stored, so a stream sends each one in order, and
 * `since_version` resumes exactly where a dropped stream stopped.
 */
export function createOrderWatcher(options: OrderWatcherOptions) {
  let open = 0;
  const { store } = options;

  return async function* watch(
    orderId: string,
    sinceVersion: number,
    signal: AbortSignal,
  ): AsyncGenerator<Order> {
    if (open >= options.maxStreams)
      throw new LimitExceededError("WatchOrder streams", options.maxStreams);
    open += 1;
    const stop = AbortSignal.any([signal, options.draining]);
    try {
      const current = await store.getOrder(orderId);
      if (current === null) throw new OrderNotFoundError(orderId);
      let last = sinceVersion;
      // Resuming after the last version (terminal, no return under way): nothing more to send.
      if (orderSettled(current) && current.version <= sinceVersion) return;
      if (sinceVersion === 0) {
        // A fresh watch starts with the order as it is, not with its whole past.
        yield current;
        if (orderSettled(current)) return;
        last = current.version;
      }
      for (;;) {
        const versions = await store.getOrderVersionsAfter(orderId, last, 100);
        for (const order of versions) {
          yield order;
          last = order.version;
          if (orderSettled(order)) return;
        }
        if (versions.length === 0) await pause(options.pollIntervalMs, stop);
        if (options.draining.aborted) {
          throw new ConnectError(
            `the server is shutting down; reconnect with since_version=${last}`,
            Code.Unavailable,
          );
        }
        if (signal.aborted) return;
      }
    } finally {
      open -= 1;
    }
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
