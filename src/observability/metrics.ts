/**
 * Every Prometheus metric the OMS exports, on one registry that the metrics
 * endpoint serves (metrics-server.ts). Names follow Prometheus conventions:
 * `_total` counters, `_seconds` histograms, low-cardinality labels only
 * (never order or customer ids). docs/observability.md lists them.
 *
 * They are module singletons, as prom-client intends: each process (`oms api`,
 * `oms worker`, or both in `oms dev`) counts what happens in it, and
 * Prometheus sums over processes. Nothing here is ever called from workflow
 * code: the deterministic sandbox replays, so a count made there would count
 * again on every replay. Order outcomes are counted where the read model
 * accepts a new version (store-metrics.ts), which happens once per version.
 */
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

export const registry = new Registry();

/** Seconds; from a fast read to a slow deadline. */
const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Seconds; an order lives from seconds (instant courier) to days (a customer deciding). */
const ORDER_DURATION_BUCKETS = [
  1,
  2,
  5,
  10,
  30,
  60,
  300,
  900,
  3_600,
  4 * 3_600,
  12 * 3_600,
  86_400,
  3 * 86_400,
  7 * 86_400,
];

const rpcLabels = ["service", "method", "code"] as const;

export const rpcRequests = new Counter({
  name: "oms_rpc_requests_total",
  help: "RPCs the API finished, by service, method and gRPC status code",
  labelNames: rpcLabels,
  registers: [registry],
});

export const rpcDuration = new Histogram({
  name: "oms_rpc_duration_seconds",
  help: "Time from an RPC's arrival to its last response message (streams: to their end)",
  labelNames: rpcLabels,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const ordersAccepted = new Counter({
  name: "oms_orders_accepted_total",
  help: "Orders accepted (their first version written to the read model)",
  registers: [registry],
});

export const ordersCompleted = new Counter({
  name: "oms_orders_completed_total",
  help: "Orders that reached COMPLETED",
  registers: [registry],
});

export const ordersCancelled = new Counter({
  name: "oms_orders_cancelled_total",
  help: "Orders that reached CANCELLED (by the customer, a refusal or a timeout)",
  registers: [registry],
});

export const ordersFailed = new Counter({
  name: "oms_orders_failed_total",
  help: "Orders that reached FAILED",
  registers: [registry],
});

export const orderDuration = new Histogram({
  name: "oms_order_duration_seconds",
  help: "Time from an order's acceptance to its terminal status, by that status",
  labelNames: ["status"] as const,
  buckets: ORDER_DURATION_BUCKETS,
  registers: [registry],
});

export const slaBreaches = new Counter({
  name: "oms_order_sla_breaches_total",
  help: "SLA stages orders breached (their deadline passed before the stage was reached), by stage",
  labelNames: ["stage"] as const,
  registers: [registry],
});

const downstreamLabels = ["service", "method", "code"] as const;

export const downstreamDuration = new Histogram({
  name: "oms_downstream_request_duration_seconds",
  help: "Calls to the downstream services (inventory, payments, shipping, notifications), by outcome",
  labelNames: downstreamLabels,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const downstreamErrors = new Counter({
  name: "oms_downstream_errors_total",
  help: "Downstream calls that failed, by service, method and gRPC status code",
  labelNames: downstreamLabels,
  registers: [registry],
});

export const readModelWriteDuration = new Histogram({
  name: "oms_readmodel_write_duration_seconds",
  help: "Writes of an order version to the read model (saveOrder), by outcome",
  labelNames: ["outcome"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

let defaultsCollected = false;

/** Adds Node's process metrics (CPU, memory, event loop lag, GC); once per process. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: registry });
}

/** Seconds since `startedAt` (a `performance.now()` reading). */
export function secondsSince(startedAt: number): number {
  return (performance.now() - startedAt) / 1_000;
}
