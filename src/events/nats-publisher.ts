/**
 * Publishes the order event log (the read model's order_events, written in
 * the same transaction as each version) to NATS JetStream: one message per
 * event on `oms.orders.<order_id>`, binary `oms.v1.OrderChangeEvent`, with
 * the event id `<order_id>:<sequence>` as `Nats-Msg-Id`, so that the stream
 * drops a message published twice within its duplicate window.
 *
 * At least once, in per-order order: a publisher holds a lease on its cursor
 * in the read model (event_publishers), so one publisher at a time works
 * through the log in position order, across any number of worker processes.
 * Events of one order are published one after the other (the next only once
 * JetStream acknowledged the previous); different orders' go concurrently.
 * The cursor moves once a batch is acknowledged; a crash or a failed publish
 * publishes the batch again, which the stream deduplicates. A publisher that
 * lost its lease while publishing can only repeat events the next holder
 * publishes too, deduplicated the same way.
 */

import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { toBinary } from "@bufbuild/protobuf";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { OrderChangeEventSchema } from "../../gen/oms/v1/order_events_pb.js";
import { type OrderChangeEvent, orderEventId, orderEventSubject } from "../domain/order-events.js";
import type { OrderStore } from "../readmodel/store.js";
import { orderChangeEventToProto } from "./order-event-proto.js";

/** The subjects of every order's events. */
export const ORDER_EVENT_SUBJECTS = "oms.orders.>";
/** How long the stream remembers message ids to drop repeats (JetStream's default). */
const DUPLICATE_WINDOW_NS = 2 * 60 * 1_000_000_000;

export interface PublisherLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface NatsEventPublisherOptions {
  store: Pick<OrderStore, "listOrderEvents" | "acquireEventPublisher" | "advanceEventPublisher">;
  /** NATS server URL(s), comma-separated (OMS_EVENTS_NATS_URL). */
  servers: string;
  /** The JetStream stream, created on `oms.orders.>` if missing. */
  stream: string;
  logger: PublisherLogger;
  /** How often the log is looked at when nothing wakes the publisher. Default 200 ms. */
  pollIntervalMs?: number;
  /** Events per batch. Default 256. */
  batchSize?: number;
  /** The cursor's lease; renewed with every batch. Default 30 s. */
  leaseMs?: number;
  /** Deadline of one publish's acknowledgement. Default 5 s. */
  publishTimeoutMs?: number;
}

export interface NatsEventPublisher {
  /** Look at the log now rather than at the next poll. */
  wake(): void;
  /** Stops after the batch in flight. Idempotent. */
  stop(): Promise<void>;
}

/** The publisher's name in event_publishers: one cursor per stream. */
export function publisherName(stream: string): string {
  return `nats:${stream}`;
}

export function startNatsEventPublisher(options: NatsEventPublisherOptions): NatsEventPublisher {
  const { store, logger, stream } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 200;
  const batchSize = options.batchSize ?? 256;
  const leaseMs = options.leaseMs ?? 30_000;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  const name = publisherName(stream);
  const owner = randomUUID();
  let stopped = false;
  let kicked = false;
  let interrupt = new AbortController();
  let connection: NatsConnection | undefined;

  const kick = () => {
    kicked = true;
    interrupt.abort();
  };
  const idle = async (ms: number) => {
    if (kicked || stopped) return;
    interrupt = new AbortController();
    if (kicked) return;
    await sleep(ms, undefined, { signal: interrupt.signal }).catch(() => {});
  };

  async function open(): Promise<JetStreamClient> {
    connection = await connect({
      servers: options.servers.split(",").map((s) => s.trim()),
      name: `oms-event-publisher-${owner}`,
      maxReconnectAttempts: -1,
    });
    const jsm = await jetstreamManager(connection);
    try {
      await jsm.streams.info(stream);
    } catch {
      await jsm.streams.add({
        name: stream,
        subjects: [ORDER_EVENT_SUBJECTS],
        duplicate_window: DUPLICATE_WINDOW_NS,
      });
      logger.info({ stream, subjects: ORDER_EVENT_SUBJECTS }, "created the JetStream stream");
    }
    return jetstream(connection);
  }

  async function publish(js: JetStreamClient, event: OrderChangeEvent): Promise<void> {
    const h = headers();
    h.set("Content-Type", "application/protobuf; messageType=oms.v1.OrderChangeEvent");
    h.set("Oms-Order-Id", event.orderId);
    h.set("Oms-Sequence", String(event.sequence));
    h.set("Oms-Event-Type", event.type);
    await js.publish(
      orderEventSubject(event.orderId),
      toBinary(OrderChangeEventSchema, orderChangeEventToProto(event)),
      { msgID: orderEventId(event.orderId, event.sequence), headers: h, timeout: publishTimeoutMs },
    );
  }

  /** Publishes a batch: each order's events one after another, orders side by side. */
  async function publishBatch(js: JetStreamClient, events: OrderChangeEvent[]): Promise<void> {
    const byOrder = new Map<string, OrderChangeEvent[]>();
    for (const event of events) {
      const list = byOrder.get(event.orderId);
      if (list === undefined) byOrder.set(event.orderId, [event]);
      else list.push(event);
    }
    const results = await Promise.allSettled(
      [...byOrder.values()].map(async (list) => {
        for (const event of list) await publish(js, event);
      }),
    );
    const failed = results.find((r) => r.status === "rejected");
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
  }

  async function loop(): Promise<void> {
    let js: JetStreamClient | undefined;
    let failures = 0;
    while (!stopped) {
      kicked = false;
      try {
        js ??= await open();
        const position = await store.acquireEventPublisher(name, owner, leaseMs);
        if (position === null) {
          // Another process publishes; take over if its lease lapses.
          await idle(Math.min(leaseMs, 5 * pollIntervalMs));
          continue;
        }
        const events = await store.listOrderEvents({ afterPosition: position, limit: batchSize });
        if (events.length > 0) {
          await publishBatch(js, events);
          const last = (events.at(-1) as OrderChangeEvent).position;
          if (!(await store.advanceEventPublisher(name, owner, last, leaseMs))) {
            logger.warn({ stream }, "event publisher lost its lease; another takes over");
          }
        }
        if (failures > 0) logger.info({ stream }, "publishing order events again");
        failures = 0;
        if (events.length < batchSize) await idle(pollIntervalMs);
      } catch (err) {
        if (failures++ === 0) {
          logger.warn(
            { stream, error: err instanceof Error ? err.message : String(err) },
            "publishing order events failed; retrying",
          );
        }
        if (connection?.isClosed()) {
          js = undefined;
          connection = undefined;
        }
        await idle(Math.min(5_000, 200 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  const running = loop();
  let stopping: Promise<void> | undefined;
  return {
    wake() {
      if (!stopped) kick();
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        interrupt.abort();
        await running;
        await connection?.close().catch(() => {});
      })();
      return stopping;
    },
  };
}
