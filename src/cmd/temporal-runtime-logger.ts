import type { LogLevel, LogMetadata, Logger as TemporalLogger } from "@temporalio/worker";
import type { Logger } from "pino";

const LEVELS: Record<LogLevel, "trace" | "debug" | "info" | "warn" | "error"> = {
  TRACE: "trace",
  DEBUG: "debug",
  INFO: "info",
  WARN: "warn",
  ERROR: "error",
};

/** Routes the Temporal SDK's logs (worker, core) into the process's pino logger. */
export function createTemporalRuntimeLogger(logger: Logger): TemporalLogger {
  const child = logger.child({ component: "temporal" });
  const at =
    (level: LogLevel) =>
    (message: string, meta?: LogMetadata): void =>
      child[LEVELS[level]](meta ?? {}, message);
  return {
    log: (level, message, meta) => at(level)(message, meta),
    trace: at("TRACE"),
    debug: at("DEBUG"),
    info: at("INFO"),
    warn: at("WARN"),
    error: at("ERROR"),
  };
}
