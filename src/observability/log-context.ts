/**
 * What every log line of a process carries besides its own fields: the order
 * it is about (when the code runs on behalf of one: an RPC, an activity) and
 * the trace it belongs to (when tracing is on). `createLogger` installs
 * {@link logFields} as pino's mixin, so code that logs needs to pass neither.
 *
 * An activity's order comes from Temporal's own activity context (the id of
 * the workflow it runs for), not from a scope of ours: every AsyncLocalStorage
 * a process has ever entered is copied onto every promise it creates, so a
 * second one around each activity would cost the worker on every await.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { isSpanContextValid, trace } from "@opentelemetry/api";
import { asyncLocalStorage as activityContext } from "@temporalio/activity";
import { orderIdOfWorkflowId } from "../domain/ids.js";

interface LogScope {
  orderId: string | undefined;
}

const scope = new AsyncLocalStorage<LogScope>();

/** Runs `fn` with `orderId` on every line it (and what it awaits) logs. */
export function withOrderId<T>(orderId: string | undefined, fn: () => T): T {
  return orderId === undefined ? fn() : scope.run({ orderId }, fn);
}

/**
 * The order id of the current scope, if any: the one {@link withOrderId} set,
 * or else the order of the activity this code runs in.
 */
export function currentOrderId(): string | undefined {
  return (
    scope.getStore()?.orderId ??
    orderIdOfWorkflowId(activityContext.getStore()?.info.workflowExecution?.workflowId)
  );
}

/** pino mixin: `orderId`, `traceId` and `spanId` of the current scope, when there are any. */
export function logFields(): Record<string, string> {
  const fields: Record<string, string> = {};
  const orderId = currentOrderId();
  if (orderId !== undefined) fields.orderId = orderId;
  const span = trace.getActiveSpan()?.spanContext();
  if (span !== undefined && isSpanContextValid(span)) {
    fields.traceId = span.traceId;
    fields.spanId = span.spanId;
  }
  return fields;
}
