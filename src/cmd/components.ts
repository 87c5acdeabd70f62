import { setMaxListeners } from "node:events";
/**
 * The parts every command is made of, each started from the one validated
 * Config. `oms dev` starts all of them in one process; `oms api`,
 * `oms worker` and `oms reference-services` start one each; tests start them
 * the same way.
 */

import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client, Connection } from "@temporalio/client";
import { NativeConnection, type Worker } from "@temporalio/worker";
import type { Logger } from "pino";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { createActivities } from "../activities/index.js";
import { createApiSecurity } from "../api/auth/api-security.js";
import { createCodecEndpoint } from "../api/codec/codec-endpoint.js";
import { startDependencyMonitor } from "../api/dependency-monitor.js";
import { createErrorInterceptor } from "../api/error-interceptor.js";
import {
  createHealthStatus,
  type HealthStatus,
  OVERALL_SERVICE,
  ServingStatus,
} from "../api/health/health-status.js";
import { principalKey } from "../api/principal.js";
import { BUSINESS_SERVICES, createRoutes } from "../api/routes.js";
import { type ApiServer, startApiServer } from "../api/server.js";
import { createOrderEventStreamer } from "../api/stream-order-events.js";
import { withUnavailableErrors } from "../api/unavailable-store.js";
import { createValidationInterceptor } from "../api/validation.js";
import { createOrderWatcher } from "../api/watch-order.js";
import { downstreamCredentials } from "../clients/credentials.js";
import { createDownstreamClients, type DownstreamUrls } from "../clients/downstream.js";
import { type Config, ConfigError } from "../config/config.js";
import { DEFAULT_PRICING } from "../domain/pricing.js";
import { type NatsEventPublisher, startNatsEventPublisher } from "../events/nats-publisher.js";
import { createDownstreamObservabilityInterceptor } from "../observability/downstream-interceptor.js";
import { createRpcObservabilityInterceptor } from "../observability/rpc-interceptor.js";
import { withStoreMetrics } from "../observability/store-metrics.js";
import {
  temporalClientInterceptors,
  workerObservability,
} from "../observability/temporal-observability.js";
import { startNotificationDispatcher } from "../outbox/notification-dispatcher.js";
import { createStore } from "../readmodel/create-store.js";
import type { OrderStore } from "../readmodel/store.js";
import { type ReferenceServices, startReferenceServices } from "../reference-services/index.js";
import { payloadDataConverter } from "../temporal/codec/data-converter.js";
import { EncryptionCodec } from "../temporal/codec/encryption-codec.js";
import type { Keyring } from "../temporal/codec/keyring.js";
import { temporalConnectionOptions } from "../temporal/connection-options.js";
import { createOrderCommands } from "../temporal/order-commands.js";
import { createReturnCommands } from "../temporal/return-commands.js";
import { createOrderWorker } from "../temporal/worker.js";
import { ensureWorkflowBundle } from "../temporal/workflow-bundle.js";
import { apiClientOptions, referenceServicesSecurity } from "./security-setup.js";

async function openStore(config: Config): Promise<OrderStore> {
  const store = await createStore({
    databaseUrl: config.readModel.databaseUrl,
    dataDir: config.dataDir,
    pageTokenSecret: config.readModel.pageTokenSecret,
  });
  return withStoreMetrics(store);
}

/** The payload keyring, if payloads are encrypted (OMS_PAYLOAD_KEYS; `oms dev` fills in its own). */
function keyringOf(config: Config): Keyring | undefined {
  const keys = config.security.payloadKeys;
  return typeof keys === "object" ? keys : undefined;
}

export interface RunningApi {
  server: ApiServer;
  health: HealthStatus;
  store: OrderStore;
  stop(): Promise<void>;
}

export async function startApi(
  config: Config,
  temporalAddress: string,
  logger: Logger,
): Promise<RunningApi> {
  // First: a contract RPC without a role or an unreadable key stops the start here.
  const security = createApiSecurity(config.security, logger);
  const keyring = keyringOf(config);
  const store = withUnavailableErrors(await openStore(config));
  const connectionOptions = {
    ...temporalConnectionOptions(config.temporal, temporalAddress),
    // grpc-js backs off reconnects up to 120 s by default: after a Temporal
    // outage the API would stay unable to reach it long after it is back.
    channelArgs: {
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
    },
  };
  const connection = await Connection.connect(connectionOptions);
  // Health probes get a connection of their own without the client's retry
  // interceptor: a probe must fail fast, and a retry timer left behind by a
  // timed-out probe threw "Channel has been shut down" after close.
  const probeConnection = await Connection.connect({ ...connectionOptions, interceptors: [] });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    interceptors: temporalClientInterceptors(),
    dataConverter: payloadDataConverter(keyring),
  });
  const commands = createOrderCommands({
    client,
    store,
    taskQueue: config.temporal.taskQueue,
    pricing: DEFAULT_PRICING,
    customerActionTimeoutMs: config.workflow.customerActionTimeoutMs,
    holdPolicy: config.workflow.holdPolicy,
    slaPolicy: config.workflow.slaPolicy,
    reauthorizeMarginMs: config.workflow.reauthorizeMarginMs,
    resourcing: config.workflow.resourcing,
  });
  // Aborted first at shutdown: health watches and order watches end, so clients reconnect elsewhere.
  const draining = new AbortController();
  // Every open WatchOrder and health Watch listens to it.
  setMaxListeners(0, draining.signal);
  const watch = createOrderWatcher({
    store,
    pollIntervalMs: config.watch.pollIntervalMs,
    maxStreams: config.watch.maxStreams,
    draining: draining.signal,
  });
  const streamEvents = createOrderEventStreamer({
    store,
    pollIntervalMs: config.watch.pollIntervalMs,
    maxStreams: config.watch.maxStreams,
    draining: draining.signal,
  });

  // Health: NOT_SERVING until the first probe shows every dependency reachable.
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
          probeConnection.withAbortSignal(signal, () =>
            probeConnection.workflowService.getSystemInfo({}),
          ),
      },
      { name: "read model", probe: () => store.ping() },
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
      store,
      watch,
      streamEvents,
      returns: createReturnCommands({
        client,
        store,
        taskQueue: config.temporal.taskQueue,
        policy: config.returns,
      }),
      health: config.api.health ? { status: health, signal: draining.signal } : undefined,
      reflection: config.api.reflection,
    }),
    // Access log, metrics and traces outermost, to see the codes callers get;
    // then errors, so that validation and authentication failures get their
    // ErrorInfo too; authentication before validation, so that strangers
    // learn nothing.
    interceptors: [
      createRpcObservabilityInterceptor({
        logger,
        principal: (values) => values.get(principalKey),
      }),
      createErrorInterceptor(logger),
      ...security.interceptors,
      createValidationInterceptor(),
    ],
    ...apiServerSecurityOptions(config, security, keyring, logger),
    maxMessageBytes: config.api.maxMessageBytes,
    maxTimeoutMs: config.api.maxTimeoutMs,
    logger,
  });
  return {
    server,
    health,
    store,
    async stop() {
      // Tell load balancers first, end long-lived streams, then drain calls.
      health.shutdown();
      draining.abort();
      monitor.stop();
      await server.close(config.api.shutdownGraceMs);
      await probeConnection.close();
      await connection.close();
      await store.close();
    },
  };
}

/** TLS, client certificates and the codec endpoint (served on the API port when payloads are encrypted). */
function apiServerSecurityOptions(
  config: Config,
  security: ReturnType<typeof createApiSecurity>,
  keyring: Keyring | undefined,
  logger: Logger,
) {
  const codec =
    keyring &&
    createCodecEndpoint({
      codec: new EncryptionCodec(keyring),
      authenticate: security.authenticate,
      corsOrigins: config.security.codecCorsOrigins,
      maxBodyBytes: config.api.maxMessageBytes,
      logger,
    });
  return {
    ...(security.tls ? { tls: security.tls } : {}),
    contextValues: security.contextValues,
    ...(codec
      ? {
          fallback: (...[req, res]: Parameters<typeof codec>) =>
            void codec(req, res).catch((err: unknown) => {
              logger.error({ err }, "codec endpoint failed");
              res.destroy();
            }),
        }
      : {}),
  };
}

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
  const connection = await NativeConnection.connect(
    temporalConnectionOptions(config.temporal, temporalAddress),
  );
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

/**
 * The reference implementations of the downstream services, with the
 * simulated courier reporting to the OMS API (when enabled), so orders
 * complete by themselves.
 */
export async function startReferenceServicesFromConfig(
  config: Config,
  omsApiUrl: string,
  logger: Logger,
  /** Credentials of the courier's calls besides those configured (`oms dev`'s tokens). */
  credentials: Interceptor[] = [],
): Promise<ReferenceServices> {
  const rs = config.referenceServices;
  const shipments = createClient(
    ShipmentService,
    createGrpcTransport({ baseUrl: omsApiUrl, ...apiClientOptions(config, credentials) }),
  );
  return startReferenceServices({
    ...referenceServicesSecurity(config),
    host: rs.host,
    port: rs.port,
    logger: logger.child({ component: "reference-services" }),
    faults: rs.faults,
    catalog: rs.catalog,
    payments: { authorizationTtlMs: rs.authorizationTtlMs },
    stateFile: rs.stateFile,
    simulatedCourier: rs.simulatedCourier
      ? {
          dispatchDelayMs: rs.courierDispatchDelayMs,
          deliverDelayMs: rs.courierDeliveryDelayMs,
          async reportEvent({ shipmentId, fulfillmentId, event, occurredAt }) {
            await shipments.reportShipmentEvent({
              shipmentId,
              fulfillmentId,
              event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
              occurredAt: timestampFromDate(occurredAt),
            });
          },
        }
      : false,
  });
}
