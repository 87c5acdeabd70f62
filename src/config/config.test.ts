import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LOAD_CATALOG_FILE } from "../reference-services/inventory/catalog.js";
import { ConfigError, loadConfig } from "./config.js";

describe("loadConfig", () => {
  it("has working defaults", () => {
    const config = loadConfig({}, "/srv/oms");
    expect(config.api.port).toBe(50051);
    expect(config.temporal.address).toBeUndefined();
    expect(config.temporal.taskQueue).toBe("oms-orders");
    expect(config.dataDir).toBe("/srv/oms/.oms/data");
    expect(config.referenceServices.faults).toEqual({});
  });

  it("lists every bad value in one error, one line each", () => {
    let error: unknown;
    try {
      loadConfig({
        OMS_API_PORT: "http",
        OMS_API_HEALTH: "maybe",
        OMS_LOG_LEVEL: "loud",
        TEMPORAL_TLS_CERT: "client.pem",
        OMS_REFERENCE_FAULTS: '{"billing":{"outage":true}}',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(5);
    expect(problems[0]).toBe('OMS_API_PORT="http": expected a whole number from 0 to 65535');
    expect(problems.join("\n")).toMatch(/OMS_API_HEALTH.*true or false/);
    expect(problems.join("\n")).toMatch(/OMS_LOG_LEVEL.*one of fatal/);
    expect(problems.join("\n")).toMatch(
      /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together/,
    );
    expect(problems.join("\n")).toMatch(/OMS_REFERENCE_FAULTS: unknown service "billing"/);
  });

  it("compresses the worker's gRPC to Temporal only when asked (OMS_WORKER_GRPC_COMPRESSION)", () => {
    expect(loadConfig({}).temporal.workerGrpcCompression).toBe("none");
    expect(loadConfig({ OMS_WORKER_GRPC_COMPRESSION: "gzip" }).temporal.workerGrpcCompression).toBe(
      "gzip",
    );
    expect(() => loadConfig({ OMS_WORKER_GRPC_COMPRESSION: "zstd" })).toThrow(
      /OMS_WORKER_GRPC_COMPRESSION="zstd": expected one of none, gzip/,
    );
  });

  it("reads the SLA targets: on by default, 0 turns a stage off, bad values listed", () => {
    expect(loadConfig({}).workflow.slaPolicy).toEqual({
      authorizedWithinMs: 3_600_000,
      dispatchedWithinMs: 2 * 86_400_000,
      deliveredWithinMs: 7 * 86_400_000,
      atRiskPercent: 80,
    });
    expect(
      loadConfig({ OMS_SLA_AUTHORIZED_WITHIN_MS: "0", OMS_SLA_AT_RISK_PERCENT: "50" }).workflow
        .slaPolicy,
    ).toMatchObject({ authorizedWithinMs: 0, atRiskPercent: 50 });
    expect(() =>
      loadConfig({ OMS_SLA_DISPATCHED_WITHIN_MS: "-1", OMS_SLA_AT_RISK_PERCENT: "120" }),
    ).toThrow(/OMS_SLA_DISPATCHED_WITHIN_MS[\s\S]*OMS_SLA_AT_RISK_PERCENT/);
  });

  it("serves metrics only when OMS_METRICS_PORT is set", () => {
    expect(loadConfig({}).metrics).toEqual({
      host: "0.0.0.0",
      port: undefined,
      temporalPort: undefined,
    });
    expect(
      loadConfig({ OMS_METRICS_PORT: "9464", OMS_TEMPORAL_METRICS_PORT: "9465" }).metrics,
    ).toEqual({
      host: "0.0.0.0",
      port: 9464,
      temporalPort: 9465,
    });
    expect(() => loadConfig({ OMS_METRICS_PORT: "metrics" })).toThrow(
      'OMS_METRICS_PORT="metrics": expected a whole number from 0 to 65535',
    );
  });

  it("reads faults for the reference services", () => {
    const config = loadConfig({
      OMS_REFERENCE_FAULTS: '{"payments":{"errorRate":0.2},"inventory":{"outage":true}}',
    });
    expect(config.referenceServices.faults).toEqual({
      payments: { errorRate: 0.2 },
      inventory: { outage: true },
    });
    expect(() => loadConfig({ OMS_REFERENCE_FAULTS: '{"payments":{"errorRate":2}}' })).toThrow(
      /rates must be/,
    );
    expect(() => loadConfig({ OMS_REFERENCE_FAULTS: "not json" })).toThrow(/expected JSON/);
    expect(
      loadConfig({ OMS_REFERENCE_FAULTS: '{"shipping":{"rejectWarehouseIds":["wh-east"]}}' })
        .referenceServices.faults,
    ).toEqual({ shipping: { rejectWarehouseIds: ["wh-east"] } });
    expect(() =>
      loadConfig({ OMS_REFERENCE_FAULTS: '{"shipping":{"rejectWarehouseIds":"wh-east"}}' }),
    ).toThrow(/rejectWarehouseIds must be a list of warehouse ids/);
  });

  it("reads the authorizations' lifetime as a duration, and the renewal margin", () => {
    expect(loadConfig({}).referenceServices.authorizationTtlMs).toBe(7 * 86_400_000);
    expect(loadConfig({}).workflow.reauthorizeMarginMs).toBe(86_400_000);
    expect(loadConfig({}).workflow.resourcing).toEqual({ maxAttempts: 2, bookingMaxAttempts: 10 });
    expect(
      loadConfig({ OMS_RESOURCING_MAX_ATTEMPTS: "0", OMS_BOOKING_MAX_ATTEMPTS: "3" }).workflow
        .resourcing,
    ).toEqual({ maxAttempts: 0, bookingMaxAttempts: 3 });
    const config = loadConfig({ OMS_REFERENCE_AUTH_TTL: "30s", OMS_REAUTHORIZE_MARGIN_MS: "5000" });
    expect(config.referenceServices.authorizationTtlMs).toBe(30_000);
    expect(config.workflow.reauthorizeMarginMs).toBe(5_000);
    expect(
      loadConfig({ OMS_REFERENCE_AUTH_TTL: "1500ms" }).referenceServices.authorizationTtlMs,
    ).toBe(1_500);
    for (const bad of ["7", "0s", "7 days", "-1d"]) {
      expect(() => loadConfig({ OMS_REFERENCE_AUTH_TTL: bad })).toThrow(
        `OMS_REFERENCE_AUTH_TTL=${JSON.stringify(bad)}: expected a positive duration such as 30s, 12h or 7d`,
      );
    }
  });

  it("reads and checks the reference inventory's catalog file", () => {
    expect(loadConfig({}).referenceServices.catalog).toBeUndefined();
    const catalog = loadConfig({ OMS_REFERENCE_CATALOG: LOAD_CATALOG_FILE }).referenceServices
      .catalog;
    expect(catalog?.stock["KEYBOARD-MX"]).toEqual({ "wh-west": 1_000_000 });

    const dir = mkdtempSync(path.join(tmpdir(), "oms-config-"));
    writeFileSync(path.join(dir, "broken.json"), "{ not json");
    writeFileSync(path.join(dir, "invalid.json"), '{"warehouses":[],"stock":{}}');
    expect(() => loadConfig({ OMS_REFERENCE_CATALOG: "missing.json" }, dir)).toThrow(
      `OMS_REFERENCE_CATALOG="missing.json": cannot read ${path.join(dir, "missing.json")} (ENOENT)`,
    );
    expect(() => loadConfig({ OMS_REFERENCE_CATALOG: "broken.json" }, dir)).toThrow(
      /OMS_REFERENCE_CATALOG="broken.json": .*broken\.json is not valid JSON/,
    );
    expect(() => loadConfig({ OMS_REFERENCE_CATALOG: "invalid.json" }, dir)).toThrow(
      /invalid\.json: invalid inventory catalog: warehouses must be a non-empty list/,
    );
  });

  it("keeps the reference services' state under the data directory unless told otherwise", () => {
    const cwd = "/srv/oms";
    const stateFile = (env: Record<string, string>) =>
      loadConfig(env, cwd).referenceServices.stateFile;
    expect(stateFile({})).toBe("/srv/oms/.oms/data/reference-services.sqlite");
    expect(stateFile({ OMS_DATA_DIR: "/var/lib/oms" })).toBe(
      "/var/lib/oms/reference-services.sqlite",
    );
    expect(stateFile({ OMS_REFERENCE_STATE_FILE: "refs.sqlite" })).toBe("/srv/oms/refs.sqlite");
    expect(stateFile({ OMS_REFERENCE_STATE_FILE: ":memory:" })).toBe(":memory:");
  });
});
