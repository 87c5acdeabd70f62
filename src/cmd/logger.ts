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
 * Lines leave asynchronously, in batches (see bufferedStdout): a write to
 * stdout never blocks the event loop (a synchronous write per access-log line
 * cost the API ~8 % of its CPU and stalled every call in flight whenever the
 * pipe was slow). Pending lines are flushed synchronously when the process
 * exits; a SIGKILL can lose the last few (at most LOG_FLUSH_MS of them).
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
  return pino(options, destination ?? bufferedStdout());
}

/** How long a log line may wait for others to leave with it. */
const LOG_FLUSH_MS = 20;
/** Lines waiting that make a write at once. */
const LOG_BUFFER_CHARS = 8_192;

/**
 * stdout, written asynchronously, in batches: the lines of up to
 * LOG_FLUSH_MS leave in one write. Each write hands the data to libuv's
 * thread pool, and waking a pool thread cost the API's event loop about as
 * much as the rest of a small call on a busy machine (the woken thread takes
 * the caller's core); a write per access-log line also came before the
 * call's answer. `flush` and the exit-time `flushSync` write what is waiting.
 * Not SonicBoom's own `minLength` + `periodicFlush`: its timer flushes every
 * period even with nothing waiting, an empty write (a pool thread woken) 50
 * times a second in an idle process; this timer runs only while lines wait.
 */
function bufferedStdout(): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false });
  const write = stream.write.bind(stream);
  const flush = stream.flush.bind(stream);
  const flushSync = stream.flushSync.bind(stream);
  const end = stream.end.bind(stream);
  let waiting = "";
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (waiting === "") return;
    const data = waiting;
    waiting = "";
    write(data);
  };
  stream.write = (data: string) => {
    waiting += data;
    if (waiting.length >= LOG_BUFFER_CHARS) release();
    else timer ??= setTimeout(release, LOG_FLUSH_MS).unref();
    return true;
  };
  stream.flush = (cb?: (err?: Error) => void) => {
    release();
    flush(cb);
  };
  stream.flushSync = () => {
    release();
    flushSync();
  };
  stream.end = () => {
    release();
    end();
  };
  return stream;
}
