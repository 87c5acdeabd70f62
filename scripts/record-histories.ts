/**
 * Re-records the workflow histories that test/replay replays on every change.
 * Each scenario runs through the real API, worker and a fresh in-memory
 * Temporal dev server, then its history is saved as JSON.
 *
 *   npm run record-histories
 *
 * Re-record only on purpose: a fixture recorded by an older version of the
 * workflow is exactly what proves that a change still replays old histories.
 * Add new scenarios under new names instead of overwriting old ones.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { type Client as ConnectClient, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client, Connection } from "@temporalio/client";
import { historyToJSON } from "@temporalio/common/lib/proto-utils.js";
import { DefaultLogger, Runtime } from "@temporalio/worker";
import { pino } from "pino";
import { OrderService } from "../gen/oms/v1/order_service_pb.js";
import { startApi, startWorker } from "../src/cmd/components.js";
import { loadConfig } from "../src/config/config.js";
import { orderWorkflowId } from "../src/domain/ids.js";
import { startDevServer } from "../src/temporal/dev-server.js";

const root = path.resolve(import.meta.dirname, "..");
const outDir = path.join(root, "test/fixtures/histories");

type Orders = ConnectClient<typeof OrderService>;

const address = {
  name: "Ada Lovelace",
  line1: "12 Analytical Row",
  city: "London",
  countryCode: "GB",
};
const order = (orderId: string) => ({
  orderId,
  customerId: "customer-1",
  currencyCode: "USD",
  items: [
    { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
    { sku: "SKU-2", quantity: 1, unitPriceMinor: 999n },
  ],
  shippingAddress: address,
});

/** Scenario name → what to do; the workflow of order id `record-<name>` is saved. */
const scenarios: Record<
  string,
  { fulfillmentDelayMs: number; run(orders: Orders, id: string): Promise<void> }
> = {
  "v1-completed": {
    fulfillmentDelayMs: 0,
    async run(orders, id) {
      await orders.submitOrder(order(id));
    },
  },
  "v1-cancelled-while-processing": {
    fulfillmentDelayMs: 3_600_000,
    async run(orders, id) {
      await orders.submitOrder(order(id));
      await orders.cancelOrder({ orderId: id, reason: "changed my mind" });
      await orders.cancelOrder({ orderId: id, reason: "asked twice" });
    },
  },
};

async function main() {
  Runtime.install({ logger: new DefaultLogger("WARN") });
  const server = await startDevServer({
    cliPath: path.join(root, ".tools/venv/bin/temporal"),
    port: 7399,
  });
  const logger = pino({ level: "warn" });
  mkdirSync(outDir, { recursive: true });
  try {
    for (const [name, scenario] of Object.entries(scenarios)) {
      const config = loadConfig({
        TEMPORAL_ADDRESS: server.address,
        OMS_TASK_QUEUE: `record-${name}`,
        OMS_API_HOST: "127.0.0.1",
        OMS_API_PORT: "0",
        OMS_FULFILLMENT_DELAY_MS: String(scenario.fulfillmentDelayMs),
      });
      const worker = await startWorker(config, server.address, logger);
      const api = await startApi(config, server.address, logger);
      const connection = await Connection.connect({ address: server.address });
      try {
        const orders = createClient(OrderService, createGrpcTransport({ baseUrl: api.server.url }));
        const id = `record-${name}`;
        await scenario.run(orders, id);
        const handle = new Client({ connection }).workflow.getHandle(orderWorkflowId(id));
        await handle.result();
        const file = path.join(outDir, `${name}.json`);
        writeFileSync(file, historyToJSON(await handle.fetchHistory()));
        console.log(`recorded ${path.relative(root, file)}`);
      } finally {
        await api.stop();
        await worker.stop();
        await connection.close();
      }
    }
  } finally {
    await server.stop();
  }
}

await main();
