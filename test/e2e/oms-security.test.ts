/**
 * Security as the compiled commands apply it: `oms api` and `oms worker`
 * refuse to start open or in plain text unless told to; `oms dev` with
 * OMS_AUTH=jwt makes a development key pair, `oms token` mints tokens for it,
 * the simulated courier reports with its own token, payloads are encrypted
 * with a development keyring, and `temporal workflow show` shows customer
 * data only through the codec endpoint with a token.
 */
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { freePort } from "../support/free-port.js";
import { grpcurl } from "../support/grpcurl.js";
import { type DevProcess, startOmsDev } from "../support/oms-dev.js";

const root = path.resolve(import.meta.dirname, "../..");
const run = promisify(execFile);

/** Runs a compiled oms command to its end; resolves with its exit code and output. */
async function oms(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(process.execPath, ["dist/src/cmd/oms.js", ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("oms commands and security", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-sec-"));
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  }, 180_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("oms api refuses to start without an authentication method or a keyring", async () => {
    const base = { TEMPORAL_ADDRESS: inject("temporalAddress"), OMS_DATA_DIR: dataDir };
    const noAuth = await oms(["api"], { ...base, OMS_PAYLOAD_KEYS: "none" });
    expect(noAuth.code).toBe(2);
    expect(noAuth.stderr).toContain("no authentication method");
    const noKeys = await oms(["api"], { ...base, OMS_AUTH: "none" });
    expect(noKeys.code).toBe(2);
    expect(noKeys.stderr).toContain("OMS_PAYLOAD_KEYS must be set");
    const worker = await oms(["worker"], { ...base, OMS_INVENTORY_URL: "http://127.0.0.1:1" });
    expect(worker.code).toBe(2);
    expect(worker.stderr).toContain("OMS_PAYLOAD_KEYS must be set");
  });

  it("oms token explains itself without a development key", async () => {
    const noRole = await oms(["token"], { OMS_DATA_DIR: dataDir });
    expect(noRole.code).toBe(2);
    expect(noRole.stderr).toContain("at least one --role");
    const noKey = await oms(["token", "--role", "orders.read"], { OMS_DATA_DIR: dataDir });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain("OMS_AUTH=jwt");
  });

  describe("oms dev with OMS_AUTH=jwt", () => {
    let dev: DevProcess;
    let api: string;
    let references: string;
    let temporal: string;
    const orderId = `sec-${Date.now()}`;
    const token = async (role: string, subject = "e2e") => {
      const r = await oms(["token", "--subject", subject, "--role", role], {
        OMS_DATA_DIR: dataDir,
      });
      expect(r.stderr).toBe("");
      return r.stdout.trim();
    };

    beforeAll(async () => {
      const [apiPort, temporalPort, uiPort, refsPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
      ];
      api = `127.0.0.1:${apiPort}`;
      references = `127.0.0.1:${refsPort}`;
      temporal = `127.0.0.1:${temporalPort}`;
      dev = await startOmsDev({
        OMS_AUTH: "jwt",
        OMS_API_PORT: String(apiPort),
        OMS_TEMPORAL_PORT: String(temporalPort),
        OMS_TEMPORAL_UI_PORT: String(uiPort),
        OMS_DATA_DIR: dataDir,
        OMS_REFERENCE_SERVICES_PORT: String(refsPort),
        OMS_COURIER_DISPATCH_DELAY_MS: "200",
        OMS_COURIER_DELIVERY_DELAY_MS: "200",
        OMS_LOG_LEVEL: "warn",
      });
    }, 120_000);
    afterAll(async () => {
      dev?.child.kill("SIGTERM");
      await dev?.exited;
    });

    it("says in its banner that tokens are required and payloads encrypted", () => {
      expect(dev.output()).toMatch(/API authentication\s+on \(jwt\)/);
      expect(dev.output()).toContain("encrypted with a development keyring");
      expect(dev.output()).toContain("token --role orders.write");
      expect(statSync(path.join(dataDir, "payload-keys.json")).mode & 0o077).toBe(0);
      expect(statSync(path.join(dataDir, "auth/dev-jwt-private.jwk.json")).mode & 0o077).toBe(0);
    });

    it("takes orders from token holders only; the courier's own token completes them", async () => {
      const order = JSON.stringify({
        order_id: orderId,
        customer_id: "c-1",
        currency_code: "USD",
        items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "1250" }],
        shipping_address: {
          name: "Hedy Lamarr",
          line1: "9 Frequency Hop",
          city: "Vienna",
          country_code: "AT",
        },
      });
      const submit = (headers: string[]) =>
        grpcurl(["-plaintext", ...headers, "-d", order, api, "oms.v1.OrderService/SubmitOrder"]);
      expect((await submit([])).stderr).toContain("Code: Unauthenticated");
      const writer = await token("orders.write", "checkout");
      const accepted = await submit(["-H", `authorization: Bearer ${writer}`]);
      expect(accepted.stderr).toBe("");
      const reader = await token("orders.read");
      const read = (method: string, timeoutMs?: number) =>
        grpcurl(
          [
            "-plaintext",
            "-H",
            `authorization: Bearer ${reader}`,
            "-d",
            JSON.stringify({ order_id: orderId }),
            api,
            `oms.v1.OrderService/${method}`,
          ],
          timeoutMs,
        );
      const watch = await read("WatchOrder", 60_000);
      expect(watch.stderr).toBe("");
      expect(watch.stdout).toContain('"status": "ORDER_STATUS_COMPLETED"');
      // The worker's calls carried its own token (the reference services
      // refuse calls without one); the courier's events are on the timeline
      // under its own principal.
      const history = await read("GetOrderHistory");
      expect(history.stderr).toBe("");
      const events = (JSON.parse(history.stdout) as { events: { actor: string; reason: string }[] })
        .events;
      expect(events[0]?.actor).toBe("checkout");
      const courierEvents = events.filter((e) => e.reason.startsWith("shipment "));
      expect(courierEvents.map((e) => e.reason)).toEqual([
        expect.stringMatching(/ dispatched$/),
        expect.stringMatching(/ delivered$/),
      ]);
      expect(courierEvents.map((e) => e.actor)).toEqual(["reference-courier", "reference-courier"]);
    });

    it("the reference services refuse a downstream call without the worker's credentials", async () => {
      const inventory = createClient(
        InventoryService,
        createGrpcTransport({ baseUrl: `http://${references}` }),
      );
      const err = ConnectError.from(
        await inventory.getStock({ skus: ["SKU-1"] }).catch((e: unknown) => e),
      );
      expect(err.code).toBe(Code.Unauthenticated);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("CREDENTIALS_MISSING");
      // A token for the API (audience oms) is not one for the downstream services.
      const apiToken = await token("admin");
      const wrong = ConnectError.from(
        await inventory
          .getStock({ skus: ["SKU-1"] }, { headers: { authorization: `Bearer ${apiToken}` } })
          .catch((e: unknown) => e),
      );
      expect(wrong.findDetails(ErrorInfoSchema)[0]?.metadata.problem).toBe("wrong_audience");
    });

    it("shows customer data in temporal workflow show only through the codec endpoint", async () => {
      const cli = path.join(root, ".tools/venv/bin/temporal");
      const show = (extra: string[]) =>
        run(cli, [
          "workflow",
          "show",
          "--address",
          temporal,
          "--workflow-id",
          `order/${orderId}`,
          "--detailed",
          ...extra,
        ]).then((r) => r.stdout);
      const plain = await show([]);
      expect(plain).toContain("YmluYXJ5L2VuY3J5cHRlZA=="); // "binary/encrypted"
      expect(plain).not.toContain("Hedy");
      const reader = await token("orders.read", "operator");
      const decoded = await show([
        "--codec-endpoint",
        `http://${api}/codec`,
        "--codec-auth",
        `Bearer ${reader}`,
      ]);
      expect(decoded).toContain("shippingAddress.name: Hedy Lamarr");
    });
  });
});
