import { type DestinationStream, type Logger, pino } from "pino";
import type { Config } from "../config/config.js";
import { LOG_REDACTION } from "./log-redaction.js";

/** JSON logs to stdout (one line per event), as log collectors expect; secrets redacted. */
export function createLogger(
  config: Pick<Config, "logLevel">,
  name = "oms",
  destination?: DestinationStream,
): Logger {
  const options = { name, level: config.logLevel, redact: LOG_REDACTION };
  return destination ? pino(options, destination) : pino(options);
}
