/**
 * Authentication on both sides of the worker, on real components: the API
 * takes bearer tokens, the reference downstream services require tokens of
 * their own audience (verified by the API's code), the worker presents a
 * token from a file it re-reads when rotated, and the courier reports with
 * its own token, which the order's timeline names.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { staticBearer } from "../../src/clients/credentials.js";
import { referenceServicesSecurity } from "../../src/cmd/security-setup.js";
import { loadConfig } from "../../src/config/config.js";
import { orderRequest, twoWarehouses } from "../support/orders.js";
import { createTestIssuer, TEST_ISSUER, type TestIssuer } from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, finishedOrder, recordHistories, waitForOrder } from "../support/watch.js";

const DOWNSTREAM_AUDIENCE = "reference-services";

const bearer = staticBearer;

describe("the worker's own credentials for the downstream services", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "oms-downstream-auth-"));
  const tokenFile = path.join(dir, "worker-token");
  let issuer: TestIssuer;
  let sys: TestSystem;
  /** The test system as an operator with admin rights sees it (waitForOrder & co. use sys.grpc). */
  let admin: TestSystem;

  const workerToken = (options: { expiresIn?: number } = {}) =>
    issuer.token({ subject: "oms-worker", audience: DOWNSTREAM_AUDIENCE, ...options });

  beforeAll(async () => {
    issuer = await createTestIssuer(dir);
    writeFileSync(tokenFile, `${await workerToken()}\n`);
    // The reference services' own settings, as `oms reference-services` reads them.
    const refsConfig = loadConfig({
      OMS_REFERENCE_AUTH_JWKS_FILE: issuer.jwksFile,
      OMS_REFERENCE_AUTH_ISSUER: TEST_ISSUER,
      OMS_REFERENCE_AUTH_AUDIENCE: DOWNSTREAM_AUDIENCE,
    });
    sys = await startTestSystem({
      env: { ...issuer.env, OMS_DOWNSTREAM_TOKEN_FILE: tokenFile },
      refs: referenceServicesSecurity(refsConfig),
    });
    const transport = createGrpcTransport({
      baseUrl: sys.url,
      interceptors: [bearer(await issuer.token({ subject: "ops", roles: ["admin"] }))],
    });
    admin = { ...sys, grpc: createClient(OrderService, transport) };
  });
  afterAll(async () => {
    await sys?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the reference services refuse calls without a valid token for their audience", async () => {
    const inventory = (interceptors: Interceptor[]) =>
      createClient(
        InventoryService,
        createGrpcTransport({ baseUrl: sys.refs.url, interceptors }),
      ).getStock({ skus: ["SKU-1"] });
    const refusal = async (interceptors: Interceptor[]) => {
      const err = ConnectError.from(await inventory(interceptors).catch((e: unknown) => e));
      return { code: err.code, info: err.findDetails(ErrorInfoSchema)[0] };
    };
    expect(await refusal([])).toMatchObject({
      code: Code.Unauthenticated,
      info: { reason: "CREDENTIALS_MISSING" },
    });
    // A token the API would take is not one for the downstream services.
    const apiToken = await issuer.token({ roles: ["admin"] });
    expect(await refusal([bearer(apiToken)])).toMatchObject({
      code: Code.Unauthenticated,
      info: { reason: "TOKEN_INVALID", metadata: { problem: "wrong_audience" } },
    });
    const expired = await workerToken({ expiresIn: -3_600 });
    expect(await refusal([bearer(expired)])).toMatchObject({
      code: Code.Unauthenticated,
      info: { reason: "TOKEN_INVALID", metadata: { problem: "expired" } },
    });
    const stock = await inventory([bearer(await workerToken())]);
    expect(stock.levels.length).toBeGreaterThan(0);
  });

  it("an order completes on the worker's token; its timeline names the caller and the courier", async () => {
    const writer = await issuer.token({ subject: "checkout-svc", roles: ["orders.write"] });
    const courier = createClient(
      ShipmentService,
      createGrpcTransport({
        baseUrl: sys.url,
        interceptors: [
          bearer(await issuer.token({ subject: "courier-gateway", roles: ["shipments.report"] })),
        ],
      }),
    );
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req, { headers: { authorization: `Bearer ${writer}` } });
    const shipments = await bookedShipments(admin, req.orderId, 2);
    for (const event of [ShipmentEvent.DISPATCHED, ShipmentEvent.DELIVERED]) {
      for (const shipmentId of shipments) await courier.reportShipmentEvent({ shipmentId, event });
    }
    const done = await finishedOrder(admin, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);

    const { events } = await admin.grpc.getOrderHistory({ orderId: req.orderId });
    expect(events[0]?.actor).toBe("checkout-svc");
    const courierEntries = events.filter((e) => e.reason.startsWith("shipment "));
    expect(courierEntries.map((e) => e.reason).sort()).toEqual(
      shipments.flatMap((s) => [`shipment ${s} delivered`, `shipment ${s} dispatched`]).sort(),
    );
    expect(new Set(courierEntries.map((e) => e.actor))).toEqual(new Set(["courier-gateway"]));
    expect(events.at(-1)?.actor).toBe("system");
    await recordHistories(sys, req.orderId, "courier-principal");
  });

  it("keeps an order waiting while its token is refused, and picks up the rotated token file", async () => {
    writeFileSync(tokenFile, await workerToken({ expiresIn: -3_600 }));
    const req = orderRequest();
    await admin.grpc.submitOrder(req);
    const handle = await sys.startedWorkflow(req.orderId);
    // The reservation is refused and retried, not failed.
    await expect
      .poll(
        async () => {
          const pending = (await handle.describe()).raw.pendingActivities ?? [];
          return pending.map((a) => `${a.activityType?.name}: ${a.lastFailure?.message ?? ""}`);
        },
        { timeout: 30_000, interval: 200 },
      )
      .toEqual([expect.stringMatching(/^reserveInventory: .*bearer token rejected: expired/)]);
    // The platform rotates the token: no restart, the next attempt carries it.
    writeFileSync(tokenFile, await workerToken());
    const processing = await waitForOrder(
      admin,
      req.orderId,
      (o) => o.status === OrderStatus.PROCESSING,
    );
    expect(processing.fulfillments.length).toBe(1);
    await admin.grpc.cancelOrder({ orderId: req.orderId });
  });
});
