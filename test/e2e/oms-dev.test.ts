/**
 * `npm start` as a user runs it: the compiled `oms dev` process (dist/, as
 * `npm run build` makes it) with its embedded Temporal dev server, called
 * with grpcurl, stopped with SIGTERM, started again on the same data folder.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { type AddressInfo, createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../support/free-port.js";
import { grpcurl } from "../support/grpcurl.js";
import { startOmsDev } from "../support/oms-dev.js";

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
    const [apiPort, temporalPort, uiPort, refsPort] = [
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
      // The simulated courier dispatches and delivers quickly, so orders complete by themselves.
      OMS_COURIER_DISPATCH_DELAY_MS: "300",
      OMS_COURIER_DELIVERY_DELAY_MS: "300",
      OMS_LOG_LEVEL: "warn",
    };
  }, 180_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("starts everything, serves grpcurl with reflection, and stops cleanly on SIGTERM", async () => {
    const dev = await startOmsDev(env);
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
    } finally {
      dev.child.kill("SIGTERM");
    }
    expect(await dev.exited).toBe(0);
    // Nothing left running: neither the API nor the embedded Temporal server.
    expect(await portIsClosed(Number(env.OMS_API_PORT))).toBe(true);
    expect(await portIsClosed(Number(env.OMS_TEMPORAL_PORT))).toBe(true);
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
