/**
 * What the Temporal client and worker need for tracing and for the order id
 * on log lines. Tracing parts are added only while tracing is on (tracing.ts).
 */
import { createRequire } from "node:module";
import type { ClientInterceptors } from "@temporalio/client";
import type { WorkerOptions } from "@temporalio/worker";
import { activeTracing } from "./tracing.js";

// Loaded only while tracing is on: the package brings the OpenTelemetry SDK
// with it (several MB in every process otherwise). CommonJS, so a require is
// what an import would load.
const require = createRequire(import.meta.url);
const temporalOtel = () =>
  require("@temporalio/interceptors-opentelemetry") as typeof import("@temporalio/interceptors-opentelemetry");

/** The workflow client's interceptors: the start, Updates and queries as spans, their context in Temporal headers. */
export function temporalClientInterceptors(): ClientInterceptors {
  const tracing = activeTracing();
  if (tracing === undefined) return {};
  const { OpenTelemetryWorkflowClientInterceptor } = temporalOtel();
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] };
}

/** What a worker needs on top of its workflows and activities. */
export interface WorkerObservability {
  interceptors: NonNullable<WorkerOptions["interceptors"]>;
  sinks: NonNullable<WorkerOptions["sinks"]>;
  /** Whether the workflow bundle must carry the tracing interceptors (workflow-bundle.ts). */
  tracedWorkflows: boolean;
}

/**
 * With tracing on, each activity is a span under the workflow's, and the
 * workflow sandbox's spans leave through the `exporter` sink; with it off,
 * nothing. (Activities log with the order id of their workflow without any
 * interceptor: log-context.ts reads it from Temporal's activity context.)
 */
export function workerObservability(): WorkerObservability {
  const tracing = activeTracing();
  if (tracing === undefined) {
    return { interceptors: {}, sinks: {}, tracedWorkflows: false };
  }
  const {
    makeWorkflowExporter,
    OpenTelemetryActivityInboundInterceptor,
    OpenTelemetryActivityOutboundInterceptor,
  } = temporalOtel();
  const options = { tracer: tracing.tracer };
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx, options),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
    tracedWorkflows: true,
  };
}
