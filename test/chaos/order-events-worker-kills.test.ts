/**
 * Order events end to end, on the real services and a real nats-server: the
 * worker process that writes the versions and publishes the event log to
 * JetStream is SIGKILLed while orders run. Every order's events then arrive
 * through StreamOrderEvents and from JetStream in their sequence, without
 * gaps or repeats, the same on both; and a consumer that restarts from a
 * cursor gets exactly what followed it.
 */
import type { ChildProcess } from "node:child_process";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type OrderChangeEvent, OrderChangeType } from "../../gen/oms/v1/order_events_pb.js";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import type { SubmitOrderRequest } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { readOrderEventsFromNats, streamOrderEventsUntil } from "../support/order-events.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";
import { spawnWorkerProcess, submitWavesKillingWorker } from "../support/worker-process.js";

const ORDERS = 8;
const STREAM = "OMS_ORDERS";

/** What identifies an event and its place: order, sequence, version, status. */
const shape = (e: OrderChangeEvent) =>
  `${e.orderId}#${e.sequence} v${e.order?.version} ${OrderStatus[e.order?.status ?? 0]}`;

describe("order events while the worker is killed", () => {
  let sys: TestSystem;
  let worker: ChildProcess | undefined;
  const natsUrl = inject("natsUrl");

  const startWorkerProcess = () => {
    worker = spawnWorkerProcess(sys, {
      OMS_EVENTS_NATS_URL: natsUrl,
      OMS_EVENTS_NATS_STREAM: STREAM,
    });
  };

  beforeAll(async () => {
    sys = await startTestSystem({
      refs: {
        simulatedCourier: {
          dispatchDelayMs: 0,
          deliverDelayMs: 0,
          retryDelayMs: 50,
          maxReportAttempts: 1_000,
          reportEvent: async ({ shipmentId, fulfillmentId, event, occurredAt }) => {
            await sys.shipments.reportShipmentEvent({
              shipmentId,
              fulfillmentId,
              event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
              occurredAt: timestampFromDate(occurredAt),
            });
          },
        },
      },
    });
    await sys.stopWorker();
    startWorkerProcess();
  });

  afterAll(async () => {
    worker?.kill("SIGKILL");
    await sys?.stop();
  });

  it("delivers every order's events in order, without gaps, on StreamOrderEvents and JetStream", {
    timeout: 480_000,
  }, async () => {
    const orders = Array.from({ length: ORDERS }, () => twoWarehouses());
    const waves = [orders.slice(0, ORDERS / 2), orders.slice(ORDERS / 2)];
    await submitWavesKillingWorker(
      sys,
      waves,
      { current: () => worker, restart: startWorkerProcess },
      120_000,
    );
    const ids = new Set(orders.map((o) => o.orderId));
    for (const req of orders) {
      await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.COMPLETED, 180_000);
    }

    // StreamOrderEvents from the start, until every order's COMPLETED event.
    const completed = (events: readonly OrderChangeEvent[]) =>
      new Set(
        events
          .filter((e) => ids.has(e.orderId) && e.order?.status === OrderStatus.COMPLETED)
          .map((e) => e.orderId),
      ).size === ids.size;
    const streamed = await streamOrderEventsUntil(sys, "", completed);
    const cursors = streamed.map((e) => BigInt(e.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set(cursors).size).toBe(cursors.length);

    for (const req of orders) {
      const mine = streamed.filter((e) => e.orderId === req.orderId);
      // 1, 2, …, n: no gap, no repeat; versions rise; it starts accepted and ends completed.
      expect(mine.map((e) => Number(e.sequence))).toEqual(mine.map((_, i) => i + 1));
      const versions = mine.map((e) => Number(e.order?.version));
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(new Set(versions).size).toBe(versions.length);
      expect(mine[0]?.type).toBe(OrderChangeType.CREATED);
      expect(mine[0]?.order?.status).toBe(OrderStatus.PENDING);
      expect(mine.at(-1)?.order?.status).toBe(OrderStatus.COMPLETED);
      expect(mine.map((e) => e.eventId)).toEqual(mine.map((e) => `${req.orderId}:${e.sequence}`));
      // The last event is the order as GetOrder has it.
      const { order } = await sys.grpc.getOrder({ orderId: req.orderId });
      expect(mine.at(-1)?.order).toEqual(order);

      // JetStream: the same events, in the same order, each once.
      const { received, stored } = await readOrderEventsFromNats(
        natsUrl,
        STREAM,
        req.orderId,
        mine.length,
      );
      expect(received.map((m) => shape(m.event))).toEqual(mine.map(shape));
      expect(received.map((m) => m.msgId)).toEqual(mine.map((e) => e.eventId));
      expect(received.every((m) => m.subject === `oms.orders.${req.orderId}`)).toBe(true);
      expect(stored).toBe(mine.length);
    }

    // A consumer that restarts from a cursor gets exactly what followed it.
    const cut = Math.floor(streamed.length / 2);
    const resumeAt = streamed[cut - 1] as OrderChangeEvent;
    const rest = await streamOrderEventsUntil(
      sys,
      resumeAt.cursor,
      (events) => events.length >= streamed.length - cut,
    );
    expect(rest.map((e) => e.cursor)).toEqual(streamed.slice(cut).map((e) => e.cursor));
    expect(rest.map(shape)).toEqual(streamed.slice(cut).map(shape));

    // One order only.
    const one = orders[0] as SubmitOrderRequest;
    const only = await streamOrderEventsUntil(
      sys,
      "",
      (events) => events.at(-1)?.order?.status === OrderStatus.COMPLETED,
      { orderId: one.orderId },
    );
    expect(only.map(shape)).toEqual(streamed.filter((e) => e.orderId === one.orderId).map(shape));
  });

  it("refuses a cursor that is not one", async () => {
    const err = await (async () => {
      for await (const _ of sys.grpc.streamOrderEvents({ afterCursor: "x1" })) break;
    })().catch((e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.InvalidArgument);
  });
});
