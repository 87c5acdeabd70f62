import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createStore, resolveStoreLocation } from "../../src/readmodel/create-store.js";

describe("resolveStoreLocation", () => {
  it("uses SQLite in the data folder without a URL", () => {
    expect(resolveStoreLocation(undefined, "/data")).toEqual({
      kind: "sqlite",
      filename: "/data/readmodel.sqlite",
    });
    expect(resolveStoreLocation("  ", "/data")).toEqual({
      kind: "sqlite",
      filename: "/data/readmodel.sqlite",
    });
  });

  it("recognizes PostgreSQL URLs in both spellings", () => {
    for (const url of ["postgres://u:p@db:5432/oms", "postgresql://db/oms?sslmode=require"]) {
      expect(resolveStoreLocation(url, "/data")).toEqual({
        kind: "postgres",
        connectionString: url,
      });
    }
  });

  it("accepts sqlite: and file: URLs", () => {
    expect(resolveStoreLocation("sqlite:/var/oms/rm.db", "/data")).toEqual({
      kind: "sqlite",
      filename: "/var/oms/rm.db",
    });
    expect(resolveStoreLocation("sqlite:///var/oms/rm.db", "/data")).toEqual({
      kind: "sqlite",
      filename: "/var/oms/rm.db",
    });
    expect(resolveStoreLocation("sqlite:relative/rm.db", "/data")).toEqual({
      kind: "sqlite",
      filename: "relative/rm.db",
    });
    expect(resolveStoreLocation("file:///var/oms/r%20m.db", "/data")).toEqual({
      kind: "sqlite",
      filename: "/var/oms/r m.db",
    });
    expect(resolveStoreLocation("file:rm.db", "/data")).toEqual({
      kind: "sqlite",
      filename: "rm.db",
    });
  });

  it("rejects other schemes instead of falling back to SQLite", () => {
    expect(() => resolveStoreLocation("mysql://db/oms", "/data")).toThrow(/postgres:\/\//);
  });
});

describe("createStore", () => {
  const dir = mkdtempSync(join(tmpdir(), "oms-create-store-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates the data folder and the SQLite file, with migrations applied", async () => {
    const dataDir = join(dir, "nested", "data");
    const store = await createStore({ dataDir, pageTokenSecret: "s" });
    try {
      expect(store.kind).toBe("sqlite");
      expect(existsSync(join(dataDir, "readmodel.sqlite"))).toBe(true);
      await store.ping();
      expect(await store.listOrders({ pageSize: 0 })).toEqual({ orders: [], nextPageToken: "" });
    } finally {
      await store.close();
    }
  });

  it("refuses an empty page token secret", async () => {
    await expect(createStore({ dataDir: dir, pageTokenSecret: "" })).rejects.toThrow(
      /pageTokenSecret/,
    );
  });
});
