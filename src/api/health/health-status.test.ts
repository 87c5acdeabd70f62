import { describe, expect, it } from "vitest";
import { createHealthStatus, OVERALL_SERVICE, ServingStatus } from "./health-status.js";

/** Pull the next value of an iterator, failing instead of hanging. */
async function next<T>(iterator: AsyncIterator<T>, ms = 1_000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no value within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([iterator.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("createHealthStatus", () => {
  it("starts with the server SERVING overall and nothing else known", () => {
    const health = createHealthStatus();
    expect(health.get(OVERALL_SERVICE)).toBe(ServingStatus.SERVING);
    expect(health.get("oms.v1.OrderService")).toBeUndefined();
    expect(health.list()).toEqual(new Map([["", ServingStatus.SERVING]]));
  });

  it("takes initial statuses, including the overall one", () => {
    const health = createHealthStatus({
      initial: { "": ServingStatus.NOT_SERVING, "oms.v1.OrderService": ServingStatus.SERVING },
    });
    expect(health.list()).toEqual(
      new Map([
        ["", ServingStatus.NOT_SERVING],
        ["oms.v1.OrderService", ServingStatus.SERVING],
      ]),
    );
  });

  it("sets and clears a service", () => {
    const health = createHealthStatus();
    health.set("a", ServingStatus.NOT_SERVING);
    expect(health.get("a")).toBe(ServingStatus.NOT_SERVING);
    health.clear("a");
    expect(health.get("a")).toBeUndefined();
  });

  it("list returns a snapshot, not the live map", () => {
    const health = createHealthStatus();
    const snapshot = health.list();
    snapshot.set("x", ServingStatus.SERVING);
    expect(health.get("x")).toBeUndefined();
  });

  it("on shutdown marks everything NOT_SERVING and ignores later changes", () => {
    const health = createHealthStatus({ initial: { a: ServingStatus.SERVING } });
    health.shutdown();
    expect(health.isShutdown).toBe(true);
    health.set("a", ServingStatus.SERVING);
    health.set("b", ServingStatus.SERVING);
    health.clear("a");
    expect(health.list()).toEqual(
      new Map([
        ["", ServingStatus.NOT_SERVING],
        ["a", ServingStatus.NOT_SERVING],
      ]),
    );
  });

  describe("watch", () => {
    it("yields the current status at once, then each change, skipping repeats", async () => {
      const health = createHealthStatus({ initial: { a: ServingStatus.SERVING } });
      const controller = new AbortController();
      const stream = health.watch("a", controller.signal)[Symbol.asyncIterator]();
      expect(await next(stream)).toEqual({ done: false, value: ServingStatus.SERVING });
      health.set("a", ServingStatus.SERVING); // no change: nothing sent
      health.set("a", ServingStatus.NOT_SERVING);
      expect(await next(stream)).toEqual({ done: false, value: ServingStatus.NOT_SERVING });
      health.clear("a");
      expect(await next(stream)).toEqual({ done: false, value: ServingStatus.SERVICE_UNKNOWN });
      controller.abort();
      expect(await next(stream)).toEqual({ done: true, value: undefined });
    });

    it("reports SERVICE_UNKNOWN for an unknown service, then its status once known", async () => {
      const health = createHealthStatus();
      const controller = new AbortController();
      const stream = health.watch("later", controller.signal)[Symbol.asyncIterator]();
      expect((await next(stream)).value).toBe(ServingStatus.SERVICE_UNKNOWN);
      health.set("later", ServingStatus.SERVING);
      expect((await next(stream)).value).toBe(ServingStatus.SERVING);
      controller.abort();
    });

    it("gives a slow consumer only the latest status", async () => {
      const health = createHealthStatus({ initial: { a: ServingStatus.SERVING } });
      const controller = new AbortController();
      const stream = health.watch("a", controller.signal)[Symbol.asyncIterator]();
      expect((await next(stream)).value).toBe(ServingStatus.SERVING);
      health.set("a", ServingStatus.NOT_SERVING);
      health.set("a", ServingStatus.UNKNOWN);
      health.set("a", ServingStatus.NOT_SERVING);
      expect((await next(stream)).value).toBe(ServingStatus.NOT_SERVING);
      // A flap back to the last sent status is no change at all.
      health.set("a", ServingStatus.SERVING);
      health.set("a", ServingStatus.NOT_SERVING);
      health.set("a", ServingStatus.SERVING);
      expect((await next(stream)).value).toBe(ServingStatus.SERVING);
      controller.abort();
    });

    it("ends while waiting when the signal aborts", async () => {
      const health = createHealthStatus();
      const controller = new AbortController();
      const stream = health.watch("", controller.signal)[Symbol.asyncIterator]();
      await next(stream);
      const pending = next(stream);
      controller.abort();
      expect(await pending).toEqual({ done: true, value: undefined });
    });

    it("yields nothing when the signal is already aborted", async () => {
      const health = createHealthStatus();
      const values: ServingStatus[] = [];
      for await (const status of health.watch("", AbortSignal.abort())) values.push(status);
      expect(values).toEqual([]);
    });

    it("tells every watcher of a service, and each watcher only about its service", async () => {
      const health = createHealthStatus({
        initial: { a: ServingStatus.SERVING, b: ServingStatus.SERVING },
      });
      const controller = new AbortController();
      const a1 = health.watch("a", controller.signal)[Symbol.asyncIterator]();
      const a2 = health.watch("a", controller.signal)[Symbol.asyncIterator]();
      const b = health.watch("b", controller.signal)[Symbol.asyncIterator]();
      await Promise.all([next(a1), next(a2), next(b)]);
      health.set("a", ServingStatus.NOT_SERVING);
      expect((await next(a1)).value).toBe(ServingStatus.NOT_SERVING);
      expect((await next(a2)).value).toBe(ServingStatus.NOT_SERVING);
      const bNext = next(b, 50);
      await expect(bNext).rejects.toThrow(/no value/);
      controller.abort();
    });

    it("sees NOT_SERVING on shutdown", async () => {
      const health = createHealthStatus();
      const controller = new AbortController();
      const stream = health.watch("", controller.signal)[Symbol.asyncIterator]();
      expect((await next(stream)).value).toBe(ServingStatus.SERVING);
      health.shutdown();
      expect((await next(stream)).value).toBe(ServingStatus.NOT_SERVING);
      controller.abort();
    });
  });
});
