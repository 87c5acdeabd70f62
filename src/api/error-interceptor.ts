import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { toConnectError } from "./errors.js";

/**
 * The outermost interceptor: whatever a handler or inner interceptor throws
 * leaves as a ConnectError with an ErrorInfo and no internals (src/api/errors.ts).
 * Streamed responses are covered too: an error while iterating is mapped the same way.
 */
export function createErrorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw toConnectError(err, logger);
          }
        })(),
      };
    } catch (err) {
      throw toConnectError(err, logger);
    }
  };
}
