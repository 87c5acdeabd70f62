/**
 * The order event log of the read model (migration 0005), on both back-ends:
 * one event per new version, written with it; gapless per-order sequences;
 * positions that a reader can resume from without missing anything while
 * several stores write at once; the publishers' leases.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Order, OrderStatus, TimelineEntry } from "../../src/domain/order.js";
import type { OrderChangeEvent } from "../../src/domain/order-events.js";
import { createStore } from "../../src/readmodel/create-store.js";
import type { OrderStore } from "../../src/readmodel/store.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

const SECRET = "test-page-token-secret";
const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function version(orderId: string, v: number, status: OrderStatus = "PENDING"): Order {
  return {
    orderId,
    customerId: "c-1",
    currencyCode: "USD",
    items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 100 }],
    shippingAddress: {
      name: "Ada",
      line1: "1 Main St",
      line2: "",
      city: "Springfield",
      region: "",
      postalCode: "",
      countryCode: "US",
    },
    status,
    unavailableItems: [],
    fulfillments: [],
    amounts: { subtotalMinor: 100, taxMinor: 0, shippingMinor: 0, totalMinor: 100 },
    cancellation: null,
    statusReason: "",
    version: v,
    createTime: at(0),
    updateTime: at(v),
  };
}

function entry(
  order: Order,
  sequence: number,
  fromStatus: OrderStatus | null,
  reason: string,
): TimelineEntry {
  return {
    orderId: order.orderId,
    sequence,
    time: order.updateTime,
    actor: "system",
    fromStatus,
    toStatus: order.status,
    reason,
    version: order.version,
  };
}

async function allEvents(store: OrderStore, orderId?: string): Promise<OrderChangeEvent[]> {
  const events: OrderChangeEvent[] = [];
  for (;;) {
    const page = await store.listOrderEvents({
      afterPosition: events.at(-1)?.position ?? 0,
      limit: 100,
      orderId,
    });
    if (page.length === 0) return events;
    events.push(...page);
  }
}

interface Backend {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A fresh database; open it as many times as wanted. */
  fresh(): Promise<() => Promise<OrderStore>>;
}

const sqlite = (): Backend => {
  let dir = "";
  let n = 0;
  return {
    name: "sqlite",
    async setup() {
      dir = mkdtempSync(join(tmpdir(), "oms-events-"));
    },
    async teardown() {
      rmSync(dir, { recursive: true, force: true });
    },
    async fresh() {
      n += 1;
      const url = `sqlite:${join(dir, `db-${n}`, "readmodel.sqlite")}`;
      return () => createStore({ databaseUrl: url, dataDir: dir, pageTokenSecret: SECRET });
    },
  };
};

const postgres = (): Backend => {
  let server: TestPostgres | undefined;
  return {
    name: "postgres",
    async setup() {
      server = await startTestPostgres();
    },
    async teardown() {
      await server?.stop();
    },
    async fresh() {
      if (server === undefined) throw new Error("PostgreSQL did not start");
      const url = await server.createDatabase();
      return () =>
        createStore({ databaseUrl: url, dataDir: "/nonexistent", pageTokenSecret: SECRET });
    },
  };
};

describe.each([sqlite(), postgres()])("order events on $name", (backend) => {
  const opened: OrderStore[] = [];
  async function open(fresh?: () => Promise<OrderStore>): Promise<OrderStore> {
    const store = await (fresh ?? (await backend.fresh()))();
    opened.push(store);
    return store;
  }
  beforeAll(() => backend.setup());
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  afterAll(() => backend.teardown());

  it("turns every new version into the order's next event, in the same save", async () => {
    const store = await open();
    const v1 = version("o-1", 1);
    const v2 = version("o-1", 2, "PROCESSING");
    const v3 = version("o-1", 3, "PROCESSING");
    await store.saveOrder(v1, [entry(v1, 1, null, "accepted")]);
    // A first write of the workflow carries the accepted entry again.
    await store.saveOrder(v2, [
      entry(v1, 1, null, "accepted"),
      entry(v2, 2, "PENDING", "2 fulfillment(s)"),
    ]);
    await store.saveOrder(v3, []);

    const events = await allEvents(store);
    expect(events.map((e) => [e.orderId, e.sequence, e.type, e.order.version])).toEqual([
      ["o-1", 1, "CREATED", 1],
      ["o-1", 2, "STATUS_CHANGED", 2],
      ["o-1", 3, "UPDATED", 3],
    ]);
    expect(events.map((e) => e.previousStatus)).toEqual([null, "PENDING", "PROCESSING"]);
    expect(events.map((e) => e.reasons)).toEqual([["accepted"], ["2 fulfillment(s)"], []]);
    expect(events[1]?.time).toBe(v2.updateTime);
    expect(events[2]?.order).toEqual(v3);
    const positions = events.map((e) => e.position);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(new Set(positions).size).toBe(3);
  });

  it("adds nothing for a repeated or a late version, and starts at 1 whatever the first version", async () => {
    const store = await open();
    // The API's write of version 1 never happened; the workflow's version 2 comes first.
    await store.saveOrder(version("o-2", 2, "PROCESSING"), []);
    await store.saveOrder(version("o-2", 2, "PROCESSING"), []);
    await store.saveOrder(version("o-2", 1), []);
    await store.saveOrder(version("o-2", 3, "COMPLETED"), []);
    await store.saveOrder(version("o-3", 1), []);

    expect(
      (await allEvents(store, "o-2")).map((e) => [e.sequence, e.type, e.order.version]),
    ).toEqual([
      [1, "CREATED", 2],
      [2, "UPDATED", 3],
    ]);
    expect((await allEvents(store)).map((e) => e.orderId)).toEqual(["o-2", "o-2", "o-3"]);
  });

  it("lets a reader resume from its last position without missing an event while stores write at once", async () => {
    const fresh = await backend.fresh();
    const writers = await Promise.all([open(fresh), open(fresh), open(fresh)]);
    const reader = await open(fresh);
    const orders = 12;
    const versions = 6;
    let writing = true;
    const seen: OrderChangeEvent[] = [];
    const reading = (async () => {
      for (;;) {
        const done = !writing;
        const page = await reader.listOrderEvents({
          afterPosition: seen.at(-1)?.position ?? 0,
          limit: 7,
        });
        seen.push(...page);
        if (done && page.length === 0) return;
      }
    })();
    await Promise.all(
      Array.from({ length: orders }, async (_, i) => {
        const writer = writers[i % writers.length] as OrderStore;
        for (let v = 1; v <= versions; v += 1) {
          await writer.saveOrder(version(`c-${i}`, v, v === 1 ? "PENDING" : "PROCESSING"), []);
        }
      }),
    );
    writing = false;
    await reading;

    // Everything written was seen by the resuming reader, once, in position order.
    expect(seen).toEqual(await allEvents(reader));
    expect(seen).toHaveLength(orders * versions);
    for (let i = 0; i < orders; i += 1) {
      const mine = seen.filter((e) => e.orderId === `c-${i}`);
      expect(mine.map((e) => e.sequence)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(mine.map((e) => e.order.version)).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it("leases a publisher to one owner at a time and fences a lapsed owner", async () => {
    const store = await open();
    const now = new Date(T0);
    const later = (ms: number) => new Date(T0 + ms);
    expect(await store.acquireEventPublisher("nats", "a", 1_000, now)).toBe(0);
    expect(await store.acquireEventPublisher("nats", "b", 1_000, later(500))).toBeNull();
    expect(await store.advanceEventPublisher("nats", "a", 7, 1_000, later(600))).toBe(true);
    // a's lease now ends at 1 600 ms; b takes over after it.
    expect(await store.acquireEventPublisher("nats", "b", 1_000, later(1_500))).toBeNull();
    expect(await store.acquireEventPublisher("nats", "b", 1_000, later(1_700))).toBe(7);
    expect(await store.advanceEventPublisher("nats", "a", 9, 1_000, later(1_800))).toBe(false);
    expect(await store.acquireEventPublisher("nats", "b", 1_000, later(1_900))).toBe(7);
    expect(await store.acquireEventPublisher("other", "a", 1_000, later(1_900))).toBe(0);
  });
});
