import { Code, ConnectError } from "@connectrpc/connect";
import { LimitExceededError } from "../domain/errors.js";
import type { OrderChangeEvent } from "../domain/order-events.js";
import type { OrderStore } from "../readmodel/store.js";
import { pause } from "./watch-order.js";

export interface OrderEventStreamOptions {
  store: Pick<OrderStore, "listOrderEvents">;
  /** How often to look for new events once the stream has caught up. */
  pollIntervalMs: number;
  /** Streams at once in this process. */
  maxStreams: number;
  /** Aborted when the server starts draining: streams end so clients reconnect elsewhere. */
  draining: AbortSignal;
}

/** Events read per query while catching up. */
const PAGE = 200;

/**
 * StreamOrderEvents by polling the read model's event log, like WatchOrder
 * polls the version log (and for the same reasons): any API replica can
 * serve any stream, with nothing but the database. Positions are handed out
 * in commit order, so resuming after the last position sent misses nothing.
 */
export function createOrderEventStreamer(options: OrderEventStreamOptions) {
  let open = 0;
  const { store } = options;

  return async function* stream(
    afterPosition: number,
    orderId: string,
    signal: AbortSignal,
  ): AsyncGenerator<OrderChangeEvent> {
    if (open >= options.maxStreams) {
      throw new LimitExceededError("StreamOrderEvents streams", options.maxStreams);
    }
    open += 1;
    const stop = AbortSignal.any([signal, options.draining]);
    let last = afterPosition;
    try {
      for (;;) {
        const events = await store.listOrderEvents({ afterPosition: last, limit: PAGE, orderId });
        for (const event of events) {
          yield event;
          last = event.position;
        }
        if (events.length < PAGE) await pause(options.pollIntervalMs, stop);
        if (options.draining.aborted) {
          throw new ConnectError(
            `the server is shutting down; reconnect with after_cursor=${last}`,
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
