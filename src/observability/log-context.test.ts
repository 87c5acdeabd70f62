import { Writable } from "node:stream";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { MockActivityEnvironment } from "@temporalio/testing";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { logFields, withOrderId } from "./log-context.js";
import { startTracing } from "./tracing.js";

describe("logFields", () => {
  const tracing = startTracing({ serviceName: "test", exporter: new InMemorySpanExporter() });
  afterAll(() => tracing?.shutdown());

  it("is empty outside any order or span", () => {
    expect(logFields()).toEqual({});
  });

  it("carries the order id through awaits, and the active span's trace", async () => {
    const tracer = tracing?.tracer;
    if (tracer === undefined) throw new Error("tracing did not start");
    await tracer.startActiveSpan("work", async (span) => {
      await withOrderId("o-1", async () => {
        await new Promise((resolve) => setImmediate(resolve));
        expect(logFields()).toEqual({
          orderId: "o-1",
          traceId: span.spanContext().traceId,
          spanId: span.spanContext().spanId,
        });
      });
      span.end();
    });
    expect(logFields()).toEqual({});
  });

  it("gives an activity's log lines the order id of its workflow, through awaits", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ mixin: logFields }, sink);
    // Temporal's own activity context, as a worker sets it around an activity.
    const activity = async (message: string) => {
      await new Promise((resolve) => setImmediate(resolve));
      logger.info(message);
    };
    await new MockActivityEnvironment({
      workflowExecution: { workflowId: "order/o-2", runId: "r" },
    }).run(activity, "in an order's activity");
    await new MockActivityEnvironment({
      workflowExecution: { workflowId: "sweeper", runId: "r" },
    }).run(activity, "in another workflow's activity");
    await withOrderId("o-3", () =>
      new MockActivityEnvironment({
        workflowExecution: { workflowId: "order/o-4", runId: "r" },
      }).run(activity, "in an RPC's scope"),
    );
    logger.info("outside");
    expect(lines.map(({ msg, orderId }) => ({ msg, orderId }))).toEqual([
      { msg: "in an order's activity", orderId: "o-2" },
      { msg: "in another workflow's activity", orderId: undefined },
      { msg: "in an RPC's scope", orderId: "o-3" },
      { msg: "outside", orderId: undefined },
    ]);
  });
});
