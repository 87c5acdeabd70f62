/**
 * The API part (`oms api`, and `oms dev`'s API): only what the API server
 * needs, so that `oms api` does not load the worker's modules (the Temporal
 * core bridge, webpack, activities, reference services) it never runs.
 */
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Connection } from "@temporalio/client";
import type { Logger } from "pino";
import { withAfterAnswer } from "../api/after-answer.js";
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
import type { Config } from "../config/config.js";
import { DEFAULT_PRICING } from "../domain/pricing.js";
import { createRpcObservabilityInterceptor } from "../observability/rpc-interceptor.js";
import { temporalClientInterceptors } from "../observability/temporal-observability.js";
import type { OrderStore } from "../readmodel/store.js";
import { payloadDataConverter } from "../temporal/codec/data-converter.js";
import { EncryptionCodec } from "../temporal/codec/encryption-codec.js";
import type { Keyring } from "../temporal/codec/keyring.js";
import { temporalConnectionOptions } from "../temporal/connection-options.js";
import { createOrderCommands } from "../temporal/order-commands.js";
import { createReturnCommands } from "../temporal/return-commands.js";
import {
  createWorkflowStarter,
  startWorkflowStartDispatcher,
  type WorkflowStarter,
} from "../temporal/workflow-starts.js";
import { keyringOf, openStore } from "./common-setup.js";

export interface RunningApi {
  server: ApiServer;
  health: HealthStatus;
  store: OrderStore;
  /** Starts accepted orders' workflows; `whenStarted` tells when an order's has been. */
  starter: Pick<WorkflowStarter, "whenStarted">;
  stop(): Promise<void>;
}

/**
 * On a SQLite read model, the API leaves checkpoints to the worker, which
 * writes most of the pages: a checkpoint runs synchronously in the commit
 * that finds the WAL long (an fsync and the copy of the WAL's pages, 10–15 ms
 * measured), and in the API it stalled every call in flight. Should no
 * worker write for a long time, the API checkpoints once the WAL is ten
 * times SQLite's threshold (about 40 MB).
 */
const API_WAL_AUTOCHECKPOINT_PAGES = 10_000;

export async function startApi(
  config: Config,
  temporalAddress: string,
  logger: Logger,
): Promise<RunningApi> {
  // First: a contract RPC without a role or an unreadable key stops the start here.
  const security = createApiSecurity(config.security, logger);
  const keyring = keyringOf(config);
  const store = withUnavailableErrors(
    await openStore(config, { walAutocheckpointPages: API_WAL_AUTOCHECKPOINT_PAGES }),
  );
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
  const starter = createWorkflowStarter({ client, store, logger });
  // Starts what accepting processes left over (they died, or Temporal was away).
  const startDispatcher = startWorkflowStartDispatcher({
    store,
    starter,
    logger,
    pollIntervalMs: Math.min(1_000, Math.max(100, config.api.workflowStartGraceMs)),
  });
  const commands = createOrderCommands({
    starter,
    startGraceMs: config.api.workflowStartGraceMs,
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
    starter,
    async stop() {
      // Tell load balancers first, end long-lived streams, then drain calls.
      health.shutdown();
      draining.abort();
      monitor.stop();
      await server.close(config.api.shutdownGraceMs);
      // Starts under way finish (within the grace, should Temporal be away:
      // what is left, another process's dispatcher starts).
      await Promise.race([
        startDispatcher.stop().then(() => starter.drain()),
        sleep(config.api.shutdownGraceMs, undefined, { ref: false }),
      ]);
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
    contextValues: (req: Parameters<typeof security.contextValues>[0]) =>
      withAfterAnswer(security.contextValues(req), req),
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
