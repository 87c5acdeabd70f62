/**
 * `npm start` as a user runs it: the compiled `oms dev` process (dist/, as
 * `npm run build` makes it) with its embedded Temporal dev server, called
 * with grpcurl, stopped with SIGTERM, started again on the same data folder
 * (orders, and the reference services' ledger, still there).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { LedgerOperation, PaymentService } from "../../gen/payments/v1/payment_service_pb.js";
import { freePort } from "../support/free-port.js";
import { grpcurl } from "../support/grpcurl.js";
import { expectOneCompletedOrder, metricValue } from "../support/metrics.js";
import { startOmsDev } from "../support/oms-dev.js";
import { readOrderEventsFromNats } from "../support/order-events.js";
import { startOtlpReceiver } from "../support/otlp-receiver.js";

const root = path.resolve(import.meta.dirname, "../..");

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

describe("oms dev", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-dev-"));
  let env: Record<string, string>;
  let api: string;
  const orderId = `e2e-${Date.now()}`;

  beforeAll(async () => {
    // `npm start` builds first; a no-op when dist/ is up to date.
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
    const [apiPort, temporalPort, uiPort, refsPort, natsPort, metricsPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    api = `localhost:${apiPort}`;
    env = {
      OMS_API_PORT: String(apiPort),
      OMS_TEMPORAL_PORT: String(temporalPort),
      OMS_TEMPORAL_UI_PORT: String(uiPort),
      OMS_DATA_DIR: dataDir,
      OMS_REFERENCE_SERVICES_PORT: String(refsPort),
      OMS_NATS_PORT: String(natsPort),
      // The simulated courier dispatches and delivers quickly, so orders complete by themselves.
      OMS_COURIER_DISPATCH_DELAY_MS: "300",
      OMS_COURIER_DELIVERY_DELAY_MS: "300",
      OMS_LOG_LEVEL: "warn",
      OMS_METRICS_PORT: String(metricsPort),
    };
  }, 180_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts everything, serves grpcurl with reflection, and stops cleanly on SIGTERM", async () => {
    // Traces go by OTLP to a stand-in collector; the caller's trace is the order's.
    const collector = await startOtlpReceiver();
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const dev = await startOmsDev({
      ...env,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
    try {
      expect(dev.output()).toContain(`API (gRPC, gRPC-Web, Connect)  ${api}`);
      expect(dev.output()).toContain(`http://localhost:${env.OMS_TEMPORAL_UI_PORT}`);

      const list = await grpcurl(["-plaintext", api, "list"]);
      expect(list.stdout.split("\n")).toEqual(
        expect.arrayContaining([
          "oms.v1.OrderService",
          "grpc.health.v1.Health",
          "grpc.reflection.v1.ServerReflection",
        ]),
      );
      const health = await grpcurl(["-plaintext", api, "grpc.health.v1.Health/Check"]);
      expect(JSON.parse(health.stdout)).toEqual({ status: "SERVING" });

      const submit = await grpcurl([
        "-plaintext",
        "-H",
        `traceparent: 00-${traceId}-b7ad6b7169203331-01`,
        "-d",
        JSON.stringify({
          order_id: orderId,
          customer_id: "c-1",
          currency_code: "USD",
          items: [{ sku: "SKU-1", quantity: 2, unit_price_minor: "1250" }],
          shipping_address: {
            name: "Ada",
            line1: "1 Main St",
            city: "Springfield",
            country_code: "US",
          },
        }),
        api,
        "oms.v1.OrderService/SubmitOrder",
      ]);
      expect(submit.stderr).toBe("");
      expect(JSON.parse(submit.stdout).order.status).toBe("ORDER_STATUS_PENDING");

      // The simulated courier reports DISPATCHED and DELIVERED: the order completes by itself.
      // grpcurl prints each version of the WatchOrder stream; the stream ends after the terminal one.
      const watch = await grpcurl(
        [
          "-plaintext",
          "-d",
          JSON.stringify({ order_id: orderId }),
          api,
          "oms.v1.OrderService/WatchOrder",
        ],
        60_000,
      );
      expect(watch.stderr).toBe("");
      expect(watch.stdout).toContain('"status": "ORDER_STATUS_PROCESSING"');
      expect(watch.stdout.trim().endsWith("}")).toBe(true);
      const versions = watch.stdout.split(/\n(?=\{)/).map((chunk) => JSON.parse(chunk).order);
      expect(versions.at(-1).status).toBe("ORDER_STATUS_COMPLETED");
      expect(versions.at(-1).fulfillments[0].payment.status).toBe("PAYMENT_STATUS_CAPTURED");

      // Every version was published to the embedded nats-server's JetStream, in order.
      expect(dev.output()).toContain(`nats://127.0.0.1:${env.OMS_NATS_PORT} (stream OMS_ORDERS`);
      const last = Number(versions.at(-1).version);
      const { received, stored } = await readOrderEventsFromNats(
        `nats://127.0.0.1:${env.OMS_NATS_PORT}`,
        "OMS_ORDERS",
        orderId,
        last,
      );
      expect(stored).toBe(last);
      expect(received.map((m) => Number(m.event.order?.version))).toEqual(
        Array.from({ length: last }, (_, i) => i + 1),
      );
      expect(received.at(-1)?.event.order?.status).toBe(OrderStatus.COMPLETED);

      // Errors carry their details, which grpcurl decodes through reflection alone.
      const missing = await grpcurl([
        "-plaintext",
        "-d",
        '{"order_id":"no-such-order"}',
        api,
        "oms.v1.OrderService/GetOrder",
      ]);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain("Code: NotFound");
      expect(missing.stderr).toContain('"reason": "ORDER_NOT_FOUND"');
      const invalid = await grpcurl([
        "-plaintext",
        "-d",
        '{"order_id":"x"}',
        api,
        "oms.v1.OrderService/SubmitOrder",
      ]);
      expect(invalid.stderr).toContain("Code: InvalidArgument");
      expect(invalid.stderr).toContain('"@type": "type.googleapis.com/google.rpc.BadRequest"');
      expect(invalid.stderr).toContain('"field": "items"');

      // The Web UI is served on its port.
      const ui = await fetch(`http://localhost:${env.OMS_TEMPORAL_UI_PORT}/`);
      expect(ui.status).toBe(200);

      // Prometheus scrapes the process: RPCs, the order's outcome, its downstream
      // calls and read-model writes, and the Temporal SDK's worker metrics.
      const scrape = await fetch(`http://127.0.0.1:${env.OMS_METRICS_PORT}/metrics`);
      expect(scrape.status).toBe(200);
      const metrics = await scrape.text();
      const value = (series: string) => metricValue(metrics, series);
      const rpc = (method: string, code: string) =>
        value(
          `oms_rpc_requests_total{service="oms.v1.OrderService",method="${method}",code="${code}"}`,
        );
      expect(rpc("SubmitOrder", "OK")).toBe(1);
      expect(rpc("SubmitOrder", "INVALID_ARGUMENT")).toBe(1);
      expect(rpc("GetOrder", "NOT_FOUND")).toBe(1);
      expectOneCompletedOrder(metrics, Number(versions.at(-1).version));
      expect(
        value(
          'oms_downstream_request_duration_seconds_count{service="inventory.v1.InventoryService",method="Reserve",code="OK"}',
        ),
      ).toBe(1);
      expect(metrics).toMatch(
        /^temporal_workflow_completed\{.*workflow_type="orderWorkflow".*\} 1$/m,
      );
      expect(metrics).toMatch(/^temporal_request_latency_count\{/m);
    } finally {
      dev.child.kill("SIGTERM");
    }
    expect(await dev.exited).toBe(0);
    // Exported before the exit (the rest of the batch is flushed at shutdown):
    // the API's, the workflow's (from the compiled traced bundle), the activity's and the downstream call's spans.
    await collector.close();
    const names = collector.spans.filter((s) => s.traceId === traceId).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "oms.v1.OrderService/SubmitOrder",
        "StartWorkflow:orderWorkflow",
        "RunWorkflow:orderWorkflow",
        "RunActivity:reserveInventory",
        "inventory.v1.InventoryService/Reserve",
        "payments.v1.PaymentService/Capture",
      ]),
    );
    expect(new Set(collector.spans.map((s) => s.service))).toEqual(new Set(["oms-dev"]));
    // Nothing left running: neither the API nor the embedded Temporal server.
    expect(await portIsClosed(Number(env.OMS_API_PORT))).toBe(true);
    expect(await portIsClosed(Number(env.OMS_TEMPORAL_PORT))).toBe(true);
    expect(await portIsClosed(Number(env.OMS_NATS_PORT))).toBe(true);
    expect(await portIsClosed(Number(env.OMS_METRICS_PORT))).toBe(true);
  });

  it("keeps orders across a restart (SQLite file under the data folder)", async () => {
    const dev = await startOmsDev(env);
    try {
      const get = await grpcurl([
        "-plaintext",
        "-d",
        JSON.stringify({ order_id: orderId }),
        api,
        "oms.v1.OrderService/GetOrder",
      ]);
      expect(get.stderr).toBe("");
      expect(JSON.parse(get.stdout).order.orderId).toBe(orderId);
      // The reference services kept their ledger (OMS_DATA_DIR/reference-services.sqlite).
      const payments = createClient(
        PaymentService,
        createGrpcTransport({ baseUrl: `http://127.0.0.1:${env.OMS_REFERENCE_SERVICES_PORT}` }),
      );
      const { entries } = await payments.listLedger({ orderId });
      const fulfillments = new Set(entries.map((e) => e.fulfillmentId));
      expect(fulfillments.size).toBeGreaterThan(0);
      for (const f of fulfillments) {
        const ops = entries.filter((e) => e.fulfillmentId === f);
        expect(ops.map((e) => LedgerOperation[e.operation])).toEqual(["AUTHORIZE", "CAPTURE"]);
      }
    } finally {
      dev.child.kill("SIGTERM");
    }
    expect(await dev.exited).toBe(0);
  });
  it("refuses to start on a Temporal port that is already taken, with a clear message", async () => {
    const squatter = createServer().listen(0, "127.0.0.1");
    await new Promise((resolve) => squatter.once("listening", resolve));
    const port = (squatter.address() as AddressInfo).port;
    try {
      const start = startOmsDev({ ...env, OMS_TEMPORAL_PORT: String(port) });
      await expect(start).rejects.toThrow(
        /exited with 1[\s\S]*port \d+ on 127\.0\.0\.1 is already in use/,
      );
    } finally {
      squatter.close();
    }
  });
});
