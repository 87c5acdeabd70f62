/**
 * A SQLite write that finds another process's write lock waits for it
 * without blocking the thread: the process's other work (the API's other
 * calls) goes on, and the write lands once the lock is free. A store can
 * leave WAL checkpoints (synchronous, with an fsync) to the other processes.
 */

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { acceptedEntry, newOrder } from "../../src/domain/new-order.js";
import { DEFAULT_PRICING } from "../../src/domain/pricing.js";
import { createSqliteStore } from "../../src/readmodel/sqlite.js";
import type { OrderStore } from "../../src/readmodel/store.js";

const dir = mkdtempSync(join(tmpdir(), "oms-sqlite-busy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function order(orderId: string) {
  const o = newOrder(
    {
      orderId,
      customerId: "customer-1",
      currencyCode: "EUR",
      items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1250 }],
      shippingAddress: {
        name: "Ada Lovelace",
        line1: "12 St James's Square",
        line2: "",
        city: "London",
        region: "",
        postalCode: "SW1Y 4JH",
        countryCode: "GB",
      },
    },
    "2026-01-01T00:00:00.000Z",
    DEFAULT_PRICING,
  );
  return { order: o, entries: [acceptedEntry(o, "tester")] };
}

/** The store, and another connection to its file that plays the other process. */
async function storeWithRival(name: string, busyTimeoutMs: number) {
  const filename = join(dir, `${name}.sqlite`);
  const store: OrderStore = await createSqliteStore({
    filename,
    pageTokenSecret: "s",
    busyTimeoutMs,
  });
  const rival = new Database(filename);
  return { store, rival };
}

/** Tracks whether a promise has settled. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

describe("SQLite writes while another connection holds the write lock", () => {
  it("wait without blocking the thread, and land once the lock is released", async () => {
    const { store, rival } = await storeWithRival("waits", 30_000);
    try {
      rival.exec("BEGIN IMMEDIATE");
      const { order: o, entries } = order("busy-1");
      const save = track(store.saveOrder(o, entries));
      // Timers run while the write waits: the thread is not asleep in SQLite.
      let ticks = 0;
      for (let i = 0; i < 5; i++) {
        await sleep(10);
        ticks += 1;
      }
      expect(ticks).toBe(5);
      expect(save.settled).toBe(false);
      expect(await store.getOrder("busy-1")).toBeNull();

      rival.exec("COMMIT");
      await expect(save.promise).resolves.toEqual({ applied: true });
      expect((await store.getOrder("busy-1"))?.version).toBe(1);
    } finally {
      if (rival.inTransaction) rival.exec("ROLLBACK");
      rival.close();
      await store.close();
    }
  });

  it("fail with SQLITE_BUSY once the busy timeout has passed, having written nothing", async () => {
    const { store, rival } = await storeWithRival("gives-up", 100);
    try {
      rival.exec("BEGIN IMMEDIATE");
      const { order: o, entries } = order("busy-2");
      const started = performance.now();
      const save = track(store.saveOrder(o, entries));
      await sleep(1);
      // Not settled synchronously: the old busy handler slept the thread for the whole timeout.
      expect(save.settled).toBe(false);
      await expect(save.promise).rejects.toMatchObject({ code: "SQLITE_BUSY" });
      expect(performance.now() - started).toBeGreaterThanOrEqual(99);
      rival.exec("ROLLBACK");
      expect(await store.getOrder("busy-2")).toBeNull();
      // The connection's own busy timeout is back for reads and later writes.
      const { order: again, entries: againEntries } = order("busy-3");
      await expect(store.saveOrder(again, againEntries)).resolves.toEqual({ applied: true });
    } finally {
      if (rival.inTransaction) rival.exec("ROLLBACK");
      rival.close();
      await store.close();
    }
  });
});

describe("SQLite WAL checkpoints", () => {
  /** The WAL's size after the same writes, with the given autocheckpoint threshold. */
  async function walBytesAfterWrites(name: string, walAutocheckpointPages: number) {
    const filename = join(dir, `${name}.sqlite`);
    const store = await createSqliteStore({
      filename,
      pageTokenSecret: "s",
      walAutocheckpointPages,
    });
    try {
      for (let i = 0; i < 30; i++) {
        const { order: o, entries } = order(`${name}-${i}`);
        await store.saveOrder(o, entries);
      }
      return statSync(`${filename}-wal`).size;
    } finally {
      await store.close();
    }
  }

  it("a store that leaves checkpoints to others (the API's) lets the WAL grow; one that checkpoints keeps reusing it", async () => {
    const leaves = await walBytesAfterWrites("no-checkpoints", 0);
    const checkpoints = await walBytesAfterWrites("checkpoints", 4);
    // A checkpointed WAL restarts from its beginning: it stays about one transaction long.
    expect(leaves).toBeGreaterThan(5 * checkpoints);
  });
});
