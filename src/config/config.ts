import path from "node:path";

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
  workflow: {
    /**
     * Stand-in for the courier until the downstream services exist: how long
     * an order stays PROCESSING (and cancellable) before it completes.
     */
    fulfillmentDelayMs: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

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
    workflow: {
      fulfillmentDelayMs: read.int("OMS_FULFILLMENT_DELAY_MS", 30_000, 0, 7 * 24 * 3_600_000),
    },
  };

  const tls = config.temporal.tls;
  if ((tls.certPath === undefined) !== (tls.keyPath === undefined)) {
    problems.push("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

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
    bool: (name: string, fallback: boolean): boolean => {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (["1", "true", "yes", "on"].includes(value)) return true;
      if (["0", "false", "no", "off"].includes(value)) return false;
      problems.push(`${name}=${JSON.stringify(value)}: expected true or false`);
      return fallback;
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
