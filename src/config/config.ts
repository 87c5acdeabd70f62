import path from "node:path";
import {
  DEFAULT_HOLD_POLICY,
  HOLD_EXPIRY_ACTIONS,
  HOLD_TYPES,
  type HoldExpiryAction,
  type HoldPolicy,
} from "../domain/holds.js";
import { DEFAULT_REAUTHORIZE_MARGIN_MS } from "../domain/reauthorization.js";
import { DEFAULT_RESOURCING_POLICY, type ResourcingPolicy } from "../domain/resourcing.js";
import type { SlaPolicy } from "../domain/sla.js";
import { type Catalog, readCatalogFile } from "../reference-services/inventory/catalog.js";
import { DEFAULT_AUTHORIZATION_TTL_MS } from "../reference-services/payments/payment-store.js";
import { readSecurityConfig, type SecurityConfig } from "./security-config.js";

/**
 * Every setting of every process, read from environment variables once at
 * start and validated as a whole: a bad value stops the process with one clear
 * line per problem. docs/configuration.md lists them all.
 */
export interface Config {
  api: {
    host: string;
    port: number;
    /** Largest request or response message, in bytes. */
    maxMessageBytes: number;
    /** Cap on any client deadline, in milliseconds. */
    maxTimeoutMs: number;
    /** How long a shutdown waits for in-flight calls before cutting them. */
    shutdownGraceMs: number;
    /** Serve grpc.reflection.v1 and v1alpha (grpcurl, buf curl without protos). */
    reflection: boolean;
    /** Serve grpc.health.v1.Health. */
    health: boolean;
    /** How often dependencies (Temporal, the store) are probed for health. */
    healthProbeIntervalMs: number;
    /**
     * How long an accepted order's workflow start is left to the API process
     * that accepted it before the start dispatcher of any API process takes it.
     */
    workflowStartGraceMs: number;
  };
  temporal: {
    /** Unset: `oms dev` starts an embedded dev server. */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    tls: {
      enabled: boolean;
      certPath: string | undefined;
      keyPath: string | undefined;
      caPath: string | undefined;
      serverName: string | undefined;
    };
    apiKey: string | undefined;
    /**
     * Compression of the worker's gRPC messages to and from Temporal (polls,
     * histories, task completions). Off by default: next to the server it
     * only costs CPU on both ends; gzip saves bandwidth over a slow link.
     */
    workerGrpcCompression: "none" | "gzip";
    /** The embedded dev server, used when `address` is unset. */
    devServer: {
      cliPath: string;
      port: number;
      uiPort: number;
      dbFile: string;
    };
  };
  /** Durable data: the embedded Temporal and read-model databases. */
  dataDir: string;
  /** Rebuildable artifacts, e.g. the workflow bundle. */
  cacheDir: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  /**
   * How far V8 lets the old generation grow past what survived its last full
   * collection, in percent (src/cmd/heap-growth.ts); 0: V8's own choice.
   */
  heapGrowingPercent: number;
  /** The Prometheus endpoint (src/observability); tracing reads OpenTelemetry's own OTEL_* variables. */
  metrics: {
    host: string;
    /** Unset: no metrics endpoint. */
    port: number | undefined;
    /** Loopback port of the Temporal SDK's exporter, which /metrics includes; unset: a free one. */
    temporalPort: number | undefined;
  };
  readModel: {
    /** postgres://… for PostgreSQL; unset: SQLite at <dataDir>/readmodel.sqlite. */
    databaseUrl: string | undefined;
    /** HMAC key of ListOrders page tokens; the same on every API replica. */
    pageTokenSecret: string;
  };
  watch: {
    /** How often a WatchOrder stream looks for new versions. */
    pollIntervalMs: number;
    /** Concurrent WatchOrder streams per API process; more get RESOURCE_EXHAUSTED. */
    maxStreams: number;
  };
  workflow: {
    /** How long an order waits in CUSTOMER_ACTION_REQUIRED before it is cancelled. */
    customerActionTimeoutMs: number;
    /** Orders a worker keeps in memory between their workflow tasks (the sticky cache). */
    maxCachedWorkflows: number;
    /** Whether workers answer the stack trace query (costs CPU per workflow promise; src/temporal/worker.ts). */
    workflowStackTraces: boolean;
    /** Deadlines and expiry actions of holds per type, and the automatic fraud review. */
    holdPolicy: HoldPolicy;
    /** SLA targets per stage from acceptance (0: stage not tracked), fixed into each order when accepted. */
    slaPolicy: SlaPolicy;
    /** How long before an authorization expires an order not yet captured authorizes again. */
    reauthorizeMarginMs: number;
    /** Re-sourcing of fulfillments a warehouse rejects or whose booking keeps failing. */
    resourcing: ResourcingPolicy;
  };
  outbox: {
    /** How often a worker's notification dispatcher looks for due messages when not woken. */
    pollIntervalMs: number;
    /** How long a woken dispatcher gathers further messages before it claims (0: at once). */
    gatherMs: number;
  };
  returns: {
    /** How long after delivery items may be returned. */
    windowMs: number;
    /** How long after RequestReturn the parcel must be shipped, else the return expires. */
    shipWithinMs: number;
  };
  events: {
    /** NATS server URL(s) the workers publish order events to; unset: not published to NATS. */
    natsUrl: string | undefined;
    /** The JetStream stream (subjects oms.orders.>), created if missing. */
    natsStream: string;
    /** `oms dev` without OMS_EVENTS_NATS_URL: start an embedded nats-server and publish to it. */
    devServer: {
      enabled: boolean;
      binPath: string;
      port: number;
      storeDir: string;
    };
  };
  downstream: {
    /** Base URLs of the services the workers call; unset ones are served by `oms dev`'s reference services. */
    urls: {
      inventory: string | undefined;
      payments: string | undefined;
      shipping: string | undefined;
      notifications: string | undefined;
    };
    /** Deadline of one downstream call. */
    timeoutMs: number;
  };
  referenceServices: {
    host: string;
    port: number;
    /** A simulated courier reports DISPATCHED and DELIVERED for every booking. */
    simulatedCourier: boolean;
    courierDispatchDelayMs: number;
    courierDeliveryDelayMs: number;
    /** Where the simulated courier reports events (the OMS API). */
    omsApiUrl: string | undefined;
    /** Faults injected from the start, per service (changeable at run time through faults.v1). */
    faults: Partial<Record<FaultTarget, FaultSettings>>;
    /** Stock of the reference inventory (OMS_REFERENCE_CATALOG); unset: its catalog.json. */
    catalog: Catalog | undefined;
    /** How long the reference payments' authorizations can be captured (OMS_REFERENCE_AUTH_TTL). */
    authorizationTtlMs: number;
    /** SQLite file of their state (ledger, stock, shipments, idempotency keys), or ":memory:". */
    stateFile: string;
  };
  /** Authentication, API TLS, payload encryption (security-config.ts). */
  security: SecurityConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

export const FAULT_TARGETS = ["inventory", "payments", "shipping", "notifications"] as const;
export type FaultTarget = (typeof FAULT_TARGETS)[number];

/** Faults of one reference service (see src/reference-services/faults). */
export interface FaultSettings {
  /** Fraction of calls (0..1) failing with UNAVAILABLE. */
  errorRate?: number;
  addedLatencyMs?: number;
  /** Every call fails with UNAVAILABLE. */
  outage?: boolean;
  /** Fraction of calls (0..1) that do the work, then fail with UNAVAILABLE. */
  loseResponseRate?: number;
  /** Warehouses whose courier bookings are rejected (shipping). */
  rejectWarehouseIds?: string[];
}

/**
 * Measured on `oms api` and `oms worker` under load (docs/operations.md,
 * "Memory"): V8 otherwise lets the old generation grow to 2–4 times what is
 * live before it collects it.
 */
const DEFAULT_HEAP_GROWING_PERCENT = 30;

/**
 * Fine on one machine; every multi-replica deployment sets its own, shared
 * by all API replicas, so a token from one replica works on the others.
 */
const DEV_PAGE_TOKEN_SECRET = "oms-dev-page-token-secret-change-me";

/** Reads and validates the configuration; throws ConfigError listing every bad value. */
export function loadConfig(env: Env = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const read = createReader(env, problems);

  const dataDir = path.resolve(cwd, read.string("OMS_DATA_DIR", ".oms/data"));
  const config: Config = {
    api: {
      host: read.string("OMS_API_HOST", "0.0.0.0"),
      port: read.port("OMS_API_PORT", 50051),
      maxMessageBytes: read.int(
        "OMS_API_MAX_MESSAGE_BYTES",
        4 * 1024 * 1024,
        1024,
        64 * 1024 * 1024,
      ),
      maxTimeoutMs: read.int("OMS_API_MAX_TIMEOUT_MS", 60_000, 100, 3_600_000),
      shutdownGraceMs: read.int("OMS_API_SHUTDOWN_GRACE_MS", 10_000, 0, 600_000),
      reflection: read.bool("OMS_API_REFLECTION", true),
      health: read.bool("OMS_API_HEALTH", true),
      healthProbeIntervalMs: read.int("OMS_API_HEALTH_PROBE_INTERVAL_MS", 5_000, 100, 600_000),
      workflowStartGraceMs: read.int("OMS_WORKFLOW_START_GRACE_MS", 2_000, 0, 600_000),
    },
    temporal: {
      address: read.optional("TEMPORAL_ADDRESS"),
      namespace: read.string("TEMPORAL_NAMESPACE", "default"),
      taskQueue: read.string("OMS_TASK_QUEUE", "oms-orders"),
      tls: {
        enabled: read.bool("TEMPORAL_TLS", false),
        certPath: read.optional("TEMPORAL_TLS_CERT"),
        keyPath: read.optional("TEMPORAL_TLS_KEY"),
        caPath: read.optional("TEMPORAL_TLS_CA"),
        serverName: read.optional("TEMPORAL_TLS_SERVER_NAME"),
      },
      apiKey: read.optional("TEMPORAL_API_KEY"),
      workerGrpcCompression: read.oneOf("OMS_WORKER_GRPC_COMPRESSION", "none", ["none", "gzip"]),
      devServer: {
        cliPath: path.resolve(cwd, read.string("OMS_TEMPORAL_CLI", ".tools/venv/bin/temporal")),
        port: read.port("OMS_TEMPORAL_PORT", 7233),
        uiPort: read.port("OMS_TEMPORAL_UI_PORT", 8233),
        dbFile: path.join(dataDir, "temporal.sqlite"),
      },
    },
    dataDir,
    cacheDir: path.resolve(cwd, read.string("OMS_CACHE_DIR", ".oms/cache")),
    logLevel: read.oneOf("OMS_LOG_LEVEL", "info", [
      "fatal",
      "error",
      "warn",
      "info",
      "debug",
      "trace",
    ] as const),
    heapGrowingPercent: read.int(
      "OMS_HEAP_GROWING_PERCENT",
      DEFAULT_HEAP_GROWING_PERCENT,
      0,
      1_000,
    ),
    metrics: {
      host: read.string("OMS_METRICS_HOST", "0.0.0.0"),
      port: read.optionalPort("OMS_METRICS_PORT"),
      temporalPort: read.optionalPort("OMS_TEMPORAL_METRICS_PORT"),
    },
    readModel: {
      databaseUrl: read.optional("OMS_DATABASE_URL"),
      pageTokenSecret: read.string("OMS_PAGE_TOKEN_SECRET", DEV_PAGE_TOKEN_SECRET),
    },
    watch: {
      pollIntervalMs: read.int("OMS_WATCH_POLL_INTERVAL_MS", 200, 10, 60_000),
      maxStreams: read.int("OMS_WATCH_MAX_STREAMS", 1_000, 1, 100_000),
    },
    workflow: {
      customerActionTimeoutMs: read.int(
        "OMS_CUSTOMER_ACTION_TIMEOUT_MS",
        24 * 3_600_000,
        1,
        30 * 24 * 3_600_000,
      ),
      resourcing: {
        maxAttempts: read.int(
          "OMS_RESOURCING_MAX_ATTEMPTS",
          DEFAULT_RESOURCING_POLICY.maxAttempts,
          0,
          10,
        ),
        bookingMaxAttempts: read.int(
          "OMS_BOOKING_MAX_ATTEMPTS",
          DEFAULT_RESOURCING_POLICY.bookingMaxAttempts,
          1,
          1_000,
        ),
      },
      maxCachedWorkflows: read.int("OMS_WORKER_MAX_CACHED_WORKFLOWS", 128, 0, 100_000),
      workflowStackTraces: read.bool("OMS_WORKER_WORKFLOW_STACK_TRACES", false),
      holdPolicy: readHoldPolicy(read),
      slaPolicy: {
        authorizedWithinMs: read.int("OMS_SLA_AUTHORIZED_WITHIN_MS", 3_600_000, 0, MAX_SLA_MS),
        dispatchedWithinMs: read.int("OMS_SLA_DISPATCHED_WITHIN_MS", 2 * DAY_MS, 0, MAX_SLA_MS),
        deliveredWithinMs: read.int("OMS_SLA_DELIVERED_WITHIN_MS", 7 * DAY_MS, 0, MAX_SLA_MS),
        atRiskPercent: read.int("OMS_SLA_AT_RISK_PERCENT", 80, 0, 100),
      },
      reauthorizeMarginMs: read.int(
        "OMS_REAUTHORIZE_MARGIN_MS",
        DEFAULT_REAUTHORIZE_MARGIN_MS,
        0,
        30 * 24 * 3_600_000,
      ),
    },
    outbox: {
      pollIntervalMs: read.int("OMS_OUTBOX_POLL_INTERVAL_MS", 200, 10, 60_000),
      gatherMs: read.int("OMS_OUTBOX_GATHER_MS", 250, 0, 10_000),
    },
    returns: {
      windowMs: read.int("OMS_RETURN_WINDOW_MS", 30 * 24 * 3_600_000, 1, 365 * 24 * 3_600_000),
      shipWithinMs: read.int(
        "OMS_RETURN_SHIP_WITHIN_MS",
        14 * 24 * 3_600_000,
        1,
        365 * 24 * 3_600_000,
      ),
    },
    events: {
      natsUrl: read.optional("OMS_EVENTS_NATS_URL"),
      natsStream: read.string("OMS_EVENTS_NATS_STREAM", "OMS_ORDERS"),
      devServer: {
        enabled: read.bool("OMS_DEV_NATS", true),
        binPath: path.resolve(cwd, read.string("OMS_NATS_SERVER", ".tools/bin/nats-server")),
        port: read.port("OMS_NATS_PORT", 4222),
        storeDir: path.join(dataDir, "nats"),
      },
    },
    downstream: {
      urls: {
        inventory: read.optional("OMS_INVENTORY_URL"),
        payments: read.optional("OMS_PAYMENTS_URL"),
        shipping: read.optional("OMS_SHIPPING_URL"),
        notifications: read.optional("OMS_NOTIFICATIONS_URL"),
      },
      timeoutMs: read.int("OMS_DOWNSTREAM_TIMEOUT_MS", 10_000, 100, 600_000),
    },
    referenceServices: {
      host: read.string("OMS_REFERENCE_SERVICES_HOST", "127.0.0.1"),
      port: read.port("OMS_REFERENCE_SERVICES_PORT", 50052),
      simulatedCourier: read.bool("OMS_SIMULATED_COURIER", true),
      courierDispatchDelayMs: read.int("OMS_COURIER_DISPATCH_DELAY_MS", 5_000, 0, 3_600_000),
      courierDeliveryDelayMs: read.int("OMS_COURIER_DELIVERY_DELAY_MS", 10_000, 0, 3_600_000),
      omsApiUrl: read.optional("OMS_API_URL"),
      faults: read.faults("OMS_REFERENCE_FAULTS"),
      catalog: readCatalogSetting("OMS_REFERENCE_CATALOG", read.optional, cwd, problems),
      authorizationTtlMs: read.duration("OMS_REFERENCE_AUTH_TTL", DEFAULT_AUTHORIZATION_TTL_MS),
      stateFile: stateFileSetting(
        read.string("OMS_REFERENCE_STATE_FILE", path.join(dataDir, "reference-services.sqlite")),
        cwd,
      ),
    },
    security: readSecurityConfig(read, cwd, problems),
  };

  const tls = config.temporal.tls;
  if ((tls.certPath === undefined) !== (tls.keyPath === undefined)) {
    problems.push("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

const DAY_MS = 24 * 3_600_000;
/** The longest SLA target: a year. */
const MAX_SLA_MS = 365 * DAY_MS;

/**
 * OMS_HOLD_<TYPE>_TIMEOUT_MS and OMS_HOLD_<TYPE>_ON_EXPIRY (release | cancel)
 * per hold type, and OMS_HOLD_FRAUD_REVIEW_ON_SPENDING_LIMIT.
 */
function readHoldPolicy(read: ReturnType<typeof createReader>): HoldPolicy {
  const rules = Object.fromEntries(
    HOLD_TYPES.map((type) => {
      const fallback = DEFAULT_HOLD_POLICY[type];
      const onExpiry = read.oneOf(
        `OMS_HOLD_${type}_ON_EXPIRY`,
        fallback.onExpiry.toLowerCase(),
        HOLD_EXPIRY_ACTIONS.map((a) => a.toLowerCase()),
      );
      return [
        type,
        {
          timeoutMs: read.int(
            `OMS_HOLD_${type}_TIMEOUT_MS`,
            fallback.timeoutMs,
            1,
            30 * 24 * 3_600_000,
          ),
          onExpiry: onExpiry.toUpperCase() as HoldExpiryAction,
        },
      ];
    }),
  ) as Omit<HoldPolicy, "fraudReviewOnSpendingLimit">;
  return {
    ...rules,
    fraudReviewOnSpendingLimit: read.bool(
      "OMS_HOLD_FRAUD_REVIEW_ON_SPENDING_LIMIT",
      DEFAULT_HOLD_POLICY.fraudReviewOnSpendingLimit,
    ),
  };
}

/** A SQLite file path resolved against the working directory, or ":memory:". */
function stateFileSetting(value: string, cwd: string): string {
  return value === ":memory:" ? value : path.resolve(cwd, value);
}

/** A catalog file (the shape of the reference inventory's catalog.json), read and checked now. */
function readCatalogSetting(
  name: string,
  raw: (name: string) => string | undefined,
  cwd: string,
  problems: string[],
): Catalog | undefined {
  const value = raw(name);
  if (value === undefined) return undefined;
  const file = path.resolve(cwd, value);
  try {
    return readCatalogFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code !== undefined
        ? `cannot read ${file} (${code})`
        : err instanceof SyntaxError
          ? `${file} is not valid JSON (${err.message})`
          : `${file}: ${(err as Error).message}`;
    problems.push(`${name}=${JSON.stringify(value)}: ${why}`);
    return undefined;
  }
}

const DURATION_UNITS_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function createReader(env: Env, problems: string[]) {
  const raw = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === "" ? undefined : value;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(
        `${name}=${JSON.stringify(value)}: expected a whole number from ${min} to ${max}`,
      );
      return fallback;
    }
    return n;
  };
  return {
    optional: raw,
    string: (name: string, fallback: string): string => raw(name) ?? fallback,
    int,
    port: (name: string, fallback: number): number => int(name, fallback, 0, 65_535),
    /** A duration with its unit: `500ms`, `30s`, `15m`, `12h`, `7d`; in milliseconds. */
    duration: (name: string, fallback: number): number => {
      const value = raw(name);
      if (value === undefined) return fallback;
      const match = /^(\d+)(ms|s|m|h|d)$/.exec(value);
      const ms =
        match && Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS];
      if (!ms) {
        problems.push(
          `${name}=${JSON.stringify(value)}: expected a positive duration such as 30s, 12h or 7d (units ms, s, m, h, d)`,
        );
        return fallback;
      }
      return ms;
    },
    optionalPort: (name: string): number | undefined =>
      raw(name) === undefined ? undefined : int(name, 0, 0, 65_535),
    bool: (name: string, fallback: boolean): boolean => {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(value)) return true;
      if (["0", "false", "no", "off"].includes(value)) return false;
      problems.push(`${name}=${JSON.stringify(value)}: expected true or false`);
      return fallback;
    },
    /** JSON like {"payments":{"errorRate":0.2},"inventory":{"outage":true}}. */
    faults: (name: string): Partial<Record<FaultTarget, FaultSettings>> => {
      const value = raw(name);
      if (value === undefined) return {};
      try {
        const parsed = JSON.parse(value) as Record<string, FaultSettings>;
        const out: Partial<Record<FaultTarget, FaultSettings>> = {};
        for (const [target, settings] of Object.entries(parsed)) {
          const rates = [settings.errorRate, settings.loseResponseRate].filter(
            (r) => r !== undefined,
          );
          if (!(FAULT_TARGETS as readonly string[]).includes(target)) {
            problems.push(
              `${name}: unknown service "${target}" (expected ${FAULT_TARGETS.join(", ")})`,
            );
          } else if (rates.some((r) => typeof r !== "number" || r < 0 || r > 1)) {
            problems.push(`${name}: ${target}: rates must be numbers from 0 to 1`);
          } else if (
            settings.rejectWarehouseIds !== undefined &&
            !(
              Array.isArray(settings.rejectWarehouseIds) &&
              settings.rejectWarehouseIds.every((w) => typeof w === "string" && w !== "")
            )
          ) {
            problems.push(`${name}: ${target}: rejectWarehouseIds must be a list of warehouse ids`);
          } else {
            out[target as FaultTarget] = settings;
          }
        }
        return out;
      } catch {
        problems.push(`${name}: expected JSON such as {"payments":{"errorRate":0.2}}`);
        return {};
      }
    },
    oneOf: <T extends string>(name: string, fallback: T, allowed: readonly T[]): T => {
      const value = raw(name);
      if (value === undefined) return fallback;
      if ((allowed as readonly string[]).includes(value)) return value as T;
      problems.push(`${name}=${JSON.stringify(value)}: expected one of ${allowed.join(", ")}`);
      return fallback;
    },
  };
}
