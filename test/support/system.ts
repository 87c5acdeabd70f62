/**
 * A whole OMS for one test file: a worker on its own task queue and an API
 * server on a free port, both attached to the run's shared Temporal dev server
 * (global-setup.ts), started exactly as `oms dev` starts them.
 */
import { randomUUID } from "node:crypto";
import { type Client as ConnectClient, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Client, Connection } from "@temporalio/client";
import { pino } from "pino";
import { inject } from "vitest";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { startApi, startWorker } from "../../src/cmd/components.js";
import { loadConfig } from "../../src/config/config.js";

export interface TestSystem {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  taskQueue: string;
  namespace: string;
  /** OrderService over the gRPC protocol (HTTP/2). */
  grpc: ConnectClient<typeof OrderService>;
  /** OrderService over the Connect protocol (HTTP/2). */
  connect: ConnectClient<typeof OrderService>;
  /** A Temporal client on the same namespace, for looking behind the API. */
  temporal: Client;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestSystemOptions {
  /** Extra environment (configuration) for this system. */
  env?: Record<string, string>;
}

export async function startTestSystem(options: TestSystemOptions = {}): Promise<TestSystem> {
  const address = inject("temporalAddress");
  const taskQueue = `test-${randomUUID()}`;
  const config = loadConfig({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_NAMESPACE: process.env.OMS_TEST_TEMPORAL_NAMESPACE ?? "oms-test",
    OMS_TASK_QUEUE: taskQueue,
    OMS_API_HOST: "127.0.0.1",
    OMS_API_PORT: "0",
    OMS_API_SHUTDOWN_GRACE_MS: "2000",
    OMS_LOG_LEVEL: process.env.OMS_TEST_LOG_LEVEL ?? "warn",
    ...options.env,
  });
  const logger = pino({ level: config.logLevel });
  const worker = await startWorker(config, address, logger);
  const api = await startApi(config, address, logger);
  const connection = await Connection.connect({ address });
  const url = api.server.url;
  let workerStopped = false;
  const stopWorker = async () => {
    if (workerStopped) return;
    workerStopped = true;
    await worker.stop();
  };
  return {
    url,
    port: api.server.port,
    taskQueue,
    namespace: config.temporal.namespace,
    grpc: createClient(OrderService, createGrpcTransport({ baseUrl: url })),
    connect: createClient(OrderService, createConnectTransport({ baseUrl: url, httpVersion: "2" })),
    temporal: new Client({ connection, namespace: config.temporal.namespace }),
    stopWorker,
    async stop() {
      await api.stop();
      await stopWorker();
      await connection.close();
    },
  };
}
