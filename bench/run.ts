/**
 * npm run bench: the spec's performance figures (section 8), measured side by
 * side in one run on this machine, against a fresh embedded Temporal dev
 * server (SQLite file, the same flags as `oms dev`), the reference services
 * with an instant simulated courier, one worker and one API server, all in
 * this process. Prints ratios, not pass/fail: tests check behaviour, this
 * measures speed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Client, Connection } from "@temporalio/client";
import { DefaultLogger, NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { pino } from "pino";
import { OrderStatus } from "../gen/oms/v1/order_pb.js";
import { OrderService } from "../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent, ShipmentService } from "../gen/oms/v1/shipment_service_pb.js";
import { downstreamUrls, startApi, startWorker } from "../src/cmd/components.js";
import { loadConfig } from "../src/config/config.js";
import { orderWorkflowId } from "../src/domain/ids.js";
import { startReferenceServices } from "../src/reference-services/index.js";
import { startDevServer } from "../src/temporal/dev-server.js";
import { fmt, percentiles, runConcurrently, timeEach } from "./stats.js";

const root = path.resolve(import.meta.dirname, "..");
const address = { name: "Ada", line1: "1 Main St", city: "Springfield", countryCode: "US" };
const order = (
  orderId: string,
  items = [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1000n }],
) => ({
  orderId,
  customerId: `bench-${orderId.split("-")[0]}`,
  currencyCode: "USD",
  items,
  shippingAddress: address,
});
const TWO_WAREHOUSES = [
  { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
  { sku: "MUG-CLASSIC", quantity: 1, unitPriceMinor: 900n },
  { sku: "HOODIE-L", quantity: 1, unitPriceMinor: 4500n },
];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const rows: [string, string][] = [];
const report = (what: string, value: string) => {
  rows.push([what, value]);
  process.stdout.write(`  ${what.padEnd(58)} ${value}\n`);
};

async function main() {
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  const dir = mkdtempSync(path.join(tmpdir(), "oms-bench-"));
  const temporal = await startDevServer({
    cliPath: path.join(root, ".tools/venv/bin/temporal"),
    port: await freePort(),
    dbFile: path.join(dir, "temporal.sqlite"),
  });
  const config = loadConfig({
    TEMPORAL_ADDRESS: temporal.address,
    OMS_API_HOST: "127.0.0.1",
    OMS_API_PORT: "0",
    OMS_DATA_DIR: dir,
    OMS_CACHE_DIR: path.join(root, ".oms/cache"),
    OMS_LOG_LEVEL: "error",
    OMS_WATCH_POLL_INTERVAL_MS: "50",
  });
  const logger = pino({ level: "error" });
  let apiUrl = "";
  const shipments = () => createClient(ShipmentService, createGrpcTransport({ baseUrl: apiUrl }));
  const refs = await startReferenceServices({
    logger,
    payments: { defaultSpendingLimitMinor: 10n ** 15n },
    simulatedCourier: {
      dispatchDelayMs: 0,
      deliverDelayMs: 0,
      reportEvent: async ({ shipmentId, fulfillmentId, event, occurredAt }) => {
        await shipments().reportShipmentEvent({
          shipmentId,
          fulfillmentId,
          event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
          occurredAt: timestampFromDate(occurredAt),
        });
      },
    },
  });
  const worker = await startWorker(
    config,
    temporal.address,
    downstreamUrls(config, refs.url),
    logger,
  );
  const api = await startApi(config, temporal.address, logger);
  apiUrl = api.server.url;
  const orders = createClient(OrderService, createGrpcTransport({ baseUrl: apiUrl }));
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });

  // A worker for the minimal workflow: the dev server's own ceiling.
  const minimalConnection = await NativeConnection.connect({ address: temporal.address });
  const minimalWorker = await Worker.create({
    connection: minimalConnection,
    taskQueue: "bench-minimal",
    workflowsPath: path.join(root, "bench/minimal-workflow.ts"),
    activities: { noop: async () => {} },
  });
  const minimalRunning = minimalWorker.run();
  minimalRunning.catch((err: unknown) =>
    process.stderr.write(`minimal worker stopped: ${String(err)}\n`),
  );

  const completed = async (orderId: string) => {
    await client.workflow.getHandle(orderWorkflowId(orderId)).result();
  };

  try {
    process.stdout.write(
      "\noms bench (2-core machine; everything in one process, one dev server)\n\n",
    );

    // 1. Cost per order, from the histories of a real two-warehouse order.
    const costId = "cost-1";
    await orders.submitOrder(order(costId, TWO_WAREHOUSES));
    await completed(costId);
    const final = (await orders.getOrder({ orderId: costId })).order;
    const ids = [orderWorkflowId(costId)];
    let events = 0;
    let tasks = 0;
    for (const id of ids) {
      await client.workflow.getHandle(id).result();
      const history = await client.workflow.getHandle(id).fetchHistory();
      events += history.events?.length ?? 0;
      tasks += history.events?.filter((e) => e.workflowTaskCompletedEventAttributes).length ?? 0;
    }
    report(
      `cost of a ${final?.fulfillments.length}-fulfillment order (${OrderStatus[final?.status ?? 0]})`,
      `${events} events, ${tasks} workflow tasks, ${ids.length} workflows`,
    );
    report(
      "  Go reference OMS, 2 fulfillments (spec)",
      "~166 events, ~30 workflow tasks, 5 workflows",
    );

    // 2. The API's cost over a bare Temporal client start.
    const bare = percentiles(
      await timeEach(60, (i) =>
        client.workflow.start("minimalWorkflow", {
          taskQueue: "bench-minimal",
          workflowId: `bare-${i}`,
        }),
      ),
    );
    const submit = percentiles(await timeEach(60, (i) => orders.submitOrder(order(`lat-${i}`))));
    report("SubmitOrder through the API, p50 / p99", `${fmt(submit.p50)} / ${fmt(submit.p99)}`);
    report("bare client.workflow.start, p50 / p99", `${fmt(bare.p50)} / ${fmt(bare.p99)}`);
    report("  ratio API / bare start (p50)", `${(submit.p50 / bare.p50).toFixed(2)}x`);
    await Promise.all(Array.from({ length: 60 }, (_, i) => completed(`lat-${i}`)));

    // 3. Reads from the read model.
    const get = percentiles(
      await timeEach(300, (i) => orders.getOrder({ orderId: `lat-${i % 60}` })),
    );
    const list = percentiles(await timeEach(100, () => orders.listOrders({ pageSize: 50 })));
    report("GetOrder (read model), p50 / p99", `${fmt(get.p50)} / ${fmt(get.p99)}`);
    report("ListOrders, page of 50, p50 / p99", `${fmt(list.p50)} / ${fmt(list.p99)}`);

    // 4. Throughput: whole orders against the dev server's ceiling.
    const minimalN = Number(process.env.BENCH_MINIMAL ?? 100);
    const minimalMs = await runConcurrently(minimalN, 8, (i) =>
      client.workflow.execute("minimalWorkflow", {
        taskQueue: "bench-minimal",
        workflowId: `ceiling-${i}`,
      }),
    );
    const ceiling = (minimalN * 1000) / minimalMs;
    const ordersN = Number(process.env.BENCH_ORDERS ?? 24);
    const ordersMs = await runConcurrently(ordersN, 8, async (i) => {
      await orders.submitOrder(order(`tput-${i}`, TWO_WAREHOUSES));
      await completed(`tput-${i}`);
    });
    const throughput = (ordersN * 1000) / ordersMs;
    report("minimal workflows/s (start, 1 activity, done)", `${ceiling.toFixed(1)}/s`);
    report("2-fulfillment orders/s to COMPLETED (courier instant)", `${throughput.toFixed(2)}/s`);
    report("  ratio orders/s / minimal workflows/s", `${(throughput / ceiling).toFixed(3)}`);
    report("  Go reference OMS on 2 cores (spec)", "3.5–4.9 orders/s");

    // 5. Memory per in-flight order (orders waiting for a customer decision stay cached).
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage();
    const waitingN = Number(process.env.BENCH_WAITING ?? 100);
    await runConcurrently(waitingN, 16, (i) =>
      orders.submitOrder(
        order(`wait-${i}`, [
          { sku: "SKU-1", quantity: 1, unitPriceMinor: 100n },
          { sku: "OOS-1", quantity: 1, unitPriceMinor: 100n },
        ]),
      ),
    );
    for (let i = 0; i < waitingN; i++) {
      for (;;) {
        const o = (await orders.getOrder({ orderId: `wait-${i}` })).order;
        if (o?.status === OrderStatus.CUSTOMER_ACTION_REQUIRED) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    gc?.();
    const after = process.memoryUsage();
    report(
      `process memory per in-flight order (${waitingN} waiting)`,
      `heap ${((after.heapUsed - before.heapUsed) / waitingN / 1024).toFixed(0)} KiB, rss ${((after.rss - before.rss) / waitingN / 1024).toFixed(0)} KiB${gc ? "" : " (no --expose-gc)"}`,
    );
    report("transport overhead Connect vs bare @grpc/grpc-js server", "not measured yet");
    process.stdout.write("\n");
  } finally {
    if (minimalWorker.getState() === "RUNNING") minimalWorker.shutdown();
    await minimalRunning.catch(() => {});
    await minimalConnection.close();
    await api.stop();
    await worker.stop();
    await refs.stop();
    await connection.close();
    await temporal.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
