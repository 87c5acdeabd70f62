/**
 * OpenTelemetry tracing, on only when an OTLP endpoint is configured (the
 * standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
 * or a test passes an exporter. Off, nothing is registered: the interceptors
 * are not installed, no span is made, workers run the workflow bundle without
 * tracing interceptors, and the only cost is one `activeTracing()` check
 * where each component is built. The OpenTelemetry SDK and the OTLP exporter
 * are loaded only when tracing starts (~13 MB of RSS in every process otherwise).
 *
 * On, one trace follows an order from the caller's `SubmitOrder` (its W3C
 * `traceparent` is the parent when it sends one) through the workflow start,
 * the workflow run and its activities (Temporal's interceptors carry the
 * context in Temporal headers), to the downstream services' calls (which get
 * a `traceparent` of their own). Spans made inside the workflow sandbox are
 * exported through a sink, outside it.
 */
import { createRequire } from "node:module";
import { context, propagation, type Tracer, trace } from "@opentelemetry/api";
import type { Resource } from "@opentelemetry/resources";
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";

// The SDK packages are CommonJS (no ESM entry for Node): requiring them is
// what an import would load, only later, and synchronously.
const require = createRequire(import.meta.url);
const sdk = () => ({
  ...(require("@opentelemetry/exporter-trace-otlp-http") as typeof import("@opentelemetry/exporter-trace-otlp-http")),
  ...(require("@opentelemetry/resources") as typeof import("@opentelemetry/resources")),
  ...(require("@opentelemetry/sdk-trace-base") as typeof import("@opentelemetry/sdk-trace-base")),
  ...(require("@opentelemetry/sdk-trace-node") as typeof import("@opentelemetry/sdk-trace-node")),
});

/** The tracing of this process, while it is on. */
export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  /** Where every span ends up, also the workflow sandbox's (through the worker's sink). */
  spanProcessor: SpanProcessor;
  /** Exports what is buffered, then unregisters everything (tracing is off again). */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` of the spans, unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  /** Export here instead of OTLP, span by span (tests: an InMemorySpanExporter). */
  exporter?: SpanExporter;
  env?: Record<string, string | undefined>;
}

let active: Tracing | undefined;

/** Whether OTLP export is configured in `env` (OpenTelemetry's standard variables). */
export function otlpConfigured(env: Record<string, string | undefined> = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  return Boolean(
    env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim(),
  );
}

/**
 * Turns tracing on for this process when OTLP is configured or `exporter` is
 * given; returns undefined (and does nothing) otherwise. Call it before any
 * component is started: they look at {@link activeTracing} when built.
 */
export function startTracing(options: TracingOptions): Tracing | undefined {
  const env = options.env ?? process.env;
  if (options.exporter === undefined && !otlpConfigured(env)) return undefined;
  if (active !== undefined) throw new Error("tracing is already started in this process");
  const {
    BatchSpanProcessor,
    NodeTracerProvider,
    OTLPTraceExporter,
    Resource,
    SimpleSpanProcessor,
  } = sdk();
  const resource = new Resource({
    "service.name": env.OTEL_SERVICE_NAME?.trim() || options.serviceName,
  });
  // The OTLP exporter reads the endpoint, headers, timeout and protocol
  // details from the standard OTEL_EXPORTER_OTLP_* variables itself.
  const spanProcessor =
    options.exporter === undefined
      ? new BatchSpanProcessor(new OTLPTraceExporter())
      : new SimpleSpanProcessor(options.exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // The W3C trace-context propagator and an AsyncLocalStorage context manager.
  provider.register();
  const tracing: Tracing = {
    tracer: provider.getTracer("oms"),
    resource,
    spanProcessor,
    async shutdown() {
      if (active !== tracing) return;
      active = undefined;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
  active = tracing;
  return tracing;
}

/** This process's tracing, or undefined when it is off. */
export function activeTracing(): Tracing | undefined {
  return active;
}
