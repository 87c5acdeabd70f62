/**
 * Reading order events the two ways a consumer can: StreamOrderEvents from
 * the API, and the NATS JetStream stream the workers publish to.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { type OrderChangeEvent, OrderChangeEventSchema } from "../../gen/oms/v1/order_events_pb.js";
import type { TestSystem } from "./system.js";

/**
 * Follows StreamOrderEvents after `afterCursor` until `done` holds for what
 * was received (no sleeps: the stream pushes), or fails after `timeoutMs`.
 */
export async function streamOrderEventsUntil(
  sys: TestSystem,
  afterCursor: string,
  done: (events: readonly OrderChangeEvent[]) => boolean,
  options: { orderId?: string; timeoutMs?: number } = {},
): Promise<OrderChangeEvent[]> {
  const events: OrderChangeEvent[] = [];
  const stop = new AbortController();
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 120_000);
  try {
    for await (const res of sys.grpc.streamOrderEvents(
      { afterCursor, orderId: options.orderId ?? "" },
      { signal: AbortSignal.any([stop.signal, timeout]) },
    )) {
      if (res.event !== undefined) events.push(res.event);
      if (done(events)) return events;
    }
  } catch (err) {
    if (!stop.signal.aborted) {
      throw new Error(
        `StreamOrderEvents ended after ${events.length} event(s) without the expected ones: ${String(err)}`,
      );
    }
  } finally {
    stop.abort();
  }
  throw new Error(`StreamOrderEvents ended after ${events.length} event(s)`);
}

/** One message of the JetStream stream, decoded. */
export interface NatsOrderEvent {
  subject: string;
  msgId: string;
  event: OrderChangeEvent;
}

/**
 * Reads one order's messages from JetStream with an ordered consumer, from
 * the first, until `count` arrived; fails after `timeoutMs`. Also returns
 * how many messages the stream holds on the order's subject.
 */
export async function readOrderEventsFromNats(
  natsUrl: string,
  stream: string,
  orderId: string,
  count: number,
  timeoutMs = 60_000,
): Promise<{ received: NatsOrderEvent[]; stored: number }> {
  const nc = await connect({ servers: natsUrl });
  const received: NatsOrderEvent[] = [];
  let stored = 0;
  try {
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, {
      filter_subjects: [`oms.orders.${orderId}`],
    });
    const messages = await consumer.consume();
    const timer = setTimeout(() => void messages.stop(), timeoutMs);
    try {
      for await (const m of messages) {
        received.push({
          subject: m.subject,
          msgId: m.headers?.get("Nats-Msg-Id") ?? "",
          event: fromBinary(OrderChangeEventSchema, m.data),
        });
        if (received.length >= count) break;
      }
    } finally {
      clearTimeout(timer);
      await messages.close().catch(() => {});
    }
    const subject = `oms.orders.${orderId}`;
    const info = await (await jetstreamManager(nc)).streams.info(stream, {
      subjects_filter: subject,
    });
    stored = info.state.subjects?.[subject] ?? 0;
  } finally {
    await nc.close();
  }
  if (received.length < count) {
    throw new Error(
      `JetStream had ${received.length} of ${count} events of ${orderId} after ${timeoutMs} ms`,
    );
  }
  return { received, stored };
}
