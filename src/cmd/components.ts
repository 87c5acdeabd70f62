/**
 * The parts every command is made of, each started from the one validated
 * Config. `oms dev` starts all of them in one process; `oms api`,
 * `oms worker` and `oms reference-services` start one each; tests start them
 * the same way. The API part lives in api-component.ts, which `oms api`
 * imports alone, and the reference services part in
 * reference-services-component.ts, which `oms reference-services` imports alone.
 */

import type { Interceptor } from "@connectrpc/connect";
import { NativeConnection, type Worker } from "@temporalio/worker";
import type { Logger } from "pino";
import { createActivities } from "../activities/index.js";
import { downstreamCredentials } from "../clients/credentials.js";
import { createDownstreamClients, type DownstreamUrls } from "../clients/downstream.js";
import { type Config, ConfigError } from "../config/config.js";
import { type NatsEventPublisher, startNatsEventPublisher } from "../events/nats-publisher.js";
import { createDownstreamObservabilityInterceptor } from "../observability/downstream-interceptor.js";
import { workerObservability } from "../observability/temporal-observability.js";
import { startNotificationDispatcher } from "../outbox/notification-dispatcher.js";
import { payloadDataConverter } from "../temporal/codec/data-converter.js";
import { temporalConnectionOptions } from "../temporal/connection-options.js";
import { createOrderWorker } from "../temporal/worker.js";
import { ensureWorkflowBundle } from "../temporal/workflow-bundle.js";
import { keyringOf, openStore } from "./common-setup.js";

export { type RunningApi, startApi } from "./api-component.js";
export { startReferenceServicesFromConfig } from "./reference-services-component.js";

export interface RunningWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** The downstream URLs a worker calls; `fallback` fills the unset ones (oms dev's reference services). */
export function downstreamUrls(config: Config, fallback?: string): DownstreamUrls {
  const { urls } = config.downstream;
  const missing = Object.entries(urls)
    .filter(([, url]) => url === undefined)
    .map(([name]) => `OMS_${name.toUpperCase()}_URL`);
  if (missing.length > 0 && fallback === undefined) {
    throw new ConfigError(missing.map((name) => `${name} must be set for the worker`));
  }
  return {
    inventory: urls.inventory ?? (fallback as string),
    payments: urls.payments ?? (fallback as string),
    shipping: urls.shipping ?? (fallback as string),
    notifications: urls.notifications ?? (fallback as string),
  };
}

export async function startWorker(
  config: Config,
  temporalAddress: string,
  urls: DownstreamUrls,
  logger: Logger,
  /** Credentials of the downstream calls besides those configured (`oms dev`'s tokens). */
  credentials: Interceptor[] = [],
): Promise<RunningWorker> {
  const observability = workerObservability();
  const bundle = await ensureWorkflowBundle(config.cacheDir, logger, {
    traced: observability.tracedWorkflows,
  });
  const store = await openStore(config);
  const connection = await NativeConnection.connect({
    ...temporalConnectionOptions(config.temporal, temporalAddress),
    grpcCompression: { codec: config.temporal.workerGrpcCompression },
  });
  const clients = createDownstreamClients(
    urls,
    config.downstream.timeoutMs,
    [createDownstreamObservabilityInterceptor()],
    downstreamCredentials(config.security.downstreamClient, credentials),
  );
  // Delivers the notifications saveOrder writes to the outbox; woken by each such write.
  const dispatcher = startNotificationDispatcher({
    store,
    clients,
    logger: logger.child({ component: "notification-dispatcher" }),
    pollIntervalMs: config.outbox.pollIntervalMs,
    gatherMs: config.outbox.gatherMs,
    // Bounds each send; the claim lease is sized to outlast it.
    sendTimeoutMs: config.downstream.timeoutMs,
  });
  // Publishes the order event log to NATS JetStream, when configured; woken by every save.
  const publisher: NatsEventPublisher | undefined =
    config.events.natsUrl === undefined
      ? undefined
      : startNatsEventPublisher({
          store,
          servers: config.events.natsUrl,
          stream: config.events.natsStream,
          logger: logger.child({ component: "event-publisher" }),
          pollIntervalMs: config.outbox.pollIntervalMs,
        });
  const worker = await createOrderWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundlePath: bundle,
    maxCachedWorkflows: config.workflow.maxCachedWorkflows,
    workflowStackTraces: config.workflow.workflowStackTraces,
    dataConverter: payloadDataConverter(keyringOf(config)),
    activities: createActivities({
      clients,
      store,
      onOutboxWritten: () => dispatcher.wake(),
      onSaved: publisher === undefined ? undefined : () => publisher.wake(),
    }),
    observability,
  }).catch(async (err: unknown) => {
    await Promise.all([dispatcher.stop(), publisher?.stop()]);
    throw err;
  });
  const running = worker.run();
  running.catch((err: unknown) => logger.fatal({ err }, "worker stopped with an error"));
  return {
    worker,
    async stop() {
      if (worker.getState() === "RUNNING") worker.shutdown();
      await running.catch(() => {});
      await Promise.all([dispatcher.stop(), publisher?.stop()]);
      await connection.close();
      await store.close();
    },
  };
}
