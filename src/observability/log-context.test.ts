import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
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
});
