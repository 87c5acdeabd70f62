import { type Logger, pino } from "pino";
import type { Config } from "../config/config.js";

/** JSON logs to stdout (one line per event), as log collectors expect. */
export function createLogger(config: Pick<Config, "logLevel">, name = "oms"): Logger {
  return pino({ name, level: config.logLevel });
}
