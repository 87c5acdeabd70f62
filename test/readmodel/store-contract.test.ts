/**
 * The read-model contract: one suite, run against every back-end. A behaviour
 * that only one back-end has is a bug in the other.
 */

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Hold, HoldType } from "../../src/domain/holds.js";
import type { Fulfillment, Order, OrderStatus, TimelineEntry } from "../../src/domain/order.js";
import type { OrderSla, SlaStageClock } from "../../src/domain/sla.js";
import { createStore } from "../../src/readmodel/create-store.js";
import {
  createReadModelMigrations,
  MIGRATION_LOCK_TABLE,
  MIGRATION_TABLE,
} from "../../src/readmodel/migrations/index.js";
import {
  type ClaimedWorkflowStart,
  DEFAULT_PAGE_SIZE,
  InvalidPageSizeError,
  InvalidPageTokenError,
  MAX_PAGE_SIZE,
  type OrderStore,
  type OutboxMessage,
  type SlaFilter,
  type WorkflowStartRequest,
} from "../../src/readmodel/store.js";
import type { ReadModelDatabase } from "../../src/readmodel/tables.js";
import { walkPages } from "../support/pages.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";

const SECRET = "test-page-token-secret";

/** A back-end under test: a fresh database per test, opened by as many store instances as a test wants. */
interface Backend {
  name: "sqlite" | "postgres";
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /**
   * A new empty database; `open` may be called several times for several
   * instances on it, `connect` gives a bare Kysely on it (no migrations) that
   * the caller destroys.
   */
  freshDatabase(): Promise<{
    open(secret?: string): Promise<OrderStore>;
    connect(): Kysely<ReadModelDatabase>;
  }>;
}

function sqliteBackend(): Backend {
  let dir = "";
  let counter = 0;
  return {
    name: "sqlite",
    async setup() {
      dir = mkdtempSync(join(tmpdir(), "oms-readmodel-"));
    },
    async teardown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    async freshDatabase() {
      counter += 1;
      const filename = join(dir, `db-${counter}`, "readmodel.sqlite");
      const url = `sqlite:${filename}`;
      return {
        open: (secret = SECRET) =>
          createStore({ databaseUrl: url, dataDir: dir, pageTokenSecret: secret }),
        connect() {
          mkdirSync(dirname(filename), { recursive: true });
          return new Kysely<ReadModelDatabase>({
            dialect: new SqliteDialect({ database: new Database(filename) }),
          });
        },
      };
    },
  };
}

function postgresBackend(): Backend {
  let server: TestPostgres | undefined;
  return {
    name: "postgres",
    async setup() {
      server = await startTestPostgres();
      console.info(
        `PostgreSQL for the read-model contract ready in ${Math.round(server.startupMs)} ms ` +
          `(${server.owned ? "throwaway server" : "OMS_TEST_DATABASE_URL"})`,
      );
    },
    async teardown() {
      await server?.stop();
    },
    async freshDatabase() {
      if (server === undefined)
        throw new Error("PostgreSQL did not start (see the error of beforeAll)");
      const url = await server.createDatabase();
      return {
        open: (secret = SECRET) =>
          createStore({ databaseUrl: url, dataDir: "/nonexistent", pageTokenSecret: secret }),
        connect: () =>
          new Kysely<ReadModelDatabase>({
            dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
          }),
      };
    },
  };
}

const BASE_TIME = Date.UTC(2025, 0, 1);

/** Fixed-width UTC time `seconds` after the base time. */
function at(seconds: number): string {
  return new Date(BASE_TIME + seconds * 1000).toISOString();
}

function makeOrder(overrides: Partial<Order> & Pick<Order, "orderId">): Order {
  return {
    customerId: "customer-1",
    currencyCode: "EUR",
    items: [{ sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 }],
    shippingAddress: {
      name: "Ada Lovelace",
      line1: "12 St James's Square",
      line2: "",
      city: "London",
      region: "",
      postalCode: "SW1Y 4JH",
      countryCode: "GB",
    },
    status: "PENDING",
    unavailableItems: [],
    fulfillments: [],
    amounts: { subtotalMinor: 2500, taxMinor: 500, shippingMinor: 0, totalMinor: 3000 },
    cancellation: null,
    statusReason: "",
    version: 1,
    createTime: at(0),
    updateTime: at(0),
    ...overrides,
  };
}

/** A booked fulfillment; an empty `shipmentId` means no shipment booked yet. */
function makeFulfillment(fulfillmentId: string, shipmentId: string): Fulfillment {
  return {
    fulfillmentId,
    warehouseId: "wh-berlin",
    status: shipmentId === "" ? "AUTHORIZED" : "BOOKED",
    items: [{ sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 }],
    amounts: { subtotalMinor: 2500, taxMinor: 500, shippingMinor: 0, totalMinor: 3000 },
    payment: {
      status: "AUTHORIZED",
      authorizationId: `auth-${fulfillmentId}`,
      authorizedMinor: 3000,
      capturedMinor: 0,
      refundedMinor: 0,
      declineReason: "",
    },
    shipment: {
      shipmentId,
      status: shipmentId === "" ? "PENDING" : "BOOKED",
      courierReference: "",
      dispatchTime: "",
      deliveryTime: "",
    },
    statusReason: "",
  };
}

function makeEntry(
  orderId: string,
  sequence: number,
  overrides: Partial<TimelineEntry> = {},
): TimelineEntry {
  return {
    orderId,
    sequence,
    time: at(sequence),
    actor: sequence === 1 ? "checkout" : "system",
    fromStatus: sequence === 1 ? null : "PENDING",
    toStatus: sequence === 1 ? "PENDING" : "PROCESSING",
    reason: `step ${sequence}`,
    version: sequence,
    ...overrides,
  };
}

/** The contract's sort order: create time descending, then order id descending (code-unit order). */
function newestFirst(a: Order, b: Order): number {
  if (a.createTime !== b.createTime) return a.createTime < b.createTime ? 1 : -1;
  return a.orderId < b.orderId ? 1 : a.orderId > b.orderId ? -1 : 0;
}

function shuffled<T>(values: readonly T[]): T[] {
  const copy = [...values];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** Saves orders a few at a time, which keeps seeding fast without exhausting pools. */
async function saveAll(store: OrderStore, orders: readonly Order[]): Promise<void> {
  for (let i = 0; i < orders.length; i += 25) {
    await Promise.all(orders.slice(i, i + 25).map((order) => store.saveOrder(order, [])));
  }
}

async function listAll(
  store: OrderStore,
  query: { customerId?: string; statuses?: OrderStatus[]; pageSize: number },
): Promise<Order[]> {
  const pages = await walkPages((pageToken) => store.listOrders({ ...query, pageToken }));
  return pages.flatMap((page) => page.orders);
}

const ids = (orders: readonly Order[]): string[] => orders.map((order) => order.orderId);
const versionsOf = (orders: readonly Order[]): number[] => orders.map((order) => order.version);
/** 1, 2, …, n. */
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe.each([sqliteBackend(), postgresBackend()])("OrderStore contract on $name", (backend) => {
  const opened: OrderStore[] = [];

  /** A store on a fresh database, closed after the test. */
  async function freshStore(): Promise<OrderStore> {
    const database = await backend.freshDatabase();
    const store = await database.open();
    opened.push(store);
    return store;
  }

  beforeAll(() => backend.setup());
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  afterAll(() => backend.teardown());

  it("round-trips an order and its timeline exactly", async () => {
    const store = await freshStore();
    expect(store.kind).toBe(backend.name);
    const order = makeOrder({
      orderId: "order-round-trip",
      status: "PROCESSING",
      version: 3,
      // Not UTC and more precision than a millisecond: the snapshot must keep the string as given.
      createTime: "2025-03-04T05:06:07.891+02:00",
      updateTime: "2025-03-04T05:16:07.891234Z",
      cancellation: {
        reason: "CUSTOMER",
        description: "changed mind — ünïcödé ✓",
        requestedBy: "support-tool",
        requestTime: "2025-03-04T05:16:07.891Z",
      },
      fulfillments: [
        {
          fulfillmentId: "f-1",
          warehouseId: "wh-berlin",
          status: "BOOKED",
          items: [{ sku: "SKU-1", quantity: 2, unitPriceMinor: 1250 }],
          amounts: { subtotalMinor: 2500, taxMinor: 500, shippingMinor: 0, totalMinor: 3000 },
          payment: {
            status: "AUTHORIZED",
            authorizationId: "auth-1",
            authorizedMinor: 3000,
            capturedMinor: 0,
            refundedMinor: 0,
            declineReason: "",
          },
          shipment: {
            shipmentId: "s-1",
            status: "BOOKED",
            courierReference: "c-1",
            dispatchTime: "",
            deliveryTime: "",
          },
          statusReason: "",
        },
      ],
    });
    const entries = [1, 2, 3].map((n) => makeEntry(order.orderId, n));

    await expect(store.saveOrder(order, entries)).resolves.toEqual({ applied: true });

    expect(await store.getOrder(order.orderId)).toEqual(order);
    expect(await store.getHistory(order.orderId)).toEqual(entries);
    expect(await store.getOrderVersion(order.orderId)).toBe(3);
    expect(await store.getOrderIfNewer(order.orderId, 2)).toEqual(order);
    expect(await store.getOrderIfNewer(order.orderId, 3)).toBeNull();
    expect(await store.getOrder("order-unknown")).toBeNull();
    expect(await store.getOrderVersion("order-unknown")).toBeNull();
    expect(await store.getOrderIfNewer("order-unknown", 0)).toBeNull();
    expect(await store.getHistory("order-unknown")).toEqual([]);
  });

  it("never moves an order backwards: older and equal versions are ignored", async () => {
    const store = await freshStore();
    const v3 = makeOrder({ orderId: "order-versions", status: "PROCESSING", version: 3 });

    expect(await store.saveOrder(v3, [])).toEqual({ applied: true });
    // A late write of an older transition.
    expect(await store.saveOrder({ ...v3, status: "PENDING", version: 2 }, [])).toEqual({
      applied: false,
    });
    // A replay of the same version with different content must not win either.
    expect(
      await store.saveOrder({ ...v3, status: "CANCELLED", statusReason: "replayed" }, []),
    ).toEqual({ applied: false });
    expect(await store.getOrder(v3.orderId)).toEqual(v3);

    const v4 = { ...v3, status: "COMPLETED" as const, version: 4, updateTime: at(40) };
    expect(await store.saveOrder(v4, [])).toEqual({ applied: true });
    expect(await store.getOrder(v3.orderId)).toEqual(v4);
    expect(await store.getOrderVersion(v3.orderId)).toBe(4);
  });

  it("lets a later attempt of a workflow task replace the version an abandoned one wrote", async () => {
    const store = await freshStore();
    const orderId = "order-rank";
    const v1 = makeOrder({ orderId, status: "PENDING", version: 1 });
    await store.saveOrder(v1, [makeEntry(orderId, 1)]);
    // The attempt whose worker died: version 2, a note without a status change.
    const abandoned = { ...v1, version: 2, statusReason: "one" };
    const abandonedEntry = makeEntry(orderId, 2, { toStatus: "PENDING", reason: "abandoned" });
    expect(await store.saveOrder(abandoned, [abandonedEntry], [], { writeRank: 10 })).toEqual({
      applied: true,
    });
    // The attempt that completed, with more events by then: version 2 again.
    const kept = { ...v1, status: "COMPLETED" as const, version: 2, statusReason: "both" };
    const keptEntry = makeEntry(orderId, 2, { toStatus: "COMPLETED", reason: "kept" });
    expect(await store.saveOrder(kept, [keptEntry], [], { writeRank: 14 })).toEqual({
      applied: true,
    });
    // The abandoned attempt's write arriving late, or retried, changes nothing.
    expect(await store.saveOrder(abandoned, [abandonedEntry], [], { writeRank: 10 })).toEqual({
      applied: false,
    });
    expect(await store.saveOrder(kept, [keptEntry], [], { writeRank: 14 })).toEqual({
      applied: false,
    });

    expect(await store.getOrder(orderId)).toEqual(kept);
    expect((await store.getHistory(orderId)).map((e) => e.reason)).toEqual(["step 1", "kept"]);
    expect((await store.getOrderVersionsAfter(orderId, 0, 10)).map((o) => o.statusReason)).toEqual([
      v1.statusReason,
      "both",
    ]);
    const events = await store.listOrderEvents({ afterPosition: 0, limit: 10, orderId });
    expect(
      events.map((e) => [e.sequence, e.order.version, e.order.status, e.type, e.reasons]),
    ).toEqual([
      [1, 1, "PENDING", "CREATED", ["step 1"]],
      [2, 2, "COMPLETED", "STATUS_CHANGED", ["kept"]],
    ]);
    expect(events[1]?.previousStatus).toBe("PENDING");
  });

  it("inserts timeline entries idempotently, in any arrival order", async () => {
    const store = await freshStore();
    const orderId = "order-timeline";
    const order = (version: number) => makeOrder({ orderId, version });
    const entry = (n: number) => makeEntry(orderId, n);

    // Entry 3 arrives first, with the newest snapshot.
    expect(await store.saveOrder(order(3), [entry(3)])).toEqual({ applied: true });
    // Then the older transitions, late: snapshot ignored, entries still stored.
    expect(await store.saveOrder(order(1), [entry(1)])).toEqual({ applied: false });
    expect(await store.saveOrder(order(2), [entry(2), entry(1)])).toEqual({ applied: false });
    // A retry carrying everything again, with a changed entry 1: duplicates are ignored, never overwritten.
    expect(
      await store.saveOrder(order(3), [entry(3), { ...entry(1), reason: "rewritten" }, entry(2)]),
    ).toEqual({ applied: false });
    // Duplicates inside one call.
    expect(await store.saveOrder(order(4), [entry(4), entry(4)])).toEqual({ applied: true });

    expect(await store.getHistory(orderId)).toEqual([entry(1), entry(2), entry(3), entry(4)]);
  });

  it("returns history ordered by sequence, not by insertion", async () => {
    const store = await freshStore();
    const orderId = "order-history";
    // Enough entries that insertion order and sequence order differ visibly (and 10 < 9 as text).
    const entries = shuffled(Array.from({ length: 12 }, (_, i) => makeEntry(orderId, i + 1)));
    for (const [i, entry] of entries.entries()) {
      await store.saveOrder(makeOrder({ orderId, version: i + 1 }), [entry]);
    }
    expect((await store.getHistory(orderId)).map((entry) => entry.sequence)).toEqual(
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
  });

  it("ends at the highest version when many versions are saved concurrently", async () => {
    const store = await freshStore();
    const orderId = "order-concurrent";
    const versions = shuffled(Array.from({ length: 40 }, (_, i) => i + 1));
    // Each write carries the whole timeline so far, as a replaying workflow would:
    // every write but the first conflicts on both tables.
    const results = await Promise.all(
      versions.map((version) =>
        store.saveOrder(
          makeOrder({ orderId, version, updateTime: at(version) }),
          Array.from({ length: version }, (_, i) => makeEntry(orderId, i + 1)),
        ),
      ),
    );

    expect(results.some((result) => result.applied)).toBe(true);
    const stored = await store.getOrder(orderId);
    expect(stored?.version).toBe(40);
    expect(stored?.updateTime).toBe(at(40));
    expect((await store.getHistory(orderId)).map((entry) => entry.sequence)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const all = await store.getOrderVersionsAfter(orderId, 0, 100);
    expect(all).toEqual(
      upTo(40).map((version) => makeOrder({ orderId, version, updateTime: at(version) })),
    );
  });

  it("shares one database between store instances, including concurrent writers", async () => {
    const database = await backend.freshDatabase();
    const first = await database.open();
    opened.push(first);
    // The second instance runs migrations against an already migrated database.
    const second = await database.open();
    opened.push(second);

    const order = makeOrder({ orderId: "order-shared", version: 1 });
    await first.saveOrder(order, [makeEntry(order.orderId, 1)]);
    expect(await second.getOrder(order.orderId)).toEqual(order);
    expect(await second.getHistory(order.orderId)).toEqual([makeEntry(order.orderId, 1)]);

    // Two "processes" racing to write versions 2..31 of the same order.
    const versions = shuffled(Array.from({ length: 30 }, (_, i) => i + 2));
    await Promise.all(
      versions.map((version, i) =>
        (i % 2 === 0 ? first : second).saveOrder({ ...order, version }, [
          makeEntry(order.orderId, version),
        ]),
      ),
    );
    expect(await first.getOrderVersion(order.orderId)).toBe(31);
    expect(await second.getOrderVersion(order.orderId)).toBe(31);
    expect(await first.getHistory(order.orderId)).toHaveLength(31);
    expect(versionsOf(await second.getOrderVersionsAfter(order.orderId, 0, 100))).toEqual(upTo(31));

    const page = await first.listOrders({ pageSize: 10 });
    expect(ids(page.orders)).toEqual([order.orderId]);
    // Tokens are portable across instances (API replicas) that share the secret.
    const other = makeOrder({ orderId: "order-shared-2", createTime: at(-10) });
    await second.saveOrder(other, []);
    const firstPage = await second.listOrders({ pageSize: 1 });
    const secondPage = await first.listOrders({ pageSize: 1, pageToken: firstPage.nextPageToken });
    expect(ids(secondPage.orders)).toEqual([other.orderId]);
  });

  it("migrates once when several instances start at the same time", async () => {
    const database = await backend.freshDatabase();
    const stores = await Promise.all([database.open(), database.open(), database.open()]);
    opened.push(...stores);
    const order = makeOrder({ orderId: "order-started-together" });
    await Promise.all(stores.map((store, i) => store.saveOrder({ ...order, version: i + 1 }, [])));
    for (const store of stores) expect(await store.getOrderVersion(order.orderId)).toBe(3);
  });

  describe("listOrders", () => {
    const statuses: OrderStatus[] = ["PENDING", "PROCESSING", "COMPLETED", "CANCELLED"];
    /** 30 orders: 3 customers, 4 statuses, several sharing a create time (tie-broken by order id). */
    const seed = Array.from({ length: 30 }, (_, i) =>
      makeOrder({
        orderId: `order-${String(i).padStart(3, "0")}`,
        customerId: `customer-${i % 3}`,
        status: statuses[i % 4] as OrderStatus,
        createTime: at(Math.floor(i / 4) * 60),
        updateTime: at(Math.floor(i / 4) * 60),
      }),
    );

    it("returns newest first, filtered by customer, by statuses, and by both", async () => {
      const store = await freshStore();
      await saveAll(store, shuffled(seed));

      const all = await store.listOrders({ pageSize: 100 });
      expect(ids(all.orders)).toEqual(ids([...seed].sort(newestFirst)));
      expect(all.nextPageToken).toBe("");

      const byCustomer = await store.listOrders({ customerId: "customer-1", pageSize: 100 });
      expect(ids(byCustomer.orders)).toEqual(
        ids(seed.filter((o) => o.customerId === "customer-1").sort(newestFirst)),
      );

      const byStatus = await store.listOrders({
        statuses: ["COMPLETED", "PENDING"],
        pageSize: 100,
      });
      expect(ids(byStatus.orders)).toEqual(
        ids(
          seed.filter((o) => o.status === "COMPLETED" || o.status === "PENDING").sort(newestFirst),
        ),
      );

      const byBoth = await store.listOrders({
        customerId: "customer-2",
        statuses: ["PROCESSING"],
        pageSize: 100,
      });
      expect(ids(byBoth.orders)).toEqual(
        ids(
          seed
            .filter((o) => o.customerId === "customer-2" && o.status === "PROCESSING")
            .sort(newestFirst),
        ),
      );
      expect(byBoth.orders.length).toBeGreaterThan(0);

      expect(await store.listOrders({ customerId: "customer-unknown", pageSize: 10 })).toEqual({
        orders: [],
        nextPageToken: "",
      });
      // An empty status list means any status, like an absent one.
      expect(ids((await store.listOrders({ statuses: [], pageSize: 100 })).orders)).toEqual(
        ids(all.orders),
      );
    });

    it("filters on the active holds of each order's latest version, across pages", async () => {
      const store = await freshStore();
      const hold = (holdId: string, type: HoldType, status: Hold["status"]): Hold => ({
        holdId,
        type,
        status,
        reason: "",
        placedBy: "ops",
        placeTime: at(0),
        deadline: at(3600),
        expiryAction: "RELEASE",
        releasedBy: "",
        releaseReason: "",
        releaseTime: "",
      });
      const fraud = makeOrder({
        orderId: "held-fraud",
        createTime: at(1),
        holds: [hold("hold-1", "FRAUD_REVIEW", "ACTIVE"), hold("hold-2", "MANUAL", "RELEASED")],
      });
      const manual = makeOrder({
        orderId: "held-manual",
        createTime: at(2),
        holds: [hold("hold-1", "MANUAL", "ACTIVE"), hold("hold-2", "MANUAL", "ACTIVE")],
      });
      const released = makeOrder({
        orderId: "held-released",
        createTime: at(3),
        holds: [hold("hold-1", "MANUAL", "EXPIRED")],
      });
      const none = makeOrder({ orderId: "held-none", createTime: at(4) });
      await saveAll(store, [fraud, manual, released, none]);

      const list = async (query: { onHold?: boolean; holdTypes?: HoldType[] }) =>
        ids((await store.listOrders({ ...query, pageSize: 10 })).orders);
      expect(await list({ onHold: true })).toEqual(["held-manual", "held-fraud"]);
      expect(await list({ holdTypes: ["MANUAL"] })).toEqual(["held-manual"]);
      expect(await list({ holdTypes: ["FRAUD_REVIEW", "MANUAL"] })).toEqual([
        "held-manual",
        "held-fraud",
      ]);
      expect(await list({ holdTypes: ["PAYMENT_REVIEW"] })).toEqual([]);

      // A page token is bound to the hold filters too.
      const first = await store.listOrders({ onHold: true, pageSize: 1 });
      expect(ids(first.orders)).toEqual(["held-manual"]);
      const second = await store.listOrders({
        onHold: true,
        pageSize: 1,
        pageToken: first.nextPageToken,
      });
      expect(ids(second.orders)).toEqual(["held-fraud"]);
      await expect(
        store.listOrders({ pageSize: 1, pageToken: first.nextPageToken }),
      ).rejects.toThrow();

      // The latest version decides: released, the order leaves the filter.
      const hold1 = manual.holds?.[0] as Hold;
      const hold2 = manual.holds?.[1] as Hold;
      await store.saveOrder(
        { ...manual, version: 2, holds: [{ ...hold1, status: "RELEASED" }, hold2] },
        [],
      );
      expect(await list({ onHold: true })).toEqual(["held-manual", "held-fraud"]);
      await store.saveOrder(
        {
          ...manual,
          version: 3,
          holds: [
            { ...hold1, status: "RELEASED" },
            { ...hold2, status: "RELEASED" },
          ],
        },
        [],
      );
      expect(await list({ onHold: true })).toEqual(["held-fraud"]);
    });

    it("filters on SLA clocks at query time: at risk, breached, across pages", async () => {
      const store = await freshStore();
      const clock = (stage: SlaStageClock["stage"], deadline: number, breachTime = "") => ({
        stage,
        deadline: at(deadline),
        atRiskTime: at(deadline - 100),
        metTime: "",
        breachTime,
      });
      const sla = (...stages: SlaStageClock[]): OrderSla => ({ stages });
      // Judged at t = 1000: dispatch due at 1050 (at risk since 950).
      const atRisk = makeOrder({
        orderId: "sla-at-risk",
        status: "PROCESSING",
        createTime: at(1),
        sla: sla({ ...clock("AUTHORIZED", 500), metTime: at(10) }, clock("DISPATCHED", 1050)),
      });
      // Dispatch due at 5000: not at risk yet.
      const onTrack = makeOrder({
        orderId: "sla-on-track",
        status: "PROCESSING",
        createTime: at(2),
        sla: sla(clock("DISPATCHED", 5000)),
      });
      // Breached dispatch; the clock runs on for delivery, due at 1080: at risk too.
      const breached = makeOrder({
        orderId: "sla-breached",
        status: "PROCESSING",
        createTime: at(3),
        sla: sla(clock("DISPATCHED", 900, at(900)), clock("DELIVERED", 1080)),
      });
      // Ended with a breached stage: breached, never at risk (its clock stopped).
      const ended = makeOrder({
        orderId: "sla-ended",
        status: "CANCELLED",
        createTime: at(4),
        sla: sla(clock("DISPATCHED", 900, at(900)), clock("DELIVERED", 950)),
      });
      const none = makeOrder({ orderId: "sla-none", status: "PROCESSING", createTime: at(5) });
      await saveAll(store, [atRisk, onTrack, breached, ended, none]);

      const now = new Date(at(1000));
      const list = async (sla: SlaFilter) =>
        ids((await store.listOrders({ sla, now, pageSize: 10 })).orders);
      expect(await list("AT_RISK")).toEqual(["sla-breached", "sla-at-risk"]);
      expect(await list("BREACHED")).toEqual(["sla-ended", "sla-breached"]);
      // Later, the on-track order is at risk too: judged at query time, no write needed.
      expect(
        ids(
          (await store.listOrders({ sla: "AT_RISK", now: new Date(at(4950)), pageSize: 10 }))
            .orders,
        ),
      ).toEqual(["sla-breached", "sla-on-track", "sla-at-risk"]);

      // A page token is bound to the SLA filter too.
      const first = await store.listOrders({ sla: "BREACHED", now, pageSize: 1 });
      expect(ids(first.orders)).toEqual(["sla-ended"]);
      const second = await store.listOrders({
        sla: "BREACHED",
        now,
        pageSize: 1,
        pageToken: first.nextPageToken,
      });
      expect(ids(second.orders)).toEqual(["sla-breached"]);
      await expect(
        store.listOrders({ sla: "AT_RISK", pageSize: 1, pageToken: first.nextPageToken }),
      ).rejects.toThrow();
      await expect(
        store.listOrders({ pageSize: 1, pageToken: first.nextPageToken }),
      ).rejects.toThrow();

      // The latest version decides: dispatched in time, the order leaves AT_RISK.
      await store.saveOrder(
        {
          ...atRisk,
          version: 2,
          sla: sla(
            { ...clock("AUTHORIZED", 500), metTime: at(10) },
            {
              ...clock("DISPATCHED", 1050),
              metTime: at(990),
            },
          ),
        },
        [],
      );
      expect(await list("AT_RISK")).toEqual(["sla-breached"]);
    });

    it("orders by instant, not by the text of the time, and filters on the latest status", async () => {
      const store = await freshStore();
      // 10:00+02:00 is 08:00Z: older than 09:00Z although its text sorts later.
      const early = makeOrder({ orderId: "order-b", createTime: "2025-06-01T10:00:00.000+02:00" });
      const late = makeOrder({ orderId: "order-a", createTime: "2025-06-01T09:00:00.000Z" });
      await saveAll(store, [early, late]);
      expect(ids((await store.listOrders({ pageSize: 10 })).orders)).toEqual([
        "order-a",
        "order-b",
      ]);

      await store.saveOrder({ ...early, status: "COMPLETED", version: 2 }, []);
      expect(ids((await store.listOrders({ statuses: ["PENDING"], pageSize: 10 })).orders)).toEqual(
        ["order-a"],
      );
      expect(
        ids((await store.listOrders({ statuses: ["COMPLETED"], pageSize: 10 })).orders),
      ).toEqual(["order-b"]);
    });

    it("pages with AIP-158 sizes: 0 means 50, above 500 is clamped, negative is an error", async () => {
      const store = await freshStore();
      const many = Array.from({ length: MAX_PAGE_SIZE + 7 }, (_, i) =>
        makeOrder({ orderId: `bulk-${String(i).padStart(4, "0")}`, createTime: at(i) }),
      );
      await saveAll(store, many);

      const byDefault = await store.listOrders({ pageSize: 0 });
      expect(byDefault.orders).toHaveLength(DEFAULT_PAGE_SIZE);
      expect(byDefault.nextPageToken).not.toBe("");

      const clamped = await store.listOrders({ pageSize: 10_000 });
      expect(clamped.orders).toHaveLength(MAX_PAGE_SIZE);
      const rest = await store.listOrders({ pageSize: 10_000, pageToken: clamped.nextPageToken });
      expect(rest.orders).toHaveLength(7);
      expect(rest.nextPageToken).toBe("");
      expect(ids([...clamped.orders, ...rest.orders])).toEqual(ids([...many].sort(newestFirst)));

      await expect(store.listOrders({ pageSize: -1 })).rejects.toBeInstanceOf(InvalidPageSizeError);
      await expect(store.listOrders({ pageSize: 1.5 })).rejects.toBeInstanceOf(
        InvalidPageSizeError,
      );
    });

    it("ends with an empty token exactly at the last page", async () => {
      const store = await freshStore();
      await saveAll(store, seed.slice(0, 10));
      const first = await store.listOrders({ pageSize: 5 });
      expect(first.orders).toHaveLength(5);
      expect(first.nextPageToken).not.toBe("");
      const second = await store.listOrders({ pageSize: 5, pageToken: first.nextPageToken });
      expect(second.orders).toHaveLength(5);
      expect(second.nextPageToken).toBe("");
      expect(await store.listOrders({ pageSize: 5 })).toEqual(first);
    });

    it("pages through every order exactly once while orders are created and updated between pages", async () => {
      const store = await freshStore();
      await saveAll(store, seed);

      const seen: string[] = [];
      let pageToken = "";
      let round = 0;
      do {
        const page = await store.listOrders({ pageSize: 4, pageToken });
        seen.push(...ids(page.orders));
        pageToken = page.nextPageToken;
        round += 1;
        // Newer orders arrive (one with a create time equal to the newest
        // existing one), and existing orders change status, between pages.
        await saveAll(store, [
          makeOrder({ orderId: `new-${round}-a`, createTime: at(10_000 + round) }),
          makeOrder({ orderId: `order-${round}`, createTime: at(Math.floor(29 / 4) * 60) }),
        ]);
        const updated = seed[(round * 7) % seed.length] as Order;
        await store.saveOrder({ ...updated, status: "COMPLETED", version: 1 + round }, []);
      } while (pageToken !== "");

      expect(new Set(seen).size).toBe(seen.length);
      const original = ids(seed);
      expect(seen.filter((id) => original.includes(id)).sort()).toEqual([...original].sort());
      // The originals come in the order they had when paging started.
      expect(seen.filter((id) => original.includes(id))).toEqual(ids([...seed].sort(newestFirst)));
    });

    it("pages through filtered results with tokens bound to the filters", async () => {
      const store = await freshStore();
      await saveAll(store, seed);
      const query = {
        customerId: "customer-0",
        statuses: ["PENDING", "COMPLETED"] as OrderStatus[],
      };
      const expected = ids(
        seed
          .filter(
            (o) =>
              o.customerId === "customer-0" && (o.status === "PENDING" || o.status === "COMPLETED"),
          )
          .sort(newestFirst),
      );
      expect(expected.length).toBeGreaterThan(2);
      expect(ids(await listAll(store, { ...query, pageSize: 2 }))).toEqual(expected);

      const first = await store.listOrders({ ...query, pageSize: 2 });
      // The same filters in another order, and another page size, are the same query.
      const again = await store.listOrders({
        customerId: "customer-0",
        statuses: ["COMPLETED", "PENDING", "COMPLETED"],
        pageSize: 50,
        pageToken: first.nextPageToken,
      });
      expect(ids(again.orders)).toEqual(expected.slice(2));
    });

    it("rejects forged, corrupted and foreign page tokens", async () => {
      const database = await backend.freshDatabase();
      const store = await database.open();
      opened.push(store);
      await saveAll(store, seed);
      const query = {
        customerId: "customer-0",
        statuses: ["PENDING"] as OrderStatus[],
        pageSize: 1,
      };
      const { nextPageToken } = await store.listOrders(query);
      expect(nextPageToken).toMatch(/^[A-Za-z0-9_-]+$/);

      const rejects = (pageToken: string, overrides: Partial<typeof query> = {}) =>
        expect(store.listOrders({ ...query, ...overrides, pageToken })).rejects.toBeInstanceOf(
          InvalidPageTokenError,
        );

      // Used with other filters.
      await rejects(nextPageToken, { customerId: "customer-1" });
      await rejects(nextPageToken, { customerId: undefined });
      await rejects(nextPageToken, { statuses: ["PENDING", "COMPLETED"] });
      await rejects(nextPageToken, { statuses: [] });
      // Tampered with: every single-character change.
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      for (const position of [0, 10, 40, nextPageToken.length - 1]) {
        const original = nextPageToken[position] as string;
        const replacement = alphabet[(alphabet.indexOf(original) + 1) % alphabet.length] as string;
        await rejects(
          nextPageToken.slice(0, position) + replacement + nextPageToken.slice(position + 1),
        );
      }
      // Forged from scratch: the payload format is guessable, the MAC is not.
      const forgedPayload = Buffer.from(JSON.stringify([1, at(0), "order-000"]));
      await rejects(Buffer.concat([Buffer.alloc(32), forgedPayload]).toString("base64url"));
      // Garbage.
      await rejects("not a token!");
      await rejects("abc");
      await rejects("A".repeat(10_000));
      await rejects(nextPageToken.slice(0, -5));

      // Issued by a store with another secret (another deployment).
      const otherSecret = await database.open("another-secret");
      opened.push(otherSecret);
      await expect(
        otherSecret.listOrders({ ...query, pageToken: nextPageToken }),
      ).rejects.toBeInstanceOf(InvalidPageTokenError);

      // And the genuine token still works.
      const next = await store.listOrders({ ...query, pageToken: nextPageToken });
      expect(next.orders).toHaveLength(1);
    });
  });

  describe("version history (WatchOrder)", () => {
    const orderId = "order-watch";
    const snapshot = (version: number): Order =>
      makeOrder({
        orderId,
        version,
        status: version < 3 ? "PENDING" : "PROCESSING",
        updateTime: at(version),
        statusReason: `version ${version}`,
      });

    it("returns every saved version in ascending order, after a version, at most a limit", async () => {
      const store = await freshStore();
      // 12 versions, so that text order (10 < 9) and numeric order differ.
      for (const version of upTo(12)) await store.saveOrder(snapshot(version), []);
      // A neighbour whose id extends this one's must not leak in.
      await store.saveOrder(makeOrder({ orderId: `${orderId}-2`, version: 5 }), []);

      expect(await store.getOrderVersionsAfter(orderId, 0, 100)).toEqual(upTo(12).map(snapshot));
      expect(versionsOf(await store.getOrderVersionsAfter(orderId, -1, 100))).toEqual(upTo(12));
      expect(versionsOf(await store.getOrderVersionsAfter(orderId, 0, 3))).toEqual([1, 2, 3]);
      expect(versionsOf(await store.getOrderVersionsAfter(orderId, 3, 3))).toEqual([4, 5, 6]);
      expect(versionsOf(await store.getOrderVersionsAfter(orderId, 9, 5))).toEqual([10, 11, 12]);
      expect(await store.getOrderVersionsAfter(orderId, 12, 5)).toEqual([]);
      expect(await store.getOrderVersionsAfter(orderId, 1_000, 5)).toEqual([]);
      expect(await store.getOrderVersionsAfter("order-unknown", 0, 5)).toEqual([]);

      // Resuming from the last version received, as a WatchOrder stream does.
      const streamed: number[] = [];
      let since = 0;
      for (;;) {
        const batch = await store.getOrderVersionsAfter(orderId, since, 5);
        if (batch.length === 0) break;
        streamed.push(...versionsOf(batch));
        since = batch.at(-1)?.version ?? since;
      }
      expect(streamed).toEqual(upTo(12));
    });

    it("rejects a limit below 1 and versions that are not safe integers", async () => {
      const store = await freshStore();
      await store.saveOrder(snapshot(1), []);
      for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expect(store.getOrderVersionsAfter(orderId, 0, limit)).rejects.toBeInstanceOf(
          RangeError,
        );
      }
      for (const afterVersion of [0.5, Number.NaN, 2 ** 53]) {
        await expect(store.getOrderVersionsAfter(orderId, afterVersion, 1)).rejects.toBeInstanceOf(
          RangeError,
        );
      }
    });

    it("records a stale version without moving the order; each version once, first snapshot kept", async () => {
      const store = await freshStore();
      expect(await store.saveOrder(snapshot(3), [])).toEqual({ applied: true });
      // Versions 1 and 2 arrive late: not applied, yet recorded.
      expect(await store.saveOrder(snapshot(2), [])).toEqual({ applied: false });
      expect(await store.saveOrder(snapshot(1), [])).toEqual({ applied: false });
      expect(await store.getOrder(orderId)).toEqual(snapshot(3));
      expect(await store.getOrderVersion(orderId)).toBe(3);
      expect(await store.getOrderVersionsAfter(orderId, 0, 10)).toEqual([1, 2, 3].map(snapshot));

      // Retries and replays with other content neither duplicate nor overwrite a version.
      expect(await store.saveOrder(snapshot(2), [])).toEqual({ applied: false });
      expect(
        await store.saveOrder(
          { ...snapshot(2), status: "CANCELLED", statusReason: "replayed" },
          [],
        ),
      ).toEqual({ applied: false });
      expect(
        await store.saveOrder({ ...snapshot(3), status: "FAILED", statusReason: "replayed" }, []),
      ).toEqual({ applied: false });
      expect(await store.getOrderVersionsAfter(orderId, 0, 10)).toEqual([1, 2, 3].map(snapshot));
      expect(await store.getOrder(orderId)).toEqual(snapshot(3));

      // A late version can appear below one already streamed: a watcher that
      // resumed after 3 does not see it again.
      expect(await store.saveOrder(snapshot(5), [])).toEqual({ applied: true });
      expect(await store.saveOrder(snapshot(4), [])).toEqual({ applied: false });
      expect(versionsOf(await store.getOrderVersionsAfter(orderId, 3, 10))).toEqual([4, 5]);
    });

    it("records every version when they are saved concurrently and in random order, with retries", async () => {
      const store = await freshStore();
      // Every version twice (a retry racing its original), shuffled.
      const writes = shuffled([...upTo(30), ...upTo(30)]);
      await Promise.all(writes.map((version) => store.saveOrder(snapshot(version), [])));
      expect(await store.getOrderVersionsAfter(orderId, 0, 100)).toEqual(upTo(30).map(snapshot));
      expect(await store.getOrder(orderId)).toEqual(snapshot(30));
    });
  });

  describe("shipments (courier event routing)", () => {
    it("finds the order and fulfillment of every shipment id a saved snapshot carries", async () => {
      const store = await freshStore();
      const orderId = "order-shipments";
      const v2 = makeOrder({
        orderId,
        version: 2,
        status: "PROCESSING",
        fulfillments: [makeFulfillment("f-1", "ship-1"), makeFulfillment("f-2", "")],
      });
      expect(await store.saveOrder(v2, [])).toEqual({ applied: true });
      expect(await store.findShipment("ship-1")).toEqual({ orderId, fulfillmentId: "f-1" });
      // The fulfillment without a shipment id registers nothing, under no id.
      expect(await store.findShipment("")).toBeNull();
      expect(await store.findShipment("ship-unknown")).toBeNull();

      // The second fulfillment is booked in a later version; resaving ship-1 is harmless.
      const v3 = {
        ...v2,
        version: 3,
        fulfillments: [makeFulfillment("f-1", "ship-1"), makeFulfillment("f-2", "ship-2")],
      };
      expect(await store.saveOrder(v3, [])).toEqual({ applied: true });
      expect(await store.findShipment("ship-1")).toEqual({ orderId, fulfillmentId: "f-1" });
      expect(await store.findShipment("ship-2")).toEqual({ orderId, fulfillmentId: "f-2" });

      // A late snapshot's shipments are recorded too (the snapshot itself is not applied).
      const late = {
        ...v2,
        version: 1,
        fulfillments: [makeFulfillment("f-3", "ship-3")],
      };
      expect(await store.saveOrder(late, [])).toEqual({ applied: false });
      expect(await store.findShipment("ship-3")).toEqual({ orderId, fulfillmentId: "f-3" });
      expect(await store.getOrder(orderId)).toEqual(v3);
    });

    it("keeps a shipment id's first owner", async () => {
      const store = await freshStore();
      const first = makeOrder({
        orderId: "order-owner-1",
        fulfillments: [makeFulfillment("f-1", "ship-shared")],
      });
      const second = makeOrder({
        orderId: "order-owner-2",
        fulfillments: [makeFulfillment("f-9", "ship-shared"), makeFulfillment("f-8", "ship-own")],
      });
      expect(await store.saveOrder(first, [])).toEqual({ applied: true });
      // Not an error: a save must not fail forever over another order's data.
      expect(await store.saveOrder(second, [])).toEqual({ applied: true });
      expect(await store.findShipment("ship-shared")).toEqual({
        orderId: "order-owner-1",
        fulfillmentId: "f-1",
      });
      expect(await store.findShipment("ship-own")).toEqual({
        orderId: "order-owner-2",
        fulfillmentId: "f-8",
      });
      // The same id twice within one snapshot: the first fulfillment listing it.
      const twice = makeOrder({
        orderId: "order-owner-3",
        fulfillments: [makeFulfillment("f-a", "ship-twice"), makeFulfillment("f-b", "ship-twice")],
      });
      expect(await store.saveOrder(twice, [])).toEqual({ applied: true });
      expect(await store.findShipment("ship-twice")).toEqual({
        orderId: "order-owner-3",
        fulfillmentId: "f-a",
      });
    });

    it("saves orders without fulfillments, recording a version and no shipment", async () => {
      const store = await freshStore();
      const order = makeOrder({ orderId: "order-no-fulfillments", fulfillments: [] });
      expect(await store.saveOrder(order, [makeEntry(order.orderId, 1)])).toEqual({
        applied: true,
      });
      expect(await store.getOrder(order.orderId)).toEqual(order);
      expect(await store.getOrderVersionsAfter(order.orderId, 0, 10)).toEqual([order]);
      expect(await store.findShipment("")).toBeNull();
    });

    it("registers shipments of concurrent saves of many orders", async () => {
      const store = await freshStore();
      const orders = Array.from({ length: 20 }, (_, i) =>
        makeOrder({
          orderId: `order-c-${i}`,
          version: 2,
          fulfillments: [
            makeFulfillment(`f-${i}-a`, `ship-${i}-a`),
            makeFulfillment(`f-${i}-b`, `ship-${i}-b`),
          ],
        }),
      );
      await Promise.all(
        shuffled([...orders, ...orders.map((o) => ({ ...o, version: 1 }))]).map((o) =>
          store.saveOrder(o, []),
        ),
      );
      for (const [i, order] of orders.entries()) {
        expect(await store.findShipment(`ship-${i}-b`)).toEqual({
          orderId: order.orderId,
          fulfillmentId: `f-${i}-b`,
        });
        expect(versionsOf(await store.getOrderVersionsAfter(order.orderId, 0, 10))).toEqual([1, 2]);
      }
    });
  });

  it("applies migration 0002 to a database migrated to 0001, backfilling from its orders", async () => {
    const database = await backend.freshDatabase();
    const legacy = makeOrder({
      orderId: "order-legacy",
      status: "PROCESSING",
      version: 4,
      fulfillments: [
        makeFulfillment("f-1", "ship-legacy-1"),
        makeFulfillment("f-2", ""),
        makeFulfillment("f-3", "ship-legacy-3"),
      ],
    });
    const plain = makeOrder({ orderId: "order-legacy-plain", version: 2 });

    // The database as a release with only 0001 left it.
    const raw = database.connect();
    try {
      const only0001 = createReadModelMigrations(backend.name)["0001_create_orders"];
      if (only0001 === undefined) throw new Error("migration 0001_create_orders is missing");
      const migrator = new Migrator({
        db: raw,
        provider: {
          getMigrations: async () => ({
            "0001_create_orders": only0001,
          }),
        },
        migrationTableName: MIGRATION_TABLE,
        migrationLockTableName: MIGRATION_LOCK_TABLE,
      });
      const { error, results } = await migrator.migrateToLatest();
      expect(error).toBeUndefined();
      expect(results?.map((result) => result.migrationName)).toEqual(["0001_create_orders"]);
      // What 0001's saveOrder wrote: the orders row only.
      for (const order of [legacy, plain]) {
        await raw
          .insertInto("orders")
          .values({
            order_id: order.orderId,
            customer_id: order.customerId,
            status: order.status,
            create_time: order.createTime,
            update_time: order.updateTime,
            version: order.version,
            snapshot: JSON.stringify(order),
          })
          .execute();
      }
    } finally {
      await raw.destroy();
    }

    // Two instances of the new release start together: one migrates, both work.
    const [first, second] = await Promise.all([database.open(), database.open()]);
    if (first === undefined || second === undefined) throw new Error("unreachable");
    opened.push(first, second);

    expect(await first.getOrder(legacy.orderId)).toEqual(legacy);
    expect(await second.getOrder(plain.orderId)).toEqual(plain);
    // History starts at the version an order had when 0002 ran.
    expect(await first.getOrderVersionsAfter(legacy.orderId, 0, 10)).toEqual([legacy]);
    expect(await second.getOrderVersionsAfter(plain.orderId, 0, 10)).toEqual([plain]);
    // Shipments booked before the upgrade are routable at once.
    expect(await second.findShipment("ship-legacy-1")).toEqual({
      orderId: legacy.orderId,
      fulfillmentId: "f-1",
    });
    expect(await first.findShipment("ship-legacy-3")).toEqual({
      orderId: legacy.orderId,
      fulfillmentId: "f-3",
    });
    expect(await first.findShipment("")).toBeNull();

    const next = { ...legacy, version: 5, updateTime: at(50) };
    expect(await second.saveOrder(next, [])).toEqual({ applied: true });
    expect(await first.getOrderVersionsAfter(legacy.orderId, 0, 10)).toEqual([legacy, next]);
    // The order event log (0005) starts with the order as it was, and goes on from there.
    const events = await first.listOrderEvents({ afterPosition: 0, limit: 10 });
    expect(events.map((e) => [e.orderId, e.sequence, e.type, e.order.version])).toEqual([
      [legacy.orderId, 1, "UPDATED", legacy.version],
      [plain.orderId, 1, "UPDATED", plain.version],
      [legacy.orderId, 2, "UPDATED", 5],
    ]);

    const check = database.connect();
    try {
      const { rows } = await sql<{
        name: string;
      }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(check);
      expect(rows.map((row) => row.name)).toEqual(
        Object.keys(createReadModelMigrations(backend.name)).sort(),
      );
    } finally {
      await check.destroy();
    }
  });

  describe("notification outbox", () => {
    const message = (orderId: string, kind: string, subject = ""): OutboxMessage => ({
      messageId: `${orderId}:notify:${kind}:${subject}`,
      orderId,
      customerId: "customer-1",
      kind,
      subject,
      data: { subject, ünï: "cödé ✓" },
      createTime: at(1),
    });
    const LEASE = 60_000;
    /** Claims everything due, as one claimant. */
    const claimAll = (store: OrderStore, now?: Date) =>
      store.claimOutbox({ limit: 1_000, leaseMs: LEASE, now });
    const later = (ms: number) => new Date(Date.now() + ms);
    const idsOf = (messages: readonly { messageId: string }[]) =>
      messages.map((m) => m.messageId).sort();

    it("writes messages with the version that carries them, and only then", async () => {
      const store = await freshStore();
      const orderId = "order-outbox";
      const accepted = message(orderId, "ORDER_ACCEPTED");
      expect(
        await store.saveOrder(makeOrder({ orderId }), [makeEntry(orderId, 1)], [accepted]),
      ).toEqual({ applied: true });
      const claimed = await claimAll(store);
      expect(claimed).toEqual([
        { ...accepted, attempts: 1, claimToken: expect.any(String), lastError: "" },
      ]);

      // A save that fails in the database writes neither the version nor its messages.
      const broken = { ...message(orderId, "ORDER_FAILED"), customerId: null as unknown as string };
      await expect(
        store.saveOrder(
          makeOrder({ orderId, version: 2, status: "FAILED" }),
          [],
          [message(orderId, "SHIPMENT_DISPATCHED", "f-1"), broken],
        ),
      ).rejects.toThrow();
      expect(await store.getOrderVersion(orderId)).toBe(1);
      expect(await store.getOrderVersionsAfter(orderId, 1, 10)).toEqual([]);
      expect(await claimAll(store, later(2 * LEASE))).toHaveLength(1); // accepted, lease over

      // Messages checked before anything is written.
      await expect(
        store.saveOrder(
          makeOrder({ orderId, version: 3 }),
          [],
          [message("order-other", "ORDER_ACCEPTED")],
        ),
      ).rejects.toThrow(/belongs to order order-other/);
      await expect(
        store.saveOrder(makeOrder({ orderId, version: 3 }), [], [{ ...accepted, messageId: "" }]),
      ).rejects.toThrow(/must not be empty/);
      await expect(
        store.saveOrder(
          makeOrder({ orderId, version: 3 }),
          [],
          [{ ...accepted, createTime: "soon" }],
        ),
      ).rejects.toThrow(/createTime/);
      expect(await store.getOrderVersion(orderId)).toBe(1);
    });

    it("never writes a message twice: retries, replays, late and concurrent saves", async () => {
      const store = await freshStore();
      const orderId = "order-outbox-replay";
      const v1 = makeOrder({ orderId });
      const accepted = message(orderId, "ORDER_ACCEPTED");
      const dispatched = message(orderId, "SHIPMENT_DISPATCHED", "f-1");
      await store.saveOrder(v1, [], [accepted]);
      // The same save again, a replay with a changed message, a late one, and duplicates in one call.
      await store.saveOrder(v1, [], [accepted]);
      await store.saveOrder(v1, [], [{ ...accepted, data: { replayed: "yes" } }]);
      await store.saveOrder(makeOrder({ orderId, version: 3 }), [], [dispatched, dispatched]);
      expect(await store.saveOrder(makeOrder({ orderId, version: 2 }), [], [accepted])).toEqual({
        applied: false,
      });
      await Promise.all(
        shuffled([...upTo(10), ...upTo(10)]).map((version) =>
          store.saveOrder(makeOrder({ orderId, version }), [], [accepted, dispatched]),
        ),
      );
      const claimed = await claimAll(store);
      expect(idsOf(claimed)).toEqual(idsOf([accepted, dispatched]));
      // The first write of a message wins.
      expect(claimed.find((m) => m.messageId === accepted.messageId)?.data).toEqual(accepted.data);

      // A message the version does not carry is not written by saving another version.
      await store.saveOrder(makeOrder({ orderId, version: 11 }), []);
      expect(await claimAll(store, later(2 * LEASE))).toHaveLength(2);
    });

    it("queues a message an earlier version announces only if that version was never stored", async () => {
      const store = await freshStore();
      // The API wrote version 1 with ORDER_ACCEPTED; the dispatcher delivered
      // and deleted it; the workflow's first write (version 2) carries it again.
      const orderId = "order-outbox-earlier";
      const accepted = message(orderId, "ORDER_ACCEPTED");
      await store.saveOrder(makeOrder({ orderId }), [makeEntry(orderId, 1)], [accepted]);
      const [first] = await claimAll(store);
      await store.completeOutbox([first?.messageId ?? ""]);
      const dispatched = message(orderId, "SHIPMENT_DISPATCHED", "f-1");
      await store.saveOrder(
        makeOrder({ orderId, version: 2 }),
        [],
        [{ ...accepted, version: 1 }, dispatched],
      );
      // Not queued (nor sent) a second time; the version's own message is.
      expect(idsOf(await claimAll(store))).toEqual([dispatched.messageId]);
      expect(await store.countPendingOutbox()).toBe(1);

      // The API's write never landed: the workflow's first write queues it, once.
      const lost = "order-outbox-api-lost";
      const lostAccepted = { ...message(lost, "ORDER_ACCEPTED"), version: 1 };
      const v2 = makeOrder({ orderId: lost, version: 2 });
      await store.saveOrder(v2, [makeEntry(lost, 1)], [lostAccepted]);
      await store.saveOrder(v2, [makeEntry(lost, 1)], [lostAccepted], { writeRank: 5 });
      const claimed = await claimAll(store);
      expect(claimed).toEqual([
        {
          ...message(lost, "ORDER_ACCEPTED"),
          attempts: 1,
          claimToken: expect.any(String),
          lastError: "",
        },
      ]);
    });

    it("leases a claimed message: nobody else gets it until the lease ends", async () => {
      const store = await freshStore();
      const orderId = "order-outbox-lease";
      const messages = ["ORDER_ACCEPTED", "ACTION_REQUIRED", "ORDER_CANCELLED"].map((kind) =>
        message(orderId, kind),
      );
      await store.saveOrder(makeOrder({ orderId }), [], messages);

      expect(await store.countPendingOutbox()).toBe(3);
      const first = await store.claimOutbox({ limit: 2, leaseMs: LEASE });
      expect(first).toHaveLength(2);
      // Claimed messages are still pending.
      expect(await store.countPendingOutbox()).toBe(3);
      const second = await store.claimOutbox({ limit: 10, leaseMs: LEASE });
      expect(idsOf([...first, ...second])).toEqual(idsOf(messages));
      expect(await store.claimOutbox({ limit: 10, leaseMs: LEASE })).toEqual([]);
      // Just before the lease ends: still held.
      expect(await claimAll(store, later(LEASE - 5_000))).toEqual([]);

      // The claimant died: after the lease everything is due again, as a new attempt.
      const again = await claimAll(store, later(LEASE + 1_000));
      expect(idsOf(again)).toEqual(idsOf(messages));
      expect(again.map((m) => m.attempts)).toEqual([2, 2, 2]);
      const stale = first[0];
      if (stale === undefined) throw new Error("unreachable");
      const current = again.find((m) => m.messageId === stale.messageId);
      expect(current?.claimToken).not.toBe(stale.claimToken);
      // The dead claimant's settlement is refused; the new claim's goes through.
      expect(await store.retryOutbox(stale, { error: "late", notBefore: new Date() })).toBe(false);
      expect(await store.deadLetterOutbox(stale, "late")).toBe(false);
      expect(await store.countDeadLetters()).toBe(0);

      await store.completeOutbox(again.map((claim) => claim.messageId));
      expect(await claimAll(store, later(10 * LEASE))).toEqual([]);
      expect(await store.countPendingOutbox()).toBe(0);
      // Completing twice (two claimants both delivered) is harmless.
      await store.completeOutbox([messages[0]?.messageId ?? ""]);

      await expect(store.claimOutbox({ limit: 0, leaseMs: LEASE })).rejects.toBeInstanceOf(
        RangeError,
      );
      await expect(store.claimOutbox({ limit: 1, leaseMs: 0 })).rejects.toBeInstanceOf(RangeError);
    });

    it("retries a message at its time, and keeps a dead letter with its last error", async () => {
      const store = await freshStore();
      const orderId = "order-outbox-retry";
      const accepted = message(orderId, "ORDER_ACCEPTED");
      const completed = message(orderId, "ORDER_COMPLETED");
      await store.saveOrder(makeOrder({ orderId }), [], [accepted, completed]);

      const [a, c] = await claimAll(store);
      if (a === undefined || c === undefined) throw new Error("expected two claims");
      expect(a.messageId).toBe(accepted.messageId);
      const notBefore = later(30_000);
      expect(await store.retryOutbox(a, { error: "UNAVAILABLE: down", notBefore })).toBe(true);
      // Settled: the claim cannot be used again.
      expect(await store.retryOutbox(a, { error: "again", notBefore })).toBe(false);
      // Not due before its time, then due with its last error.
      expect(await claimAll(store, later(29_000))).toEqual([]);
      const [retried] = await claimAll(store, later(30_000));
      expect(retried).toMatchObject({
        messageId: a.messageId,
        attempts: 2,
        lastError: "UNAVAILABLE: down",
      });

      const deadAt = new Date(Date.now() - 60_000);
      expect(await store.deadLetterOutbox(c, "NOT_FOUND: no such customer", deadAt)).toBe(true);
      expect(await store.deadLetterOutbox(c, "twice", deadAt)).toBe(false);
      if (retried === undefined) throw new Error("unreachable");
      expect(await store.deadLetterOutbox(retried, "UNAVAILABLE: still down")).toBe(true);
      // Dead letters are never claimed again, and cannot be retried.
      expect(await claimAll(store, later(100 * LEASE))).toEqual([]);
      expect(await store.retryOutbox(retried, { error: "x", notBefore })).toBe(false);

      expect(await store.countDeadLetters()).toBe(2);
      expect(await store.countPendingOutbox()).toBe(0);
      const dead = await store.listDeadLetters();
      expect(dead).toEqual([
        {
          ...completed,
          attempts: 1,
          lastError: "NOT_FOUND: no such customer",
          deadLetterTime: deadAt.toISOString(),
        },
        {
          ...accepted,
          attempts: 2,
          lastError: "UNAVAILABLE: still down",
          deadLetterTime: expect.any(String),
        },
      ]);
      expect(await store.listDeadLetters({ limit: 1 })).toEqual(dead.slice(0, 1));
      // Completing a dead letter (a late success) removes it.
      await store.completeOutbox([completed.messageId]);
      expect(await store.countDeadLetters()).toBe(1);
    });

    it("gives each message to one of several concurrent claimants", async () => {
      const database = await backend.freshDatabase();
      const stores = await Promise.all([database.open(), database.open(), database.open()]);
      opened.push(...stores);
      const all: OutboxMessage[] = [];
      for (let i = 0; i < 20; i++) {
        const orderId = `order-claim-${i}`;
        const messages = ["ORDER_ACCEPTED", "ORDER_COMPLETED", "SHIPMENT_DELIVERED"].map((kind) =>
          message(orderId, kind, `s-${i}`),
        );
        all.push(...messages);
        await stores[i % 3]?.saveOrder(makeOrder({ orderId }), [], messages);
      }

      // Six claimants (two per store instance) race in small batches until nothing is left.
      const claims = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const store = stores[i % 3] as OrderStore;
          const mine: string[] = [];
          for (;;) {
            const batch = await store.claimOutbox({ limit: 4, leaseMs: LEASE });
            if (batch.length === 0) return mine;
            mine.push(...batch.map((m) => m.messageId));
          }
        }),
      );
      const claimed = claims.flat();
      expect(claimed.sort()).toEqual(idsOf(all));
      expect(new Set(claimed).size).toBe(claimed.length);
    });
  });

  describe("accept-first submissions and workflow starts", () => {
    const LEASE = 60_000;
    const request = (orderId: string, fingerprint: string): WorkflowStartRequest => ({
      workflowType: "orderWorkflow",
      workflowId: `order-${orderId}`,
      taskQueue: "orders",
      args: [{ submission: { orderId, note: "ünï ✓" }, acceptTime: at(0) }],
      memo: { submissionFingerprint: fingerprint, acceptTime: at(0) },
    });
    const acceptance = (orderId: string, fingerprint: string, overrides: Partial<Order> = {}) => ({
      order: makeOrder({ orderId, ...overrides }),
      entries: [makeEntry(orderId, 1)],
      outbox: [
        {
          messageId: `${orderId}:notify:ORDER_ACCEPTED:`,
          orderId,
          customerId: "customer-1",
          kind: "ORDER_ACCEPTED",
          subject: "",
          data: {},
          createTime: at(0),
        },
      ],
      fingerprint,
      start: request(orderId, fingerprint),
    });
    const later = (ms: number) => new Date(Date.now() + ms);

    it("records version 1, its timeline, notification, event, fingerprint and start in one go", async () => {
      const store = await freshStore();
      const accepted = acceptance("order-accept", "fp-1");
      expect(await store.acceptOrder({ ...accepted, startGraceMs: 5_000 })).toEqual({
        accepted: true,
      });
      expect(await store.getOrder("order-accept")).toEqual(accepted.order);
      expect(await store.getHistory("order-accept")).toEqual(accepted.entries);
      expect(await store.getOrderVersionsAfter("order-accept", 0, 10)).toEqual([accepted.order]);
      expect(
        (await store.listOrderEvents({ afterPosition: 0, limit: 10 })).map((e) => e.type),
      ).toEqual(["CREATED"]);
      expect(await store.countPendingOutbox()).toBe(1);
      expect(await store.getSubmissionFingerprint("order-accept")).toBe("fp-1");
      expect(await store.getWorkflowStart("order-accept")).toEqual({
        orderId: "order-accept",
        fingerprint: "fp-1",
        request: accepted.start,
        createTime: expect.any(String),
        parked: false,
      });
      expect(await store.countPendingWorkflowStarts()).toBe(1);
      // Left to the accepting process for the grace period, then due.
      expect(await store.claimWorkflowStarts({ limit: 10, leaseMs: LEASE })).toEqual([]);
      const [claim, ...rest] = await store.claimWorkflowStarts({
        limit: 10,
        leaseMs: LEASE,
        now: later(6_000),
      });
      expect(rest).toEqual([]);
      expect(claim).toMatchObject({ orderId: "order-accept", attempts: 1, lastError: "" });
      expect(claim?.request).toEqual(accepted.start);

      // The workflow's own write of version 1 (a higher rank) replaces the API's.
      const fromWorkflow = { ...accepted.order, statusReason: "from the workflow" };
      await store.saveOrder(fromWorkflow, accepted.entries, accepted.outbox, { writeRank: 3 });
      expect(await store.getOrder("order-accept")).toEqual(fromWorkflow);

      await store.completeWorkflowStart("order-accept");
      await store.completeWorkflowStart("order-accept");
      expect(await store.getWorkflowStart("order-accept")).toBeNull();
      expect(await store.countPendingWorkflowStarts()).toBe(0);
      // The fingerprint stays.
      expect(await store.getSubmissionFingerprint("order-accept")).toBe("fp-1");
    });

    it("writes nothing for an order that exists: repeated, conflicting, concurrent, or accepted before", async () => {
      const store = await freshStore();
      const first = acceptance("order-dup", "fp-1");
      const results = await Promise.all([
        store.acceptOrder(first),
        store.acceptOrder(first),
        store.acceptOrder(acceptance("order-dup", "fp-2", { customerId: "someone-else" })),
        store.acceptOrder(first),
      ]);
      expect(results.filter((r) => r.accepted)).toHaveLength(1);
      const fingerprint = await store.getSubmissionFingerprint("order-dup");
      expect(["fp-1", "fp-2"]).toContain(fingerprint);
      expect((await store.getWorkflowStart("order-dup"))?.fingerprint).toBe(fingerprint);
      expect(await store.countPendingWorkflowStarts()).toBe(1);
      expect(await store.getOrderVersionsAfter("order-dup", 0, 10)).toHaveLength(1);
      expect(await store.listOrderEvents({ afterPosition: 0, limit: 10 })).toHaveLength(1);

      // Again once its workflow has started (the start record is gone): nothing comes back.
      await store.completeWorkflowStart("order-dup");
      expect(await store.acceptOrder(first)).toEqual({ accepted: false });
      expect(await store.getWorkflowStart("order-dup")).toBeNull();
      expect(await store.getSubmissionFingerprint("order-dup")).toBe(fingerprint);

      // An order saved before accept-first (no fingerprint): nothing of the acceptance lands.
      const legacy = makeOrder({ orderId: "order-legacy", version: 4, status: "PROCESSING" });
      const legacyEntries = [makeEntry("order-legacy", 1, { actor: "the first submit" })];
      await store.saveOrder(legacy, legacyEntries);
      expect(await store.acceptOrder(acceptance("order-legacy", "fp-3"))).toEqual({
        accepted: false,
      });
      expect(await store.getOrder("order-legacy")).toEqual(legacy);
      expect(await store.getSubmissionFingerprint("order-legacy")).toBeNull();
      expect(await store.getWorkflowStart("order-legacy")).toBeNull();
      expect(await store.getHistory("order-legacy")).toEqual(legacyEntries);

      // A failing write is a failure, not "exists", and leaves nothing behind.
      const broken = acceptance("order-broken", "fp-4");
      await expect(
        store.acceptOrder({
          ...broken,
          outbox: [{ ...broken.outbox[0], customerId: null } as unknown as OutboxMessage],
        }),
      ).rejects.toThrow();
      expect(await store.getOrder("order-broken")).toBeNull();
      expect(await store.getSubmissionFingerprint("order-broken")).toBeNull();
      expect(await store.getWorkflowStart("order-broken")).toBeNull();
    });

    it("leases claimed starts, retries them at their time, and parks one for an operator", async () => {
      const stores = [await freshStore()];
      const database = await backend.freshDatabase();
      const [a, b] = [await database.open(), await database.open()];
      stores.push(a, b);
      opened.push(a, b);
      const orderIds = upTo(12).map((i) => `order-start-${String(i).padStart(2, "0")}`);
      for (const orderId of orderIds) await a.acceptOrder(acceptance(orderId, `fp-${orderId}`));

      // Two instances, three claimants each, race in small batches: each start goes to one.
      const claims = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const store = i % 2 === 0 ? a : b;
          const mine: ClaimedWorkflowStart[] = [];
          for (;;) {
            const batch = await store.claimWorkflowStarts({ limit: 2, leaseMs: LEASE });
            if (batch.length === 0) return mine;
            mine.push(...batch);
          }
        }),
      );
      const claimed = claims.flat();
      expect(claimed.map((c) => c.orderId).sort()).toEqual(orderIds);
      expect(await a.claimWorkflowStarts({ limit: 100, leaseMs: LEASE })).toEqual([]);

      const [one, two, three] = claimed.sort((x, y) => (x.orderId < y.orderId ? -1 : 1));
      if (one === undefined || two === undefined || three === undefined)
        throw new Error("unreachable");
      // A failed start: due again at its time, with its error.
      expect(
        await a.retryWorkflowStart(one, { error: "unreachable", notBefore: later(1_000) }),
      ).toBe(true);
      expect(await a.retryWorkflowStart(one, { error: "again", notBefore: new Date() })).toBe(
        false,
      );
      expect(await b.claimWorkflowStarts({ limit: 100, leaseMs: LEASE })).toEqual([]);
      const retried = await b.claimWorkflowStarts({ limit: 1, leaseMs: LEASE, now: later(2_000) });
      expect(retried).toMatchObject([
        { orderId: one.orderId, attempts: 2, lastError: "unreachable" },
      ]);

      // A lease that ran out: another claimant takes it, the old claim's settlement is refused.
      const stolen = await b.claimWorkflowStarts({
        limit: 100,
        leaseMs: LEASE,
        now: later(2 * LEASE),
      });
      expect(stolen.map((c) => c.orderId).sort()).toEqual(orderIds);
      expect(await a.retryWorkflowStart(two, { error: "late", notBefore: new Date() })).toBe(false);

      // Parked: never claimed again, listed for an operator, not pending.
      expect(await a.parkWorkflowStart(three.orderId, "a conflicting workflow exists")).toBe(true);
      expect(await a.parkWorkflowStart(three.orderId, "again")).toBe(false);
      expect(await a.getWorkflowStart(three.orderId)).toMatchObject({ parked: true });
      expect(await a.countPendingWorkflowStarts()).toBe(orderIds.length - 1);
      expect(await a.listParkedWorkflowStarts()).toMatchObject([
        { orderId: three.orderId, lastError: "a conflicting workflow exists", attempts: 2 },
      ]);
      expect(
        (await b.claimWorkflowStarts({ limit: 100, leaseMs: LEASE, now: later(10 * LEASE) })).map(
          (c) => c.orderId,
        ),
      ).not.toContain(three.orderId);
      await expect(a.claimWorkflowStarts({ limit: 0, leaseMs: LEASE })).rejects.toBeInstanceOf(
        RangeError,
      );
    });
  });

  it("answers ping, and close is idempotent", async () => {
    const database = await backend.freshDatabase();
    const store = await database.open();
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
    await store.close();
    await expect(store.ping()).rejects.toThrow();
  });
});
