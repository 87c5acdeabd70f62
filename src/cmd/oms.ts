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
import { Runtime } from "@temporalio/worker";
import type { Logger } from "pino";
import { type Config, ConfigError, loadConfig } from "../config/config.js";
import { runLoadCommand } from "../load/cli.js";
import { startDevServer } from "../temporal/dev-server.js";
import {
  downstreamUrls,
  startApi,
  startReferenceServicesFromConfig,
  startWorker,
} from "./components.js";
import { createLogger } from "./logger.js";
import {
  type DevSecurity,
  prepareDevSecurity,
  requireApiAuth,
  requirePayloadKeys,
  runTokenCommand,
} from "./security-setup.js";
import { createTemporalRuntimeLogger } from "./temporal-runtime-logger.js";

type Stop = () => Promise<void>;

const COMMANDS: Record<string, (config: Config, logger: Logger) => Promise<Stop[]>> = {
  async dev(config, logger) {
    const stops: Stop[] = [];
    const security = await prepareDevSecurity(config, logger);
    const apiUrl = `http://127.0.0.1:${config.api.port}`;
    let address = config.temporal.address;
    let uiUrl: string | undefined;
    if (address === undefined) {
      const { devServer } = config.temporal;
      // The Web UI decodes payloads through the API's codec endpoint (from the browser: CORS).
      config.security.codecCorsOrigins.push(
        `http://localhost:${devServer.uiPort}`,
        `http://127.0.0.1:${devServer.uiPort}`,
      );
      const server = await startDevServer({
        cliPath: devServer.cliPath,
        port: devServer.port,
        uiPort: devServer.uiPort,
        uiCodecEndpoint: `${apiUrl}/codec`,
        dbFile: devServer.dbFile,
        namespaces: [config.temporal.namespace],
        logger,
      });
      stops.push(server.stop);
      address = server.address;
      uiUrl = server.uiUrl;
    }
    let fallback: string | undefined;
    if (Object.values(config.downstream.urls).some((url) => url === undefined)) {
      const refs = await startReferenceServicesFromConfig(
        config,
        config.referenceServices.omsApiUrl ?? apiUrl,
        logger,
        security.courierInterceptors,
      );
      stops.unshift(refs.stop);
      fallback = refs.url;
    }
    const worker = await startWorker(config, address, downstreamUrls(config, fallback), logger);
    stops.unshift(worker.stop);
    const api = await startApi(config, address, logger);
    stops.unshift(api.stop);
    printBanner(config, api.server.port, address, uiUrl, fallback, security);
    return stops;
  },
  async api(config, logger) {
    requireApiAuth(config);
    requirePayloadKeys(config, logger);
    const api = await startApi(config, requireAddress(config), logger);
    logger.info({ url: api.server.url }, "API server listening");
    return [api.stop];
  },
  async worker(config, logger) {
    requirePayloadKeys(config, logger);
    const worker = await startWorker(
      config,
      requireAddress(config),
      downstreamUrls(config),
      logger,
    );
    logger.info({ taskQueue: config.temporal.taskQueue }, "worker polling");
    return [worker.stop];
  },
  async "reference-services"(config, logger) {
    const apiUrl = config.referenceServices.omsApiUrl ?? `http://127.0.0.1:${config.api.port}`;
    const refs = await startReferenceServicesFromConfig(config, apiUrl, logger);
    logger.info({ url: refs.url, courierReportsTo: apiUrl }, "reference services listening");
    return [refs.stop];
  },
};

/** Commands that are clients: flags only, no configuration, nothing started; resolve with the exit code. */
const CLIENT_COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  load: (args) => {
    const interrupt = new AbortController();
    process.once("SIGINT", () => interrupt.abort());
    return runLoadCommand(args, {
      stdout: process.stdout,
      stderr: process.stderr,
      signal: interrupt.signal,
    });
  },
  token: (args) => runTokenCommand(args, { stdout: process.stdout, stderr: process.stderr }),
};

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
    "",
    "Try:",
    ...(security.auth.startsWith("OPEN")
      ? [
          `  .tools/bin/grpcurl -plaintext -d '${order}' ${api} oms.v1.OrderService/SubmitOrder`,
          `  .tools/bin/grpcurl -plaintext -d '{"order_id":"demo-1"}' ${api} oms.v1.OrderService/WatchOrder`,
        ]
      : [
          `  .tools/bin/grpcurl -plaintext -H "authorization: Bearer $(npm run -s oms -- token --role orders.write)" -d '${order}' ${api} oms.v1.OrderService/SubmitOrder`,
          `  .tools/bin/grpcurl -plaintext -H "authorization: Bearer $(npm run -s oms -- token --role orders.read)" -d '{"order_id":"demo-1"}' ${api} oms.v1.OrderService/WatchOrder`,
        ]),
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
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
  const logger = createLogger(config);
  // The Temporal core runtime logs through pino too; installed before any connection exists.
  Runtime.install({
    logger: createTemporalRuntimeLogger(createLogger(config, "oms", undefined, false)),
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
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  try {
    stops = await command(config, logger);
  } catch (err) {
    // A setting a command requires (e.g. an authentication method for `oms api`).
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err }, `oms ${name} failed to start`);
    for (const stop of stops) await stop().catch(() => {});
    process.exit(1);
  }
}

await main();
