/**
 * A whole OMS for one test file: reference downstream services, a worker on
 * its own task queue and an API server on a free port, attached to the run's
 * shared Temporal dev server (global-setup.ts), started exactly as `oms dev`
 * starts them. Each system has its own read-model database.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Client as ConnectClient, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Client, Connection, type WorkflowHandle } from "@temporalio/client";
import { type Logger, pino } from "pino";
import { inject } from "vitest";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import {
  downstreamUrls,
  type RunningApi,
  type RunningWorker,
  startApi,
  startWorker,
} from "../../src/cmd/components.js";
import { type Config, loadConfig } from "../../src/config/config.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import {
  type ReferenceServices,
  startReferenceServices,
} from "../../src/reference-services/index.js";

export interface TestSystem {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  config: Config;
  /** OrderService over the gRPC protocol (HTTP/2). */
  grpc: ConnectClient<typeof OrderService>;
  /** OrderService over the Connect protocol (HTTP/2). */
  connect: ConnectClient<typeof OrderService>;
  /** The courier integration's view: ShipmentService over gRPC. */
  shipments: ConnectClient<typeof ShipmentService>;
  /** The reference downstream services (ledger, stock, faults). */
  refs: ReferenceServices;
  /** A Temporal client on the same namespace, for looking behind the API. */
  temporal: Client;
  api: RunningApi;
  /**
   * The order's workflow, once it exists: SubmitOrder answers before the
   * workflow is started (in the background), so a handle taken right after
   * it may find nothing yet. Waits for the API's start, not for time.
   */
  startedWorkflow(orderId: string): Promise<WorkflowHandle>;
  /** Stops the worker (orders pause; the API keeps answering from the read model). */
  stopWorker(): Promise<void>;
  /** Starts a worker again after stopWorker. */
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestSystemOptions {
  /** Extra environment (configuration) for this system. */
  env?: Record<string, string>;
  /** Options of the reference services (faults, courier, spending limits). */
  refs?: Parameters<typeof startReferenceServices>[0];
  /** Where the API, worker and reference services log (default: pino to stdout at OMS_LOG_LEVEL). */
  logger?: Logger;
  /** Where the API and worker reach Temporal (default: the run's dev server, which the test's own client keeps using). */
  temporalAddress?: string;
}

export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const address = inject("temporalAddress");
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-test-"));
  const config = loadConfig({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: process.env.OMS_TEST_TEMPORAL_NAMESPACE ?? "oms-test",
    OMS_TASK_QUEUE: `test-${randomUUID()}`,
    OMS_API_HOST: "127.0.0.1",
    OMS_API_PORT: "0",
    OMS_API_SHUTDOWN_GRACE_MS: "2000",
    OMS_DATA_DIR: dataDir,
    OMS_CACHE_DIR: path.resolve(import.meta.dirname, "../../.oms/cache"),
    OMS_WATCH_POLL_INTERVAL_MS: "50",
    OMS_LOG_LEVEL: process.env.OMS_TEST_LOG_LEVEL ?? "warn",
    ...(process.env.OMS_TEST_DATABASE_URL
      ? { OMS_DATABASE_URL: process.env.OMS_TEST_DATABASE_URL }
      : {}),
    ...options.env,
  });
  const logger = options.logger ?? pino({ level: config.logLevel });
  const refs = await startReferenceServices({ simulatedCourier: false, logger, ...options.refs });
  const urls = downstreamUrls(config, refs.url);
  const omsAddress = options.temporalAddress ?? address;
  let worker: RunningWorker | undefined = await startWorker(config, omsAddress, urls, logger);
  const api = await startApi(config, omsAddress, logger);
  const connection = await Connection.connect({ address });
  const url = api.server.url;
  const temporal = new Client({ connection, namespace: config.temporal.namespace });
  const grpcTransport = createGrpcTransport({ baseUrl: url });
  return {
    url,
    port: api.server.port,
    config,
    grpc: createClient(OrderService, grpcTransport),
    connect: createClient(OrderService, createConnectTransport({ baseUrl: url, httpVersion: "2" })),
    shipments: createClient(ShipmentService, grpcTransport),
    refs,
    temporal,
    api,
    async startedWorkflow(orderId) {
      await api.starter.whenStarted(orderId);
      return temporal.workflow.getHandle(orderWorkflowId(orderId));
    },
    async stopWorker() {
      await worker?.stop();
      worker = undefined;
    },
    async startWorker() {
      worker ??= await startWorker(config, omsAddress, urls, logger);
    },
    async stop() {
      await api.stop();
      await worker?.stop();
      await refs.stop();
      await connection.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
