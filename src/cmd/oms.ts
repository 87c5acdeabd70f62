#!/usr/bin/env node
/**
 * The one command line: `oms dev | api | worker`.
 *   dev                 everything in one process tree: embedded Temporal dev
 *                       server (unless TEMPORAL_ADDRESS is set), the reference
 *                       downstream services (for URLs not set), worker and API
 *   api                 the stateless API server only
 *   worker              the workflow and activity worker only
 *   reference-services  the reference inventory, payments, shipping and
 *                       notifications services, with the simulated courier
 *   load                a load generator, a client of any deployment's API
 *                       (src/load; needs no configuration, starts nothing)
 *   token               mints a bearer token for `oms dev` with OMS_AUTH=jwt
 */
import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { type Config, ConfigError, loadConfig } from "../config/config.js";
import type { NatsServer } from "../events/nats-server.js";
import { type DevServer, startDevServer } from "../temporal/dev-server.js";
import { applyHeapGrowth } from "./heap-growth.js";
import { createLogger } from "./logger.js";
import type { DevSecurity } from "./security-setup.js";
import { createTemporalRuntimeLogger } from "./temporal-runtime-logger.js";

// The rest of the code (the Temporal SDK, the server, the read model, …) is
// imported when a command needs it: loading it takes seconds on a busy
// machine, and `oms dev` boots its embedded Temporal server meanwhile.
const components = () => import("./components.js");
const securitySetup = () => import("./security-setup.js");
/**
 * How long `oms worker`'s main thread may go without turning its event loop
 * before the stall guard kills the process (workflow code that never yields).
 */
const WORKER_STALL_LIMIT_MS = 30_000;

type Stop = () => Promise<void>;

/** Where `npm install` builds grpcurl (scripts/setup.mjs), relative to the working directory. */
const GRPCURL = ".tools/bin/grpcurl";

const COMMANDS: Record<
  string,
  (config: Config, logger: Logger, devServer?: Promise<DevServer>) => Promise<Stop[]>
> = {
  /** `devServer`: the embedded Temporal server that main started first, unless TEMPORAL_ADDRESS is set. */
  async dev(config, logger, devServer) {
    const { downstreamUrls, startApi, startReferenceServicesFromConfig, startWorker } =
      await components();
    // Before anything reads config.security: a development keyring, and with
    // OMS_AUTH=jwt a development key pair and the simulated courier's token.
    const security = await (await securitySetup()).prepareDevSecurity(config, logger);
    const apiUrl = `http://127.0.0.1:${config.api.port}`;
    const needsReferenceServices = Object.values(config.downstream.urls).some(
      (url) => url === undefined,
    );
    // What does not depend on each other starts at once: the dev server takes
    // seconds to boot, the reference services need no Temporal, and the worker
    // and the API need only Temporal.
    const [server, refs] = await startTogether(
      devServer,
      needsReferenceServices
        ? startReferenceServicesFromConfig(
            config,
            config.referenceServices.omsApiUrl ?? apiUrl,
            logger,
            security.courierInterceptors,
          )
        : undefined,
    );
    const address = server?.address ?? (config.temporal.address as string);
    let nats: NatsServer | undefined;
    try {
      nats = await startEmbeddedNats(config, logger);
      // The worker publishes order events to the embedded server (or the configured one).
      const withEvents: Config = {
        ...config,
        events: { ...config.events, natsUrl: nats?.url ?? config.events.natsUrl },
      };
      const [worker, api] = await startTogether(
        startWorker(
          withEvents,
          address,
          downstreamUrls(config, refs?.url),
          logger,
          security.workerInterceptors,
        ),
        startApi(config, address, logger),
      );
      printBanner(withEvents, api.server.port, address, server?.uiUrl, refs?.url, security);
      return [
        api.stop,
        worker.stop,
        ...(nats ? [nats.stop] : []),
        ...(refs ? [refs.stop] : []),
        ...(server ? [server.stop] : []),
      ];
    } catch (err) {
      await nats?.stop().catch(() => {});
      await refs?.stop().catch(() => {});
      await server?.stop().catch(() => {});
      throw err;
    }
  },
  async api(config, logger) {
    const { requireApiAuth, requirePayloadKeys } = await securitySetup();
    requireApiAuth(config);
    requirePayloadKeys(config, logger);
    // The API part alone: `oms api` does not load the worker's modules.
    const { startApi } = await import("./api-component.js");
    const api = await startApi(config, requireAddress(config), logger);
    logger.info({ url: api.server.url }, "API server listening");
    return [api.stop];
  },
  async worker(config, logger) {
    (await securitySetup()).requirePayloadKeys(config, logger);
    const { downstreamUrls, startWorker } = await components();
    const worker = await startWorker(
      config,
      requireAddress(config),
      downstreamUrls(config),
      logger,
    );
    logger.info({ taskQueue: config.temporal.taskQueue }, "worker polling");
    // Workflows run in this thread without a per-call time limit (src/temporal/worker.ts).
    const guard = config.workflow.workflowStackTraces
      ? undefined
      : (await import("../temporal/stall-guard.js")).startStallGuard(WORKER_STALL_LIMIT_MS);
    return [async () => guard?.stop(), worker.stop];
  },
  async "reference-services"(config, logger) {
    // The reference services alone: not the worker's modules.
    const { startReferenceServicesFromConfig } = await import("./reference-services-component.js");
    const apiUrl = config.referenceServices.omsApiUrl ?? `http://127.0.0.1:${config.api.port}`;
    const refs = await startReferenceServicesFromConfig(config, apiUrl, logger);
    logger.info({ url: refs.url, courierReportsTo: apiUrl }, "reference services listening");
    return [refs.stop];
  },
};

/** Commands that are clients: flags only, no configuration, nothing started; resolve with the exit code. */
const CLIENT_COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  load: async (args) => {
    const { runLoadCommand } = await import("../load/cli.js");
    const interrupt = new AbortController();
    process.once("SIGINT", () => interrupt.abort());
    return runLoadCommand(args, {
      stdout: process.stdout,
      stderr: process.stderr,
      signal: interrupt.signal,
    });
  },
  token: async (args) =>
    (await securitySetup()).runTokenCommand(args, {
      stdout: process.stdout,
      stderr: process.stderr,
    }),
};

function startEmbeddedDevServer(config: Config, logger: Logger): Promise<DevServer> {
  const { devServer } = config.temporal;
  // The Web UI decodes payloads through the API's codec endpoint (from the browser: CORS).
  config.security.codecCorsOrigins.push(
    `http://localhost:${devServer.uiPort}`,
    `http://127.0.0.1:${devServer.uiPort}`,
  );
  return startDevServer({
    cliPath: devServer.cliPath,
    port: devServer.port,
    uiPort: devServer.uiPort,
    uiCodecEndpoint: `http://127.0.0.1:${config.api.port}/codec`,
    dbFile: devServer.dbFile,
    namespaces: [config.temporal.namespace],
    logger,
  });
}

/**
 * Awaits two starts side by side; when one fails, stops the other if it
 * started, then throws the failure.
 */
async function startTogether<A extends Started | undefined, B extends Started | undefined>(
  a: Promise<A> | A,
  b: Promise<B> | B,
): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "fulfilled" && rb.status === "fulfilled") return [ra.value, rb.value];
  for (const r of [ra, rb]) {
    if (r.status === "fulfilled") await r.value?.stop().catch(() => {});
  }
  throw ra.status === "rejected" ? ra.reason : (rb as PromiseRejectedResult).reason;
}

/**
 * The broker order events go to under `oms dev`, unless OMS_EVENTS_NATS_URL
 * names one or OMS_DEV_NATS=false; without the binary, events still stream
 * from the API (StreamOrderEvents).
 */
async function startEmbeddedNats(config: Config, logger: Logger): Promise<NatsServer | undefined> {
  const { devServer } = config.events;
  if (config.events.natsUrl !== undefined || !devServer.enabled) return undefined;
  if (!existsSync(devServer.binPath)) {
    logger.warn(
      { binPath: devServer.binPath },
      "nats-server is not installed (npm run setup builds it with Go); order events are not published to NATS",
    );
    return undefined;
  }
  const { startNatsServer } = await import("../events/nats-server.js");
  return startNatsServer(devServer);
}

interface Started {
  stop: Stop;
}

function requireAddress(config: Config): string {
  if (config.temporal.address === undefined) {
    throw new ConfigError([
      "TEMPORAL_ADDRESS must be set for this command (only `oms dev` embeds a server)",
    ]);
  }
  return config.temporal.address;
}

function printBanner(
  config: Config,
  apiPort: number,
  temporalAddress: string,
  uiUrl: string | undefined,
  referenceServicesUrl: string | undefined,
  security: DevSecurity,
): void {
  const api = `localhost:${apiPort}`;
  const order = JSON.stringify({
    order_id: "demo-1",
    customer_id: "c-1",
    currency_code: "USD",
    items: [
      { sku: "KEYBOARD-MX", quantity: 1, unit_price_minor: "8900" },
      { sku: "SKU-1", quantity: 2, unit_price_minor: "1250" },
    ],
    shipping_address: { name: "Ada", line1: "1 Main St", city: "Springfield", country_code: "US" },
  });
  const lines = [
    "",
    "oms is ready",
    `  API (gRPC, gRPC-Web, Connect)  ${api}`,
    `  Temporal                       ${temporalAddress} (namespace ${config.temporal.namespace})`,
    `  Temporal Web UI                ${uiUrl ?? "(external server: see its own UI)"}`,
    `  Reference services             ${referenceServicesUrl ?? "(not started: every OMS_*_URL is set)"}`,
    `  API authentication             ${security.auth}`,
    `  Customer data in Temporal      ${security.payloads}`,
    `  Order events (NATS JetStream)  ${config.events.natsUrl === undefined ? "(off: no OMS_EVENTS_NATS_URL, OMS_DEV_NATS=false or no nats-server)" : `${config.events.natsUrl} (stream ${config.events.natsStream}, subjects oms.orders.<order_id>)`}`,
    "",
    "Try:",
    ...tryCommands(api, order, !security.auth.startsWith("OPEN")),
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** grpcurl once `npm install`'s background build has made it; `buf curl` (an npm package) until then. */
function tryCommands(api: string, order: string, tokens: boolean): string[] {
  // With OMS_AUTH=jwt, each call carries a token minted for the role it needs.
  const bearer = (role: string) =>
    tokens ? ` -H "authorization: Bearer $(npm run -s oms -- token --role ${role})"` : "";
  if (existsSync(GRPCURL)) {
    return [
      `  ${GRPCURL} -plaintext${bearer("orders.write")} -d '${order}' ${api} oms.v1.OrderService/SubmitOrder`,
      `  ${GRPCURL} -plaintext${bearer("orders.read")} -d '{"order_id":"demo-1"}' ${api} oms.v1.OrderService/WatchOrder`,
    ];
  }
  const curl = "npx buf curl --http2-prior-knowledge --protocol grpc";
  return [
    `  ${curl}${bearer("orders.write")} -d '${order}' http://${api}/oms.v1.OrderService/SubmitOrder`,
    `  ${curl}${bearer("orders.read")} -d '{"order_id":"demo-1"}' http://${api}/oms.v1.OrderService/WatchOrder`,
    `  (grpcurl is being built in the background into ${GRPCURL}: see .tools/grpcurl.log)`,
  ];
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? "";
  const client = CLIENT_COMMANDS[name];
  if (client !== undefined) {
    process.exit(await client(process.argv.slice(3)));
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    const names = [...Object.keys(COMMANDS), ...Object.keys(CLIENT_COMMANDS)];
    process.stderr.write(`usage: oms <${names.join("|")}>\n`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // First, before the commands' modules fill the heap.
  const heapGrowth = applyHeapGrowth(config.heapGrowingPercent);
  const logger = createLogger(config);
  // What node itself was started with (bin/oms gives `oms api` its memory
  // settings on node's command line): operators and the bench read it here.
  logger.info(
    {
      heapGrowth,
      nodeFlags: process.execArgv,
      mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null,
    },
    "V8 heap growth",
  );
  // `oms dev`'s embedded Temporal server boots (a separate process) while this one loads the rest.
  const devServer =
    name === "dev" && config.temporal.address === undefined
      ? startEmbeddedDevServer(config, logger)
      : undefined;
  // Its failure is reported where the dev command awaits it.
  devServer?.catch(() => {});
  // Before any Temporal connection exists: the core runtime's logging (through
  // pino) and metrics, tracing, and the metrics endpoint.
  const { startProcessTelemetry } = await import("../observability/process-telemetry.js");
  const telemetry = await startProcessTelemetry({
    serviceName: `oms-${name}`,
    metrics: { ...config.metrics, temporal: name === "dev" || name === "worker" },
    // Only a worker runs on the core runtime; the API's client is plain gRPC.
    temporalRuntime: name === "dev" || name === "worker",
    logger,
    // Unredacted: pino's redaction rewrites the SDK's log records in place,
    // which failed the worker's workflow tasks (they carry no payloads).
    temporalLogger: createTemporalRuntimeLogger(createLogger(config, "oms", undefined, false)),
  }).catch(async (err: unknown) => {
    await devServer?.then((server) => server.stop()).catch(() => {});
    throw err;
  });

  let stops: Stop[] = [];
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    for (const stop of stops) {
      try {
        await stop();
      } catch (err) {
        logger.error({ err }, "error during shutdown");
      }
    }
    logger.info("stopped");
    await flushed(logger);
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  try {
    stops = [...(await command(config, logger, devServer)), telemetry.stop];
  } catch (err) {
    // A setting a command requires (e.g. an authentication method for `oms api`).
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      await devServer?.then((server) => server.stop()).catch(() => {});
      process.exit(2);
    }
    logger.fatal({ err }, `oms ${name} failed to start`);
    for (const stop of stops) await stop().catch(() => {});
    await devServer?.then((server) => server.stop()).catch(() => {});
    await flushed(logger);
    process.exit(1);
  }
}

/**
 * Resolves once the log lines written so far have left (the logger writes
 * asynchronously; the exit-time synchronous flush could overtake a write
 * still under way and print the last lines out of order).
 */
function flushed(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

await main();
