/**
 * The notification dispatcher against the real reference notification service
 * (with its fault injection) and real read-model stores: what saveOrder writes
 * to the outbox reaches the customer once, through outages, lost responses,
 * give-ups and competing dispatchers.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type ServiceImpl,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  NotificationService,
  NotificationTemplate,
} from "../../gen/notifications/v1/notification_service_pb.js";
import { createReadModelActivities } from "../../src/activities/read-model-activities.js";
import type { DownstreamClients } from "../../src/clients/downstream.js";
import { acceptedNotification } from "../../src/domain/new-order.js";
import { notificationKey } from "../../src/domain/notification.js";
import type { Order } from "../../src/domain/order.js";
import { startConnectServer } from "../../src/net/connect-server.js";
import {
  type DispatcherLogger,
  type NotificationDispatcher,
  type NotificationDispatcherOptions,
  startNotificationDispatcher,
} from "../../src/outbox/notification-dispatcher.js";
import { createStore } from "../../src/readmodel/create-store.js";
import type { OrderStore, OutboxMessage } from "../../src/readmodel/store.js";
import { type Harness, startHarness, uniqueId } from "../reference-services/harness.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

const SECRET = "test-page-token-secret";

let harness: Harness;
let dir: string;
let counter = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  harness = await startHarness();
  dir = mkdtempSync(join(tmpdir(), "oms-outbox-"));
});
afterEach(async () => {
  // Dispatchers first (registered last), then their stores.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  harness.services.faults.clear();
});
afterAll(async () => {
  await harness?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A SQLite file of its own; `open` may be called again for another instance ("process") on it. */
function sqliteDatabase(): { open(): Promise<OrderStore> } {
  counter += 1;
  const url = `sqlite:${join(dir, `db-${counter}`, "readmodel.sqlite")}`;
  return {
    async open() {
      const store = await createStore({ databaseUrl: url, dataDir: dir, pageTokenSecret: SECRET });
      cleanups.push(() => store.close());
      return store;
    },
  };
}

/** Attempts per idempotency key (a Send, or an item of a SendBatch), as the dispatcher made them. */
interface SendLog {
  calls: Map<string, number>;
  /** Attempts the service answered with "sent" (or, for a batch item, "duplicate"). */
  succeeded: Map<string, number>;
  /** The keys of each SendBatch call, in call order. */
  batches: string[][];
  /** Send calls. */
  singles: number;
  total(): number;
}

/** A notification service's client (the reference service's by default), counting the dispatcher's calls. */
function countingClients(inner: Client<typeof NotificationService> = harness.notifications): {
  clients: Pick<DownstreamClients, "notifications">;
  sends: SendLog;
} {
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const sends: SendLog = {
    calls: new Map(),
    succeeded: new Map(),
    batches: [],
    singles: 0,
    total: () => [...sends.calls.values()].reduce((a, b) => a + b, 0),
  };
  const notifications: Client<typeof NotificationService> = {
    ...inner,
    async send(request, options) {
      const key = request.idempotencyKey ?? "";
      count(sends.calls, key);
      sends.singles++;
      const response = await inner.send(request, options);
      count(sends.succeeded, key);
      return response;
    },
    async sendBatch(request, options) {
      const keys = (request.requests ?? []).map((item) => item.idempotencyKey ?? "");
      for (const key of keys) count(sends.calls, key);
      sends.batches.push(keys);
      const response = await inner.sendBatch(request, options);
      response.results.forEach((r, i) => {
        const key = keys[i];
        if (key !== undefined && r.result.case !== "error") count(sends.succeeded, key);
      });
      return response;
    },
  };
  return { clients: { notifications }, sends };
}

interface LogLine {
  level: "warn" | "debug";
  message: string;
  fields: Record<string, unknown>;
}

function capturingLogger(): DispatcherLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (fields, message) => lines.push({ level: "warn", message, fields }),
    debug: (fields, message) => lines.push({ level: "debug", message, fields }),
  };
}

function startDispatcher(
  options: Pick<NotificationDispatcherOptions, "store" | "clients"> &
    Partial<NotificationDispatcherOptions>,
): NotificationDispatcher {
  const dispatcher = startNotificationDispatcher({
    logger: capturingLogger(),
    // Tests wake it; the poll is the fallback that retries rely on.
    pollIntervalMs: 20,
    // A wake claims at once (the gathering window has tests of its own).
    gatherMs: 0,
    initialBackoffMs: 20,
    maxBackoffMs: 100,
    ...options,
  });
  cleanups.push(() => dispatcher.stop());
  return dispatcher;
}

/** Polls `check` (every 10 ms) until it returns something other than undefined or false. */
async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function makeOrder(orderId: string, customerId: string, version = 1): Order {
  const time = new Date().toISOString();
  return {
    orderId,
    customerId,
    currencyCode: "EUR",
    items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1250 }],
    shippingAddress: {
      name: "Ada",
      line1: "1 Main St",
      line2: "",
      city: "Springfield",
      region: "",
      postalCode: "",
      countryCode: "US",
    },
    status: "PROCESSING",
    unavailableItems: [],
    fulfillments: [],
    amounts: { subtotalMinor: 1250, taxMinor: 0, shippingMinor: 0, totalMinor: 1250 },
    cancellation: null,
    statusReason: "",
    version,
    createTime: time,
    updateTime: time,
  };
}

function notification(
  order: Order,
  kind: string,
  subject = "",
  data: Record<string, string> = {},
): OutboxMessage {
  return {
    messageId: notificationKey(order.orderId, kind, subject),
    orderId: order.orderId,
    customerId: order.customerId,
    kind,
    subject,
    data,
    createTime: order.updateTime,
  };
}

/**
 * A notification service of the test's own on a real socket (methods it
 * leaves out answer UNIMPLEMENTED), and a client of it.
 */
async function notificationFront(
  implementation: Partial<ServiceImpl<typeof NotificationService>>,
): Promise<Client<typeof NotificationService>> {
  const server = await startConnectServer({
    host: "127.0.0.1",
    port: 0,
    adapter: { routes: (router) => router.service(NotificationService, implementation) },
    logger: pino({ level: "silent" }),
  });
  cleanups.push(() => server.close(0));
  return createClient(NotificationService, createGrpcTransport({ baseUrl: server.url }));
}

/**
 * Delivers what is in the outbox already: a dispatcher started now takes it
 * all in its first claim (and never polls again); stopped once the outbox is
 * drained, with `deadLetters` dead letters.
 */
async function dispatchSaved(
  options: Pick<NotificationDispatcherOptions, "clients" | "logger"> & { store: OrderStore },
  deadLetters: number,
): Promise<void> {
  const { store } = options;
  const dispatcher = startDispatcher({ ...options, pollIntervalMs: 60_000 });
  await waitFor("the dead letters", async () => (await store.countDeadLetters()) === deadLetters);
  await waitFor("the outbox to drain", () => outboxDrained(store));
  await dispatcher.stop();
}

/** A store of its own whose claims are counted. */
async function claimCountingStore(): Promise<{
  inner: OrderStore;
  store: OrderStore;
  claims: { count: number };
}> {
  const inner = await sqliteDatabase().open();
  const claims = { count: 0 };
  const store: OrderStore = {
    ...inner,
    claimOutbox(options) {
      claims.count++;
      return inner.claimOutbox(options);
    },
  };
  return { inner, store, claims };
}

/** What the reference service recorded for an order. */
const sentFor = (orderId: string) => harness.services.notifications.list({ orderId });

/** Nothing left to deliver: no message due, claimed or waiting for a retry. */
async function outboxDrained(store: OrderStore): Promise<boolean> {
  return (await store.countPendingOutbox()) === 0;
}

describe("notification dispatcher", () => {
  it("delivers what saveOrder wrote, once, as soon as it is woken", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    // No poll to speak of: only the wake from saveOrder can deliver in time.
    const dispatcher = startDispatcher({ store, clients, pollIntervalMs: 60_000 });
    const { saveOrder } = createReadModelActivities(store, () => dispatcher.wake());

    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    const accepted = notification(order, "ORDER_ACCEPTED");
    const dispatched = notification(order, "SHIPMENT_DISPATCHED", "f-1", {
      shipment_id: "shp_1",
      courier_reference: "c-1",
    });
    await saveOrder({ order, entries: [], notifications: [accepted, dispatched] });

    const sent = await waitFor("both notifications", () => {
      const list = sentFor(order.orderId);
      return list.length === 2 && list;
    });
    expect(
      sent.map(({ idempotencyKey, customerId, orderId, template, data }) => ({
        idempotencyKey,
        customerId,
        orderId,
        template,
        data,
      })),
    ).toEqual(
      expect.arrayContaining([
        {
          idempotencyKey: `${order.orderId}:notify:ORDER_ACCEPTED:`,
          customerId: order.customerId,
          orderId: order.orderId,
          template: "ORDER_ACCEPTED",
          data: {},
        },
        {
          idempotencyKey: `${order.orderId}:notify:SHIPMENT_DISPATCHED:f-1`,
          customerId: order.customerId,
          orderId: order.orderId,
          template: "SHIPMENT_DISPATCHED",
          data: { shipment_id: "shp_1", courier_reference: "c-1" },
        },
      ]),
    );
    await waitFor("the outbox to drain", () => outboxDrained(store));
    expect(sends.total()).toBe(2);

    // A save repeated after delivery (a retried local activity) writes the
    // message again; it is sent again, and the idempotency key keeps the
    // customer from getting it twice.
    await saveOrder({ order, entries: [], notifications: [accepted] });
    await waitFor("the repeated send", () => sends.succeeded.get(accepted.messageId) === 2);
    await waitFor("the outbox to drain", () => outboxDrained(store));
    await dispatcher.stop();
    expect(sentFor(order.orderId)).toHaveLength(2);
    expect(await store.countDeadLetters()).toBe(0);
  });

  it("sends ORDER_ACCEPTED once when the workflow's first write carries it again after delivery", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    const dispatcher = startDispatcher({ store, clients, pollIntervalMs: 60_000 });
    const { saveOrder } = createReadModelActivities(store, () => dispatcher.wake());

    // The API's write of version 1 (acceptOrder) queued ORDER_ACCEPTED; delivered and deleted.
    const v1 = makeOrder(uniqueId("order"), uniqueId("customer"));
    // As the API and the workflow both make it: announced by version 1.
    const accepted = acceptedNotification(v1);
    await store.saveOrder(v1, [], [accepted]);
    dispatcher.wake();
    await waitFor("ORDER_ACCEPTED", () => sentFor(v1.orderId).length === 1);
    await waitFor("the outbox to drain", () => outboxDrained(store));
    // The workflow's first write (version 2) carries the accepted notification again.
    const v2 = { ...v1, version: 2, status: "COMPLETED" as const };
    const completed = notification(v2, "ORDER_COMPLETED");
    await saveOrder({ order: v2, entries: [], notifications: [accepted, completed] });
    await waitFor("ORDER_COMPLETED", () => sends.succeeded.get(completed.messageId) === 1);
    await waitFor("the outbox to drain", () => outboxDrained(store));

    // The API's write never landed: the workflow's first write queues it.
    const lost = makeOrder(uniqueId("order"), v1.customerId, 2);
    const lostAccepted = acceptedNotification(lost);
    await saveOrder({ order: lost, entries: [], notifications: [lostAccepted] });
    await waitFor("the lost order's ORDER_ACCEPTED", () => sentFor(lost.orderId).length === 1);
    await waitFor("the outbox to drain", () => outboxDrained(store));
    await dispatcher.stop();
    expect(Object.fromEntries(sends.calls)).toEqual({
      [accepted.messageId]: 1,
      [completed.messageId]: 1,
      [lostAccepted.messageId]: 1,
    });
    expect(sentFor(v1.orderId).map((n) => n.template)).toEqual(
      expect.arrayContaining(["ORDER_ACCEPTED", "ORDER_COMPLETED"]),
    );
  });

  it("gathers what is written within the window after a wake into one claim and one call", async () => {
    const { store, claims } = await claimCountingStore();
    const { clients, sends } = countingClients();
    const gatherMs = 300;
    const dispatcher = startDispatcher({ store, clients, pollIntervalMs: 60_000, gatherMs });
    await waitFor("the start claim", () => claims.count === 1);
    // Three writes, each waking the dispatcher: the first wake opens the window.
    const orders = [1, 2, 3].map(() => makeOrder(uniqueId("order"), uniqueId("customer")));
    const messages = orders.map((order) => notification(order, "ORDER_ACCEPTED"));
    const firstWake = Date.now();
    dispatcher.wake();
    for (const [i, order] of orders.entries()) {
      await store.saveOrder(order, [], [messages[i] as OutboxMessage]);
      dispatcher.wake();
    }
    await waitFor("the three notifications", () =>
      orders.every((order) => sentFor(order.orderId).length === 1),
    );
    const sentAfter = Date.now() - firstWake;
    await dispatcher.stop();
    // Not before the window was up; one claim and one SendBatch call for all three.
    expect(sentAfter).toBeGreaterThanOrEqual(gatherMs);
    expect(claims.count).toBe(2);
    expect(sends.batches.map((keys) => [...keys].sort())).toEqual([
      messages.map((m) => m.messageId).sort(),
    ]);
  });

  it("stops at once during a gathering window, claiming nothing", async () => {
    const { inner, store, claims } = await claimCountingStore();
    const { clients, sends } = countingClients();
    const dispatcher = startDispatcher({
      store,
      clients,
      pollIntervalMs: 60_000,
      gatherMs: 60_000,
    });
    await waitFor("the start claim", () => claims.count === 1);
    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    await store.saveOrder(order, [], [notification(order, "ORDER_ACCEPTED")]);
    dispatcher.wake();
    await dispatcher.stop();
    // Left for the next dispatcher: nothing claimed, nothing sent.
    expect(claims.count).toBe(1);
    expect(sends.total()).toBe(0);
    expect(await inner.countPendingOutbox()).toBe(1);
  });

  it("claims when woken or while claims come back full, and deletes sent messages together", async () => {
    const inner = await sqliteDatabase().open();
    let claims = 0;
    const completes: string[][] = [];
    const store: OrderStore = {
      ...inner,
      claimOutbox(options) {
        claims++;
        return inner.claimOutbox(options);
      },
      completeOutbox(ids) {
        completes.push([...ids]);
        return inner.completeOutbox(ids);
      },
    };
    const { clients, sends } = countingClients();
    // No poll to speak of: a wake and full claims are all that can deliver in time.
    const few = startDispatcher({ store, clients, pollIntervalMs: 60_000, concurrency: 2 });
    const { saveOrder } = createReadModelActivities(store, () => few.wake());
    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    const messages = ["a", "b", "c", "d", "e"].map((f) =>
      notification(order, "SHIPMENT_DISPATCHED", f, { shipment_id: `shp_${f}` }),
    );
    await saveOrder({ order, entries: [], notifications: messages });
    // Two at a time: each freed slot after a full claim claims again.
    await waitFor("all five notifications", () => sentFor(order.orderId).length === 5);
    await waitFor("the outbox to drain", () => outboxDrained(inner));
    await few.stop();
    expect(sends.total()).toBe(5);

    // Room for all: one claim takes them, their finished sends claim no more,
    // and one delete removes them all (here at stop, before the delay is up).
    claims = 0;
    completes.length = 0;
    const many = startDispatcher({
      store,
      clients,
      pollIntervalMs: 60_000,
      concurrency: 32,
      completeDelayMs: 60_000,
    });
    await waitFor("the start claim", () => claims === 1);
    const next = makeOrder(uniqueId("order"), order.customerId);
    await saveOrder({
      order: next,
      entries: [],
      notifications: messages.map((m) => ({
        ...m,
        orderId: next.orderId,
        messageId: notificationKey(next.orderId, m.kind, m.subject),
      })),
    });
    many.wake();
    await waitFor("all five notifications", () => sentFor(next.orderId).length === 5);
    await many.stop();
    expect(await outboxDrained(inner)).toBe(true);
    expect(claims).toBe(2);
    expect(completes).toHaveLength(1);
    expect(completes[0]).toHaveLength(5);
  });

  it("keeps retrying through an outage and delivers once the service is back", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    const logger = capturingLogger();
    const dispatcher = startDispatcher({ store, clients, logger, maxAttempts: 1_000 });
    harness.services.faults.set("notifications", { outage: true });

    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    const completed = notification(order, "ORDER_COMPLETED");
    await store.saveOrder(order, [], [completed]);
    dispatcher.wake();

    await waitFor("a few failed attempts", () => (sends.calls.get(completed.messageId) ?? 0) >= 3);
    expect(sentFor(order.orderId)).toEqual([]);
    expect(logger.lines.filter((line) => line.level === "warn")).toEqual([]);

    harness.services.faults.clear("notifications");
    await waitFor("the delivery", () => sends.succeeded.get(completed.messageId) === 1);
    await waitFor("the outbox to drain", () => outboxDrained(store));
    await dispatcher.stop();
    expect(sentFor(order.orderId).map((n) => n.idempotencyKey)).toEqual([completed.messageId]);
    expect(await store.countDeadLetters()).toBe(0);
  });

  it("does not notify twice when the service did the work but the response was lost", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    const dispatcher = startDispatcher({ store, clients, maxAttempts: 1_000 });
    harness.services.faults.set("notifications", { loseResponseRate: 1 });

    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    const delivered = notification(order, "SHIPMENT_DELIVERED", "f-1");
    await store.saveOrder(order, [], [delivered]);
    dispatcher.wake();

    // Sent (the service has it), the reply lost, and sent again: still one notification.
    await waitFor("a send after a lost response", () => {
      return (
        sentFor(order.orderId).length === 1 && (sends.calls.get(delivered.messageId) ?? 0) >= 2
      );
    });
    harness.services.faults.clear("notifications");
    await waitFor("an acknowledged send", () => sends.succeeded.get(delivered.messageId) === 1);
    await waitFor("the outbox to drain", () => outboxDrained(store));
    await dispatcher.stop();
    expect(sentFor(order.orderId).map((n) => n.idempotencyKey)).toEqual([delivered.messageId]);
  });

  it("gives up after maxAttempts: logs a warning and keeps a dead letter", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    const logger = capturingLogger();
    const dispatcher = startDispatcher({ store, clients, logger, maxAttempts: 3 });
    harness.services.faults.set("notifications", { outage: true });

    const order = makeOrder(uniqueId("order"), uniqueId("customer"));
    const failed = notification(order, "ORDER_FAILED");
    await store.saveOrder(order, [], [failed]);
    dispatcher.wake();

    await waitFor("the dead letter", async () => (await store.countDeadLetters()) === 1);
    const [dead] = await store.listDeadLetters();
    expect(dead).toMatchObject({ ...failed, attempts: 3 });
    expect(dead?.lastError).toMatch(/unavailable/i);
    expect(sends.calls.get(failed.messageId)).toBe(3);
    expect(logger.lines.filter((line) => line.level === "warn")).toEqual([
      {
        level: "warn",
        message: expect.stringMatching(/giving up/),
        fields: expect.objectContaining({
          orderId: order.orderId,
          kind: "ORDER_FAILED",
          messageId: failed.messageId,
          attempts: 3,
        }),
      },
    ]);

    // Never attempted again, also once the service is back.
    harness.services.faults.clear("notifications");
    const other = makeOrder(uniqueId("order"), order.customerId);
    await store.saveOrder(other, [], [notification(other, "ORDER_ACCEPTED")]);
    dispatcher.wake();
    await waitFor("the next message", () => sentFor(other.orderId).length === 1);
    await dispatcher.stop();
    expect(sends.calls.get(failed.messageId)).toBe(3);
    expect(sentFor(order.orderId)).toEqual([]);
  });

  it("gives up at once on what no retry can fix", async () => {
    const store = await sqliteDatabase().open();
    const { clients, sends } = countingClients();
    const logger = capturingLogger();
    const dispatcher = startDispatcher({ store, clients, logger });

    const order = makeOrder(uniqueId("order"), "");
    // Rejected by the service (INVALID_ARGUMENT: no customer) and not sendable at all (no such template).
    const noCustomer = notification(order, "ORDER_ACCEPTED");
    const unknownKind = notification(order, "ORDER_TELEPORTED");
    await store.saveOrder(order, [], [noCustomer, unknownKind]);
    dispatcher.wake();

    await waitFor("two dead letters", async () => (await store.countDeadLetters()) === 2);
    await dispatcher.stop();
    const dead = await store.listDeadLetters();
    expect(dead.map((m) => [m.messageId, m.attempts]).sort()).toEqual(
      [
        [noCustomer.messageId, 1],
        [unknownKind.messageId, 1],
      ].sort(),
    );
    expect(dead.find((m) => m.kind === "ORDER_TELEPORTED")?.lastError).toMatch(/template/);
    expect(dead.find((m) => m.kind === "ORDER_ACCEPTED")?.lastError).toMatch(/invalid_argument/i);
    expect(sends.calls.get(noCustomer.messageId)).toBe(1);
    expect(sends.calls.has(unknownKind.messageId)).toBe(false);
    expect(logger.lines.filter((line) => line.level === "warn")).toHaveLength(2);
  });

  describe.each([
    { name: "sqlite", postgres: false },
    { name: "postgres", postgres: true },
  ])("two dispatchers on one $name read model", ({ postgres }) => {
    let server: TestPostgres | undefined;
    beforeAll(async () => {
      if (postgres) server = await startTestPostgres();
    }, 60_000);
    afterAll(() => server?.stop());

    it("deliver every message once between them", async () => {
      let database: { open(): Promise<OrderStore> };
      if (server === undefined) {
        database = sqliteDatabase();
      } else {
        const url = await server.createDatabase();
        database = {
          async open() {
            const store = await createStore({
              databaseUrl: url,
              dataDir: dir,
              pageTokenSecret: SECRET,
            });
            cleanups.push(() => store.close());
            return store;
          },
        };
      }
      // Two worker processes: a store and a dispatcher each, on one database.
      const [first, second] = [await database.open(), await database.open()];
      // Some latency keeps sends in flight while the other dispatcher claims.
      harness.services.faults.set("notifications", { addedLatencyMs: 5 });
      const workers = [first, second].map((store) => {
        const { clients, sends } = countingClients();
        return { sends, dispatcher: startDispatcher({ store, clients, concurrency: 3 }) };
      });
      const dispatchers = workers.map((worker) => worker.dispatcher);

      const customerId = uniqueId("customer");
      const expected: string[] = [];
      for (let i = 0; i < 30; i++) {
        const order = makeOrder(uniqueId("order"), customerId);
        const messages = [
          notification(order, "ORDER_ACCEPTED"),
          notification(order, "ORDER_COMPLETED"),
        ];
        expected.push(...messages.map((m) => m.messageId));
        await (i % 2 === 0 ? first : second).saveOrder(order, [], messages);
        for (const dispatcher of dispatchers) dispatcher.wake();
      }

      await waitFor(
        "every notification",
        () => harness.services.notifications.list({ customerId }).length === expected.length,
      );
      await waitFor("the outbox to drain", () => outboxDrained(first));
      await Promise.all(dispatchers.map((dispatcher) => dispatcher.stop()));
      // Each message was sent by exactly one dispatcher, exactly once; both took part.
      const sent = workers.flatMap(({ sends }) => [...sends.calls.entries()]);
      expect(sent.map(([key]) => key).sort()).toEqual([...expected].sort());
      expect(sent.every(([, calls]) => calls === 1)).toBe(true);
      for (const { sends } of workers) expect(sends.total()).toBeGreaterThan(0);
      expect(await first.countDeadLetters()).toBe(0);
    });
  });

  describe("batches", () => {
    it("sends a claim in one SendBatch call: a permanently bad item fails alone, the others are delivered", async () => {
      const store = await sqliteDatabase().open();
      const good = makeOrder(uniqueId("order"), uniqueId("customer"));
      const messages = [
        notification(good, "ORDER_ACCEPTED"),
        notification(good, "SHIPMENT_DISPATCHED", "f-1", { shipment_id: "shp_1" }),
        notification(good, "ORDER_COMPLETED"),
      ];
      // Rejected by the service (INVALID_ARGUMENT: no customer).
      const bad = makeOrder(uniqueId("order"), "");
      const invalid = notification(bad, "ORDER_ACCEPTED");
      // Its key was used before for other content: ALREADY_EXISTS, which counts as delivered.
      const rewritten = notification(good, "SHIPMENT_DELIVERED", "f-1");
      await harness.notifications.send({
        idempotencyKey: rewritten.messageId,
        customerId: good.customerId,
        orderId: good.orderId,
        template: NotificationTemplate.SHIPMENT_DELIVERED,
        data: { earlier: "content" },
      });
      await store.saveOrder(good, [], [...messages, rewritten]);
      await store.saveOrder(bad, [], [invalid]);

      const { clients, sends } = countingClients();
      const logger = capturingLogger();
      await dispatchSaved({ store, clients, logger }, 1);

      expect(sends.batches).toHaveLength(1);
      expect([...(sends.batches[0] ?? [])].sort()).toEqual(
        [...messages, rewritten, invalid].map((m) => m.messageId).sort(),
      );
      expect(sends.singles).toBe(0);
      expect(
        sentFor(good.orderId)
          .map((n) => n.idempotencyKey)
          .sort(),
      ).toEqual([...messages, rewritten].map((m) => m.messageId).sort());
      expect(
        sentFor(good.orderId).find((n) => n.idempotencyKey === rewritten.messageId)?.data,
      ).toEqual({ earlier: "content" });
      const [dead] = await store.listDeadLetters();
      expect(dead).toMatchObject({ messageId: invalid.messageId, attempts: 1 });
      expect(dead?.lastError).toMatch(/invalid_argument.*customer_id/i);
      expect(
        logger.lines.filter((line) => line.level === "warn").map((line) => line.fields.messageId),
      ).toEqual(expect.arrayContaining([invalid.messageId, rewritten.messageId]));
      expect(logger.lines.filter((line) => line.level === "warn")).toHaveLength(2);
    });

    it("splits a claim into calls of at most batchSize messages", async () => {
      const store = await sqliteDatabase().open();
      const order = makeOrder(uniqueId("order"), uniqueId("customer"));
      const messages = ["a", "b", "c", "d", "e"].map((f) =>
        notification(order, "SHIPMENT_DISPATCHED", f, { shipment_id: `shp_${f}` }),
      );
      await store.saveOrder(order, [], messages);
      const { clients, sends } = countingClients();
      const dispatcher = startDispatcher({ store, clients, pollIntervalMs: 60_000, batchSize: 2 });
      await waitFor("all five notifications", () => sentFor(order.orderId).length === 5);
      await waitFor("the outbox to drain", () => outboxDrained(store));
      await dispatcher.stop();
      expect(sends.batches.map((keys) => keys.length).sort()).toEqual([1, 2, 2]);
      expect(sends.total()).toBe(5);
      expect(() =>
        startNotificationDispatcher({ store, clients, logger: capturingLogger(), batchSize: 101 }),
      ).toThrow(RangeError);
    });

    it("retries every message of a batch call that failed with a transient fault, then delivers each once", async () => {
      const store = await sqliteDatabase().open();
      const { clients, sends } = countingClients();
      const logger = capturingLogger();
      harness.services.faults.set("notifications", { errorRate: 1 });
      const order = makeOrder(uniqueId("order"), uniqueId("customer"));
      const messages = ["f-1", "f-2", "f-3"].map((f) =>
        notification(order, "SHIPMENT_DELIVERED", f, { shipment_id: `shp_${f}` }),
      );
      await store.saveOrder(order, [], messages);
      const dispatcher = startDispatcher({ store, clients, logger, maxAttempts: 1_000 });

      await waitFor("two failed attempts of each", () =>
        messages.every((m) => (sends.calls.get(m.messageId) ?? 0) >= 2),
      );
      expect(sentFor(order.orderId)).toEqual([]);
      expect(sends.succeeded.size).toBe(0);
      // Attempts came as batches: the first carried all three.
      expect([...(sends.batches[0] ?? [])].sort()).toEqual(messages.map((m) => m.messageId).sort());
      expect(sends.singles).toBe(0);

      harness.services.faults.clear("notifications");
      await waitFor("every delivery", () =>
        messages.every((m) => sends.succeeded.get(m.messageId) === 1),
      );
      await waitFor("the outbox to drain", () => outboxDrained(store));
      await dispatcher.stop();
      expect(
        sentFor(order.orderId)
          .map((n) => n.idempotencyKey)
          .sort(),
      ).toEqual(messages.map((m) => m.messageId).sort());
      expect(await store.countDeadLetters()).toBe(0);
      expect(logger.lines.filter((line) => line.level === "warn")).toEqual([]);
    });

    it("sends the messages of a batch the service refuses as a whole one by one, each to its own verdict", async () => {
      // A service that takes at most 2 items per SendBatch (in front of the reference service).
      const { clients, sends } = countingClients(
        await notificationFront({
          send: (request, context) =>
            harness.notifications.send(request, { signal: context.signal }),
          sendBatch: (request, context) => {
            if (request.requests.length > 2) {
              throw new ConnectError("at most 2 notifications per call", Code.InvalidArgument);
            }
            return harness.notifications.sendBatch(request, { signal: context.signal });
          },
        }),
      );
      const store = await sqliteDatabase().open();
      const good = makeOrder(uniqueId("order"), uniqueId("customer"));
      const bad = makeOrder(uniqueId("order"), "");
      const messages = [
        notification(good, "ORDER_ACCEPTED"),
        notification(good, "ORDER_COMPLETED"),
      ];
      const invalid = notification(bad, "ORDER_ACCEPTED");
      await store.saveOrder(good, [], messages);
      await store.saveOrder(bad, [], [invalid]);
      const logger = capturingLogger();
      await dispatchSaved({ store, clients, logger }, 1);

      expect(sends.batches).toHaveLength(1);
      expect(sends.batches[0]).toHaveLength(3);
      expect(sends.singles).toBe(3);
      expect(
        sentFor(good.orderId)
          .map((n) => n.idempotencyKey)
          .sort(),
      ).toEqual(messages.map((m) => m.messageId).sort());
      const [dead] = await store.listDeadLetters();
      expect(dead).toMatchObject({ messageId: invalid.messageId, attempts: 1 });
      expect(dead?.lastError).toMatch(/customer_id/);
      expect(logger.lines.filter((line) => line.level === "warn").map((l) => l.message)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/refused as a whole/),
          expect.stringMatching(/giving up/),
        ]),
      );
    });

    it("falls back to one Send per message, logged once, against a service without SendBatch", async () => {
      // A notification service that implements only Send (in front of the reference service).
      const { clients, sends } = countingClients(
        await notificationFront({
          send: (request, context) =>
            harness.notifications.send(request, { signal: context.signal }),
        }),
      );
      const store = await sqliteDatabase().open();
      const logger = capturingLogger();
      const dispatcher = startDispatcher({ store, clients, logger, pollIntervalMs: 60_000 });

      const first = makeOrder(uniqueId("order"), uniqueId("customer"));
      const firstMessages = [
        notification(first, "ORDER_ACCEPTED"),
        notification(first, "ORDER_COMPLETED"),
      ];
      await store.saveOrder(first, [], firstMessages);
      dispatcher.wake();
      await waitFor("the first order's notifications", () => sentFor(first.orderId).length === 2);
      await waitFor("the outbox to drain", () => outboxDrained(store));
      // SendBatch tried once (UNIMPLEMENTED), then each message with Send.
      expect(sends.batches).toHaveLength(1);
      expect(sends.singles).toBe(2);

      // Remembered: the next messages go straight to Send.
      const second = makeOrder(uniqueId("order"), first.customerId);
      const secondMessages = [
        notification(second, "ORDER_ACCEPTED"),
        notification(second, "ORDER_CANCELLED"),
      ];
      await store.saveOrder(second, [], secondMessages);
      dispatcher.wake();
      await waitFor("the second order's notifications", () => sentFor(second.orderId).length === 2);
      await waitFor("the outbox to drain", () => outboxDrained(store));
      await dispatcher.stop();
      expect(sends.batches).toHaveLength(1);
      expect(sends.singles).toBe(4);
      for (const m of [...firstMessages, ...secondMessages]) {
        expect(sends.succeeded.get(m.messageId)).toBe(1);
      }
      const warnings = logger.lines.filter((line) => line.level === "warn");
      expect(warnings).toEqual([
        {
          level: "warn",
          message: expect.stringMatching(/no SendBatch/),
          fields: { error: expect.stringMatching(/unimplemented/i) },
        },
      ]);
      expect(await store.countDeadLetters()).toBe(0);
    });
  });
});
