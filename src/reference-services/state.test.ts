import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decode, encode, openReferenceState } from "./state.js";

describe("the reference state's records", () => {
  it("round-trip bigint, Date, Map and bytes through JSON", () => {
    const record = {
      amountMinor: 12_345_678_901_234_567_890n,
      at: new Date("2026-11-30T01:02:03.456Z"),
      held: new Map([["wh-east", new Map([["SKU-1", 2]])]]),
      bytes: new Uint8Array([0, 1, 255]),
      nested: [{ seconds: 5n, note: "x" }],
    };
    expect(decode(encode(record))).toEqual(record);
  });

  it("are changed only inside a transaction", () => {
    const state = openReferenceState();
    const map = state.map<{ n: number }>("payment_authorizations");
    expect(() => map.set("a", { n: 1 })).toThrow(/set outside a transaction/);
    expect(() => map.get("a")).toThrow(/get outside a transaction/);
    expect(() => state.transaction(async () => {})).toThrow(/cannot span an await/);
    state.close();
  });

  it("can be peeked at for reading, in a transaction or not", () => {
    const state = openReferenceState();
    const map = state.map<{ n: number }>("payment_authorizations");
    state.transaction(() => map.set("a", { n: 1 }));
    expect(map.peek("a")).toEqual({ n: 1 });
    expect(state.transaction(() => [map.peek("a"), map.peek("b")])).toEqual([{ n: 1 }, undefined]);
    state.close();
  });

  it("are put back as last written when a transaction throws, in-place changes included", () => {
    const state = openReferenceState();
    const map = state.map<{ n: number }>("payment_authorizations");
    const log = state.log<string>("payment_ledger");
    state.transaction(() => {
      map.set("a", { n: 1 });
      log.push("first");
    });
    expect(() =>
      state.transaction(() => {
        const a = map.get("a") as { n: number };
        a.n = 2;
        map.set("b", { n: 3 });
        log.push("second");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect([...map.entries()]).toEqual([["a", { n: 1 }]]);
    expect([...log]).toEqual(["first"]);
    // A later transaction that changes a record in place saves it.
    state.transaction(() => {
      (map.get("a") as { n: number }).n = 4;
    });
    expect(state.transaction(() => map.get("a"))).toEqual({ n: 4 });
    state.close();
  });

  it("are on disk as the last transaction that changed them left them, reads in between", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "oms-state-"));
    const file = path.join(dir, "state.sqlite");
    try {
      const state = openReferenceState(file);
      const map = state.map<{ n: number }>("payment_authorizations");
      const log = state.log<string>("payment_ledger");
      state.transaction(() => {
        map.set("a", { n: 1 });
        map.set("b", { n: 2 });
        log.push("first");
      });
      // Reads only (no SQLite transaction), then changes in place, a removal and an append.
      expect(state.transaction(() => map.get("a"))).toEqual({ n: 1 });
      state.transaction(() => {
        (map.get("a") as { n: number }).n = 5;
        map.delete("b");
        log.push("second");
      });
      expect(state.transaction(() => [map.get("a"), map.get("b"), map.get("c")])).toEqual([
        { n: 5 },
        undefined,
        undefined,
      ]);
      state.close();

      const reopened = openReferenceState(file);
      expect([...reopened.map<{ n: number }>("payment_authorizations").entries()]).toEqual([
        ["a", { n: 5 }],
      ]);
      expect([...reopened.log<string>("payment_ledger")]).toEqual(["first", "second"]);
      reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
