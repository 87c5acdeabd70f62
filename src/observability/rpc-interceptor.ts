import {
  Code,
  ConnectError,
  type ContextValues,
  type Interceptor,
  type StreamResponse,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  trace,
} from "@opentelemetry/api";
import type { Logger } from "pino";
import { withOrderId } from "./log-context.js";
import { rpcDuration, rpcRequests, secondsSince } from "./metrics.js";
import { statusCodeName } from "./status-codes.js";
import { activeTracing } from "./tracing.js";

export interface RpcObservabilityOptions {
  logger: Logger;
  /** The authenticated caller, read once the call is done (authentication sets it on the way in). */
  principal: (values: ContextValues) => string;
}

/** Services whose calls are logged at debug rather than info: load balancers and tools poll them. */
const QUIET_SERVICES = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/** gRPC codes that mean the server failed (OpenTelemetry's rule for server spans). */
const SERVER_ERROR_CODES: ReadonlySet<number> = new Set([
  Code.Unknown,
  Code.DeadlineExceeded,
  Code.Unimplemented,
  Code.Internal,
  Code.Unavailable,
  Code.DataLoss,
]);

export const headerGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * The API's outermost interceptor: for every RPC, one access-log line
 * (method, code, duration, principal, order id), the request counter and
 * latency histogram by method and code, and, when tracing is on, a server
 * span whose parent is the caller's W3C `traceparent` (if it sent one). A
 * server stream counts until its last message or its error. Outside the
 * error interceptor, so it sees the codes callers get.
 */
export function createRpcObservabilityInterceptor(options: RpcObservabilityOptions): Interceptor {
  // The access-log line is made here of the fields below only, none of them
  // secret: it skips the logger's redaction, which cost about 8 times the
  // rest of the line (some 40 µs per call). Other lines keep it.
  const accessLog = options.logger.child({}, { redact: { paths: [] } });
  const tracer = activeTracing()?.tracer;
  return (next) => async (req) => {
    const started = performance.now();
    const service = req.service.typeName;
    const method = req.method.name;
    const orderId = req.stream ? undefined : orderIdOf(req.message);
    let span: Span | undefined;
    let callContext = context.active();
    if (tracer !== undefined) {
      const parent = propagation.extract(ROOT_CONTEXT, req.header, headerGetter);
      span = tracer.startSpan(
        `${service}/${method}`,
        {
          kind: SpanKind.SERVER,
          attributes: {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": method,
            ...(orderId === undefined ? {} : { "oms.order_id": orderId }),
          },
        },
        parent,
      );
      callContext = trace.setSpan(parent, span);
    }
    let finished = false;
    const finish = (err: unknown, responseOrderId?: string) => {
      if (finished) return;
      finished = true;
      const code = err === undefined ? 0 : ConnectError.from(err).code;
      const codeName = statusCodeName(code);
      const seconds = secondsSince(started);
      rpcRequests.inc({ service, method, code: codeName });
      rpcDuration.observe({ service, method, code: codeName }, seconds);
      const order = orderId ?? responseOrderId;
      const traceId = span?.spanContext().traceId;
      if (span !== undefined) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (order !== undefined && orderId === undefined) span.setAttribute("oms.order_id", order);
        if (SERVER_ERROR_CODES.has(code)) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: codeName });
        }
        span.end();
      }
      const line = {
        rpc: `/${service}/${method}`,
        code: codeName,
        ms: Math.round(seconds * 10_000) / 10,
        principal: options.principal(req.contextValues),
        ...(order === undefined ? {} : { orderId: order }),
        ...(traceId === undefined ? {} : { traceId }),
      };
      if (QUIET_SERVICES.has(service)) accessLog.debug(line, "rpc");
      else accessLog.info(line, "rpc");
    };
    let res: UnaryResponse | StreamResponse;
    try {
      res = await context.with(callContext, () => withOrderId(orderId, () => next(req)));
    } catch (err) {
      finish(err);
      throw err;
    }
    if (!res.stream) {
      finish(undefined, orderIdOf(res.message));
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        // CANCELLED unless the stream ends or fails: the caller went away mid-stream.
        let outcome: unknown = new ConnectError("stream abandoned by the caller", Code.Canceled);
        // A server stream's request is a stream too: the order id comes from the answers.
        let streamOrderId: string | undefined;
        try {
          for await (const message of messages) {
            streamOrderId ??= orderIdOf(message);
            yield message;
          }
          outcome = undefined;
        } catch (err) {
          outcome = err;
          throw err;
        } finally {
          finish(outcome, streamOrderId);
        }
      })(),
    };
  };
}

/** The order a request or response is about: its `orderId`, or its `order`'s. */
function orderIdOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as { orderId?: unknown; order?: { orderId?: unknown } };
  if (typeof m.orderId === "string" && m.orderId !== "") return m.orderId;
  const nested = m.order?.orderId;
  return typeof nested === "string" && nested !== "" ? nested : undefined;
}
