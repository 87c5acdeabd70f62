import { ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TextMapSetter,
  trace,
} from "@opentelemetry/api";
import { downstreamDuration, downstreamErrors, secondsSince } from "./metrics.js";
import { statusCodeName } from "./status-codes.js";
import { activeTracing } from "./tracing.js";

const headerSetter: TextMapSetter<Headers> = {
  set: (headers, key, value) => headers.set(key, value),
};

/**
 * For the Connect clients of the downstream services: each call's latency by
 * service, method and code, failures counted, and, when tracing is on, a
 * client span (a child of the activity's) whose context goes to the service
 * in a W3C `traceparent` header. The downstream services are unary only.
 */
export function createDownstreamObservabilityInterceptor(): Interceptor {
  const tracer = activeTracing()?.tracer;
  return (next) => async (req) => {
    const started = performance.now();
    const labels = { service: req.service.typeName, method: req.method.name };
    const span = tracer?.startSpan(`${labels.service}/${labels.method}`, {
      kind: SpanKind.CLIENT,
      attributes: {
        "rpc.system": "grpc",
        "rpc.service": labels.service,
        "rpc.method": labels.method,
      },
    });
    const call = () => {
      if (span === undefined) return next(req);
      const callContext = trace.setSpan(context.active(), span);
      propagation.inject(callContext, req.header, headerSetter);
      return context.with(callContext, () => next(req));
    };
    try {
      const res = await call();
      downstreamDuration.observe({ ...labels, code: "OK" }, secondsSince(started));
      span?.setAttribute("rpc.grpc.status_code", 0);
      return res;
    } catch (err) {
      const { code } = ConnectError.from(err);
      const codeName = statusCodeName(code);
      downstreamDuration.observe({ ...labels, code: codeName }, secondsSince(started));
      downstreamErrors.inc({ ...labels, code: codeName });
      span?.setAttribute("rpc.grpc.status_code", code);
      span?.setStatus({ code: SpanStatusCode.ERROR, message: codeName });
      throw err;
    } finally {
      span?.end();
    }
  };
}
