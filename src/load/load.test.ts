import { describe, expect, it } from "vitest";
import { normalizeAddress, parseDuration, parseLoadArgs, UsageError } from "./cli.js";
import { DEFAULT_MIX, orderRequest, parseMix, planKinds } from "./mix.js";
import { percentile } from "./stats.js";

describe("planKinds", () => {
  it("gives each kind its share exactly, spread through the run", () => {
    const plan = planKinds(100, DEFAULT_MIX);
    const count = (k: string) => plan.filter((p) => p === k).length;
    expect([
      count("two-warehouse"),
      count("out-of-stock"),
      count("cancel"),
      count("declined"),
    ]).toEqual([80, 5, 10, 5]);
    // Not in blocks: the first 20 already hold a cancel.
    expect(plan.slice(0, 20)).toContain("cancel");
    expect(planKinds(12, parseMix("two-warehouse=6,out-of-stock=2,cancel=2,declined=2"))).toEqual(
      expect.arrayContaining(["out-of-stock", "cancel", "declined"]),
    );
    expect(planKinds(3, { cancel: 1 })).toEqual(["cancel", "cancel", "cancel"]);
  });
});

describe("parseMix", () => {
  it("reads weights and rejects unknown kinds", () => {
    expect(parseMix("two-warehouse=3, cancel=1")).toEqual({ "two-warehouse": 3, cancel: 1 });
    expect(() => parseMix("express=1")).toThrow(/unknown order kind "express"/);
    expect(() => parseMix("cancel=x")).toThrow(/cancel=<weight>/);
    expect(() => parseMix("cancel=0")).toThrow(/more than 0/);
  });
});

describe("orderRequest", () => {
  it("builds valid ids within the API's limits", () => {
    const runId = "r".repeat(40);
    const req = orderRequest("declined", runId, 9_999_999);
    expect(req.orderId.length).toBeLessThanOrEqual(64);
    expect(req.customerId.length).toBeLessThanOrEqual(64);
    expect(req.customerId.startsWith("declined-")).toBe(true);
    expect(orderRequest("out-of-stock", "r", 1).items.map((i) => i.sku)).toContain("OOS-LOAD");
    expect(orderRequest("two-warehouse", "r", 1).items.map((i) => i.sku)).toEqual([
      "SKU-1",
      "KEYBOARD-MX",
    ]);
  });
});

describe("parseLoadArgs", () => {
  it("has defaults", () => {
    const { options, json } = parseLoadArgs([]);
    expect(options).toMatchObject({
      address: "http://localhost:50051",
      orders: 100,
      concurrency: 16,
      mix: DEFAULT_MIX,
      timeoutMs: 120_000,
    });
    expect(options.runId).toMatch(/^load-[0-9a-f]{8}$/);
    expect(json).toBe(false);
  });

  it("reads every flag", () => {
    const { options, json } = parseLoadArgs([
      "--address=oms.internal:443",
      "--orders",
      "12",
      "--sequential",
      "--mix",
      "cancel=1",
      "--run-id",
      "ci-7",
      "--timeout",
      "2m",
      "--json",
    ]);
    expect(options).toEqual({
      address: "http://oms.internal:443",
      orders: 12,
      concurrency: 1,
      mix: { cancel: 1 },
      runId: "ci-7",
      timeoutMs: 120_000,
    });
    expect(json).toBe(true);
  });

  it("rejects bad values with a usage error", () => {
    expect(() => parseLoadArgs(["--orders", "0"])).toThrow(UsageError);
    expect(() => parseLoadArgs(["--run-id", "bad id"])).toThrow(/--run-id/);
    expect(() => parseLoadArgs(["--bogus"])).toThrow(UsageError);
    expect(() => parseLoadArgs(["--concurrency", "4", "--sequential"])).toThrow(/--sequential/);
  });

  it("takes credentials from flags or OMS_LOAD_TOKEN, and refuses incomplete ones", () => {
    expect(parseLoadArgs(["--token", "t1"]).credentials.token).toBe("t1");
    expect(parseLoadArgs([], { OMS_LOAD_TOKEN: "t2" }).credentials.token).toBe("t2");
    expect(() => parseLoadArgs(["--token", "t", "--token-file", "f"])).toThrow(/one or the other/);
    expect(() => parseLoadArgs(["--address", "https://h:1", "--cert", "c"])).toThrow(
      /--cert and --key/,
    );
    expect(() => parseLoadArgs(["--cacert", "ca.pem"])).toThrow(/https/);
    expect(
      parseLoadArgs(["--address", "https://h:1", "--cacert", "ca", "--cert", "c", "--key", "k"])
        .credentials,
    ).toMatchObject({ caFile: "ca", certFile: "c", keyFile: "k" });
  });

  it("normalizes addresses and durations", () => {
    expect(normalizeAddress("localhost:50051")).toBe("http://localhost:50051");
    expect(normalizeAddress("https://oms.example.com/")).toBe("https://oms.example.com");
    expect(() => normalizeAddress("ftp://x")).toThrow(/only http/);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("90")).toBe(90_000);
    expect(() => parseDuration("soon")).toThrow(/--timeout/);
  });
});

describe("percentile", () => {
  it("is the nearest rank", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile([], 50)).toBeUndefined();
  });
});
