/**
 * The parts every command is made of, each started from the one validated
 * Config. `oms dev` starts all of them in one process; `oms api` and
 * `oms worker` start one each; tests start them the same way.
 */
import { Client, Connection } from "@temporalio/client";
import { NativeConnection, type Worker } from "@temporalio/worker";
import type { Logger } from "pino";
import { createActivities } from "../activities/index.js";
import { startDependencyMonitor } from "../api/dependency-monitor.js";
import { createErrorInterceptor } from "../api/error-interceptor.js";
import {
  createHealthStatus,
  type HealthStatus,
  OVERALL_SERVICE,
  ServingStatus,
} from "../api/health/health-status.js";
import { BUSINESS_SERVICES, createRoutes } from "../api/routes.js";
import { type ApiServer, startApiServer } from "../api/server.js";
import { createValidationInterceptor } from "../api/validation.js";
import type { Config } from "../config/config.js";
import { DEFAULT_PRICING } from "../domain/pricing.js";
import { temporalConnectionOptions } from "../temporal/connection-options.js";
import { createOrderCommands } from "../temporal/order-commands.js";
import { createOrderWorker } from "../temporal/worker.js";
import { ensureWorkflowBundle } from "../temporal/workflow-bundle.js";

export interface RunningApi {
  server: ApiServer;
  health: HealthStatus;
  stop(): Promise<void>;
}

export async function startApi(
  config: Config,
  temporalAddress: string,
  logger: Logger,
): Promise<RunningApi> {
  const connection = await Connection.connect(
    temporalConnectionOptions(config.temporal, temporalAddress),
  );
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const commands = createOrderCommands({
    client,
    taskQueue: config.temporal.taskQueue,
    pricing: DEFAULT_PRICING,
    fulfillmentDelayMs: config.workflow.fulfillmentDelayMs,
  });
  // Health: NOT_SERVING until the first probe shows every dependency reachable.
  const draining = new AbortController();
  const health = createHealthStatus({
    initial: Object.fromEntries(
      [OVERALL_SERVICE, ...BUSINESS_SERVICES.map((s) => s.typeName)].map((name) => [
        name,
        ServingStatus.NOT_SERVING,
      ]),
    ),
  });
  const monitor = startDependencyMonitor({
    checks: [
      {
        name: "temporal",
        probe: (signal) =>
          connection.withAbortSignal(signal, () => connection.workflowService.getSystemInfo({})),
      },
    ],
    intervalMs: config.api.healthProbeIntervalMs,
    timeoutMs: Math.min(2_000, config.api.healthProbeIntervalMs),
    onChange(healthy) {
      const status = healthy ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
      health.set(OVERALL_SERVICE, status);
      for (const service of BUSINESS_SERVICES) health.set(service.typeName, status);
    },
    logger,
  });
  await monitor.ready;
  const server = await startApiServer({
    host: config.api.host,
    port: config.api.port,
    routes: createRoutes({
      commands,
      health: config.api.health ? { status: health, signal: draining.signal } : undefined,
      reflection: config.api.reflection,
    }),
    // Errors outermost, so that validation failures get their ErrorInfo too.
    interceptors: [createErrorInterceptor(logger), createValidationInterceptor()],
    maxMessageBytes: config.api.maxMessageBytes,
    maxTimeoutMs: config.api.maxTimeoutMs,
    logger,
  });
  return {
    server,
    health,
    async stop() {
      // Tell load balancers first, end health watches, then drain calls.
      health.shutdown();
      draining.abort();
      monitor.stop();
      await server.close(config.api.shutdownGraceMs);
      await connection.close();
    },
  };
}

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

export async function startWorker(
  config: Config,
  temporalAddress: string,
  logger: Logger,
): Promise<RunningWorker> {
  const bundle = await ensureWorkflowBundle(config.cacheDir, logger);
  const connection = await NativeConnection.connect(
    temporalConnectionOptions(config.temporal, temporalAddress),
  );
  const worker = await createOrderWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundlePath: bundle,
    activities: createActivities({ defaultWarehouseId: "wh-east" }),
  });
  const running = worker.run();
  running.catch((err: unknown) => logger.fatal({ err }, "worker stopped with an error"));
  return {
    worker,
    async stop() {
      if (worker.getState() === "RUNNING") worker.shutdown();
      await running.catch(() => {});
      await connection.close();
    },
  };
}
