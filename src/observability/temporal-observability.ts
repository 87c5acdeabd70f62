/**
 * What the Temporal client and worker need for tracing and for the order id
 * on log lines. Tracing parts are added only while tracing is on (tracing.ts).
 */
import { createRequire } from "node:module";
import type { ClientInterceptors } from "@temporalio/client";
import type { ActivityInterceptorsFactory, WorkerOptions } from "@temporalio/worker";
import { orderWorkflowId } from "../domain/ids.js";
import { withOrderId } from "./log-context.js";
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
 * Activities log with the order id of their workflow (`order/<order_id>`);
 * with tracing on, each activity is a span under the workflow's, and the
 * workflow sandbox's spans leave through the `exporter` sink.
 */
export function workerObservability(): WorkerObservability {
  const orderScope: ActivityInterceptorsFactory = (ctx) => ({
    inbound: {
      execute: (input, next) =>
        withOrderId(orderIdOfWorkflow(ctx.info.workflowExecution?.workflowId), () => next(input)),
    },
  });
  const tracing = activeTracing();
  if (tracing === undefined) {
    return { interceptors: { activity: [orderScope] }, sinks: {}, tracedWorkflows: false };
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
        // Outermost first: the order scope is set before the span starts.
        orderScope,
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

const ORDER_WORKFLOW_PREFIX = orderWorkflowId("");

function orderIdOfWorkflow(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith(ORDER_WORKFLOW_PREFIX)
    ? workflowId.slice(ORDER_WORKFLOW_PREFIX.length)
    : undefined;
}
