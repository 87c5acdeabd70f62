/**
 * Traces, access logs and metrics of a whole OMS (API, worker, reference
 * services, the run's Temporal dev server) in this process: tracing is on with
 * an in-memory exporter, logs go to a buffer, and the metrics endpoint is
 * scraped over HTTP. test/e2e/oms-dev.test.ts scrapes the compiled process.
 */
import { Writable } from "node:stream";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { logFields } from "../../src/observability/log-context.js";
import { type MetricsServer, startMetricsServer } from "../../src/observability/metrics-server.js";
import { startTracing, type Tracing } from "../../src/observability/tracing.js";
import { failure } from "../support/failure.js";
import { expectOneCompletedOrder, metricValue } from "../support/metrics.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, courier, waitForOrder } from "../support/watch.js";

/** The caller's W3C trace context: the whole order must join this trace. */
const CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${CALLER_TRACE_ID}-${CALLER_SPAN_ID}-01`;

interface LogLine {
  msg: string;
  level: number;
  [field: string]: unknown;
}

describe("observability", () => {
  const exporter = new InMemorySpanExporter();
  const lines: LogLine[] = [];
  let tracing: Tracing | undefined;
  let sys: TestSystem;
  let metrics: MetricsServer;
  const order = twoWarehouses();
  const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

  beforeAll(async () => {
    // Before the system starts: components look at the active tracing when built.
    tracing = startTracing({ serviceName: "oms-test", exporter });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split("\n")) {
          if (line.trim() !== "") lines.push(JSON.parse(line) as LogLine);
        }
        done();
      },
    });
    const logger = pino({ level: "info", mixin: logFields }, sink);
    sys = await startTestSystem({ logger });
    metrics = await startMetricsServer({ host: "127.0.0.1", port: 0, logger });

    await sys.grpc.submitOrder(order, { headers: { traceparent: TRACEPARENT } });
    const shipments = await bookedShipments(sys, order.orderId, 2);
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);
    await waitForOrder(sys, order.orderId, (o) => o.status === OrderStatus.COMPLETED);
    await failure(sys.grpc.getOrder({ orderId: "no-such-order" }));
  }, 90_000);
  afterAll(async () => {
    await metrics?.close();
    await sys?.stop();
    await tracing?.shutdown();
  });

  it("follows the order in one trace, from the caller's traceparent to the downstream calls", async () => {
    // The workflow's own span ends when the workflow returns, just after its last write.
    await vi.waitFor(() => expect(named("RunWorkflow:orderWorkflow")).toHaveLength(1), {
      timeout: 15_000,
    });
    const spans = exporter
      .getFinishedSpans()
      .filter((s) => s.spanContext().traceId === CALLER_TRACE_ID);
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (span: ReadableSpan) => byId.get(span.parentSpanId ?? "");
    const only = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0] as ReadableSpan;
    };

    const submit = only("oms.v1.OrderService/SubmitOrder");
    expect(submit.parentSpanId).toBe(CALLER_SPAN_ID);
    expect(submit.attributes["oms.order_id"]).toBe(order.orderId);
    const start = only("StartWorkflow:orderWorkflow");
    expect(parentOf(start)).toBe(submit);
    const run = only("RunWorkflow:orderWorkflow");
    expect(parentOf(run)).toBe(start);

    // Every activity the order ran, and each downstream call under the activity that made it.
    for (const [activity, call, count] of [
      ["reserveInventory", "inventory.v1.InventoryService/Reserve", 1],
      ["authorizePayment", "payments.v1.PaymentService/Authorize", 2],
      ["bookShipment", "shipping.v1.ShippingService/BookShipment", 2],
      ["capturePayment", "payments.v1.PaymentService/Capture", 2],
    ] as const) {
      const runs = spans.filter((s) => s.name === `RunActivity:${activity}`);
      expect(runs, activity).toHaveLength(count);
      for (const runActivity of runs) {
        const scheduled = parentOf(runActivity);
        expect(scheduled?.name).toBe(`StartActivity:${activity}`);
        expect(scheduled && parentOf(scheduled)).toBe(run);
        const calls = spans.filter((s) => s.name === call && parentOf(s) === runActivity);
        expect(calls, call).toHaveLength(1);
      }
    }
    // The read-model writes (local activities) are in the trace too.
    expect(spans.filter((s) => s.name === "RunActivity:saveOrder").length).toBeGreaterThan(0);
    // The courier's calls came without a traceparent: each is a trace of its own.
    const reports = exporter
      .getFinishedSpans()
      .filter((s) => s.name === "oms.v1.ShipmentService/ReportShipmentEvent");
    expect(reports).toHaveLength(4);
    for (const report of reports) {
      expect(report.spanContext().traceId).not.toBe(CALLER_TRACE_ID);
      expect(report.attributes["oms.order_id"]).toBe(order.orderId);
    }
  });

  it("writes one access-log line per RPC with its method, code, duration, principal, order and trace", () => {
    const rpcs = lines.filter((l) => l.msg === "rpc");
    const submits = rpcs.filter((l) => l.rpc === "/oms.v1.OrderService/SubmitOrder");
    expect(submits).toEqual([
      expect.objectContaining({
        code: "OK",
        principal: "anonymous",
        orderId: order.orderId,
        traceId: CALLER_TRACE_ID,
        ms: expect.any(Number),
      }),
    ]);
    expect(
      rpcs.filter((l) => l.rpc === "/oms.v1.ShipmentService/ReportShipmentEvent"),
    ).toHaveLength(4);
    expect(rpcs).toContainEqual(
      expect.objectContaining({
        rpc: "/oms.v1.OrderService/GetOrder",
        code: "NOT_FOUND",
        orderId: "no-such-order",
      }),
    );
    // WatchOrder streams are logged when they end, with the order they streamed.
    const watches = rpcs.filter((l) => l.rpc === "/oms.v1.OrderService/WatchOrder");
    expect(watches.length).toBeGreaterThan(0);
    for (const watch of watches) expect(watch.orderId).toBe(order.orderId);
    // A courier's report names only the shipment: the order id comes from the answer.
    for (const report of rpcs.filter(
      (l) => l.rpc === "/oms.v1.ShipmentService/ReportShipmentEvent",
    )) {
      expect(report).toMatchObject({ code: "OK", orderId: order.orderId });
    }
  });

  it("serves RPC, business, downstream and read-model metrics on /metrics", async () => {
    const res = await fetch(metrics.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const value = (series: string) => metricValue(text, series);
    expect(
      value('oms_rpc_requests_total{service="oms.v1.OrderService",method="SubmitOrder",code="OK"}'),
    ).toBe(1);
    expect(
      value(
        'oms_rpc_requests_total{service="oms.v1.OrderService",method="GetOrder",code="NOT_FOUND"}',
      ),
    ).toBe(1);
    expect(
      value(
        'oms_rpc_duration_seconds_count{service="oms.v1.ShipmentService",method="ReportShipmentEvent",code="OK"}',
      ),
    ).toBe(4);
    expect(
      value(
        'oms_downstream_request_duration_seconds_count{service="payments.v1.PaymentService",method="Capture",code="OK"}',
      ),
    ).toBe(2);
    // Each version written once (version 1 by the API and the workflow: applied once).
    const final = await sys.grpc.getOrder({ orderId: order.orderId });
    expectOneCompletedOrder(text, Number(final.order?.version));
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(0);
  });
});
