import { type Logger, pino } from "pino";
import type { Config } from "../config/config.js";
import { logFields } from "../observability/log-context.js";

/**
 * JSON logs to stdout (one line per event), as log collectors expect; every
 * line carries the order id and trace id of the code that logs it, when it
 * has them (src/observability/log-context.ts).
 */
export function createLogger(config: Pick<Config, "logLevel">, name = "oms"): Logger {
  return pino({ name, level: config.logLevel, mixin: logFields });
}
