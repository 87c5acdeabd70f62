import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { collectProcessMetrics, registry } from "./metrics.js";

export interface MetricsServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * The Temporal SDK's own Prometheus exporter (the core runtime's, on a
   * loopback port), once its `url` is set; its metrics are served after the
   * OMS's on the same page.
   */
  temporalMetrics?: { url?: string };
  logger: Logger;
}

export interface MetricsServer {
  port: number;
  /** http://host:port/metrics */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` in Prometheus's text format: the OMS's metrics
 * (metrics.ts), Node's process metrics, and the Temporal SDK's (workers,
 * workflow and activity tasks, polls, client requests), so one scrape target
 * covers a process.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { logger } = options;
  collectProcessMetrics();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || (path !== "/metrics" && path !== "/")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    void render(options.temporalMetrics?.url, logger).then(
      (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
      (err: unknown) => {
        logger.error({ err }, "cannot render metrics");
        res.writeHead(500, { "content-type": "text/plain" }).end("cannot render metrics\n");
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => logger.error({ err }, "metrics listener error"));
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function render(temporalMetricsUrl: string | undefined, logger: Logger): Promise<string> {
  const [own, temporal] = await Promise.all([
    registry.metrics(),
    temporalMetricsUrl === undefined ? "" : scrapeTemporal(temporalMetricsUrl, logger),
  ]);
  return temporal === "" ? own : `${own.trimEnd()}\n\n${temporal}`;
}

/** The core runtime's page; empty (and a warning) when it does not answer, so ours still serves. */
async function scrapeTemporal(url: string, logger: Logger): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return await res.text();
  } catch (err) {
    logger.warn({ err, url }, "the Temporal SDK's metrics could not be read");
    return "";
  }
}
