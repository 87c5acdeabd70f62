import net, { type AddressInfo } from "node:net";
import type { RuntimeOptions, Logger as TemporalLogger } from "@temporalio/worker";
import type { Logger } from "pino";
import { startMetricsServer } from "./metrics-server.js";
import { startTracing } from "./tracing.js";

export interface ProcessTelemetryOptions {
  /** `service.name` of the process's spans (e.g. "oms-api"). */
  serviceName: string;
  metrics: {
    host: string;
    /** Unset: no metrics endpoint. */
    port: number | undefined;
    /**
     * Whether the process runs a worker, so that the Temporal core runtime
     * has metrics to export (the API's client does not use it).
     */
    temporal: boolean;
    /** Loopback port of the core runtime's own exporter; unset: a free one. */
    temporalPort: number | undefined;
  };
  logger: Logger;
  /**
   * Whether to install the Temporal core runtime (workers run on it). The
   * API's Temporal client does not use it: without it, the API loads neither
   * the native core bridge nor its threads.
   */
  temporalRuntime: boolean;
  /** Where the Temporal core runtime logs. */
  temporalLogger: TemporalLogger;
}

export interface ProcessTelemetry {
  /** The metrics endpoint, when there is one. */
  metricsUrl: string | undefined;
  stop(): Promise<void>;
}

/**
 * Tracing (when OTLP is configured), the Temporal runtime's logging and
 * metrics, and the metrics endpoint: everything that must exist before any
 * Temporal connection or worker does (Runtime.install is only honoured before
 * the first one), so the commands call it first.
 */
export async function startProcessTelemetry(
  options: ProcessTelemetryOptions,
): Promise<ProcessTelemetry> {
  const { metrics, logger } = options;
  const tracing = startTracing({ serviceName: options.serviceName });
  if (tracing !== undefined) logger.info("tracing on: spans are exported by OTLP");
  const runtime: RuntimeOptions = { logger: options.temporalLogger };
  const temporalMetrics: { url?: string } = {};
  // Listening first, so the free port picked below for the SDK cannot be this one.
  const server =
    metrics.port === undefined
      ? undefined
      : await startMetricsServer({
          host: metrics.host,
          port: metrics.port,
          temporalMetrics,
          logger,
        });
  if (server !== undefined && metrics.temporal) {
    const port = metrics.temporalPort ?? (await freeLoopbackPort());
    // The SDK's own names and units (e.g. temporal_request_latency in
    // milliseconds), which Temporal's SDK dashboards expect.
    runtime.telemetryOptions = { metrics: { prometheus: { bindAddress: `127.0.0.1:${port}` } } };
    temporalMetrics.url = `http://127.0.0.1:${port}/metrics`;
  }
  if (options.temporalRuntime) {
    const { Runtime } = await import("@temporalio/worker");
    Runtime.install(runtime);
  }
  if (server !== undefined) logger.info({ url: server.url }, "metrics endpoint listening");
  return {
    metricsUrl: server?.url,
    async stop() {
      await server?.close();
      await tracing?.shutdown();
    },
  };
}

/** A port free on 127.0.0.1 right now (the core runtime's exporter needs a number up front). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
