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
 *
 * Lines leave asynchronously: a write to stdout never blocks the event loop
 * (a synchronous write per access-log line cost the API ~8 % of its CPU and
 * stalled every call in flight whenever the pipe was slow). Pending lines are
 * flushed synchronously when the process exits; a SIGKILL can lose the last few.
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
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
