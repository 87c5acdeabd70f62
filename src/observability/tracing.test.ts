import { trace } from "@opentelemetry/api";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { workerObservability } from "./temporal-observability.js";
import { activeTracing, otlpConfigured, startTracing } from "./tracing.js";

describe("tracing", () => {
  it("is off without an OTLP endpoint: nothing registered, workers run the plain bundle", () => {
    expect(otlpConfigured({})).toBe(false);
    expect(startTracing({ serviceName: "oms-test", env: {} })).toBeUndefined();
    expect(activeTracing()).toBeUndefined();
    expect(trace.getActiveSpan()).toBeUndefined();
    const worker = workerObservability();
    expect(worker.tracedWorkflows).toBe(false);
    expect(worker.sinks).toEqual({});
  });

  it("follows OpenTelemetry's variables", () => {
    expect(otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(otlpConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(
      true,
    );
    expect(
      otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }),
    ).toBe(false);
  });

  it("on, names the service and gives workers the traced bundle and the span sink", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = startTracing({
      serviceName: "oms-test",
      exporter,
      env: { OTEL_SERVICE_NAME: "oms-eu" },
    });
    try {
      expect(tracing?.resource.attributes["service.name"]).toBe("oms-eu");
      const worker = workerObservability();
      expect(worker.tracedWorkflows).toBe(true);
      expect(Object.keys(worker.sinks)).toEqual(["exporter"]);
      tracing?.tracer.startSpan("x").end();
      expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["x"]);
    } finally {
      await tracing?.shutdown();
    }
    expect(activeTracing()).toBeUndefined();
  });
});
