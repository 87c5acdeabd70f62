import { type DestinationStream, type Logger, pino } from "pino";
import type { Config } from "../config/config.js";
import { logFields } from "../observability/log-context.js";
import { LOG_REDACTION } from "./log-redaction.js";

/**
 * JSON logs to stdout (one line per event), as log collectors expect; every
 * line carries the order id and trace id of the code that logs it, when it
 * has them (src/observability/log-context.ts). Secrets are redacted unless
 * `redact` is false. pino's redaction rewrites the logged objects in place:
 * the Temporal SDK's own log records (ids and errors, never payloads) go
 * through an unredacted logger, since rewriting them failed the worker's
 * workflow tasks.
 */
export function createLogger(
  config: Pick<Config, "logLevel">,
  name = "oms",
  destination?: DestinationStream,
  redact = true,
): Logger {
  const options = {
    name,
    level: config.logLevel,
    mixin: logFields,
    ...(redact ? { redact: LOG_REDACTION } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
