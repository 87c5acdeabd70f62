/**
 * Bearer tokens against the real API over a real socket: a role × RPC matrix
 * over gRPC and Connect, every kind of bad token, the principal in the
 * order's timeline, and grpcurl with and without a token.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { grpcurl } from "../support/grpcurl.js";
import { orderRequest } from "../support/orders.js";
import {
  createTestIssuer,
  TEST_AUDIENCE,
  TEST_ISSUER,
  type TestIssuer,
  tamper,
} from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

const ROLE_OF: Record<string, string> = {
  "oms.v1.OrderService/SubmitOrder": "orders.write",
  "oms.v1.OrderService/CancelOrder": "orders.write",
  "oms.v1.OrderService/ResolveUnavailableItems": "orders.write",
  "oms.v1.OrderService/GetOrder": "orders.read",
  "oms.v1.OrderService/ListOrders": "orders.read",
  "oms.v1.OrderService/WatchOrder": "orders.read",
  "oms.v1.OrderService/GetOrderHistory": "orders.read",
  "oms.v1.OrderService/StreamOrderEvents": "orders.read",
  "oms.v1.OrderService/RequestReturn": "orders.write",
  "oms.v1.OrderService/CancelReturn": "orders.write",
  "oms.v1.OrderService/PlaceHold": "orders.write",
  "oms.v1.OrderService/ReleaseHold": "orders.write",
  "oms.v1.OrderService/UpdateShippingAddress": "orders.write",
  "oms.v1.OrderService/CancelOrderItems": "orders.write",
  "oms.v1.OrderService/UpdateOrderItems": "orders.write",
  "oms.v1.ShipmentService/ReportShipmentEvent": "shipments.report",
};
const CALLER_ROLES = ["orders.write", "orders.read", "shipments.report", "admin", "none"];

/** Calls any method with an empty request (streams: reads the first message); resolves with the code. */
async function callCode(
  transport: Transport,
  method: DescMethod,
  headers: Record<string, string>,
): Promise<{ code: Code | "OK"; error?: ConnectError }> {
  const service = method.parent === OrderService ? OrderService : ShipmentService;
  const client = createClient(service, transport) as unknown as Record<
    string,
    (req: object, opts: object) => unknown
  >;
  const call = client[method.localName] as (req: object, opts: object) => unknown;
  try {
    const opts = { headers, signal: AbortSignal.timeout(10_000) };
    if (method.methodKind === "server_streaming") {
      for await (const _ of call({}, opts) as AsyncIterable<unknown>) break;
    } else {
      await call({}, opts);
    }
    return { code: "OK" };
  } catch (err) {
    const error = ConnectError.from(err);
    return { code: error.code, error };
  }
}

function errorInfoOf(error: ConnectError | undefined) {
  return error?.findDetails(ErrorInfoSchema)[0];
}

describe("bearer tokens", () => {
  let sys: TestSystem;
  let issuer: TestIssuer;
  const dir = mkdtempSync(path.join(tmpdir(), "oms-jwt-"));
  const transports: Record<string, Transport> = {};
  const methods = [...OrderService.methods, ...ShipmentService.methods];

  beforeAll(async () => {
    issuer = await createTestIssuer(dir);
    sys = await startTestSystem({ env: issuer.env });
    transports.grpc = createGrpcTransport({ baseUrl: sys.url });
    transports.connect = createConnectTransport({ baseUrl: sys.url, httpVersion: "2" });
  });
  afterAll(async () => {
    await sys?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("covers every RPC of the contract in the matrix", () => {
    expect(methods.map((m) => `${m.parent.typeName}/${m.name}`).sort()).toEqual(
      Object.keys(ROLE_OF).sort(),
    );
  });

  for (const protocol of ["grpc", "connect"]) {
    for (const role of CALLER_ROLES) {
      it(`${protocol}: a caller with ${role} gets exactly the RPCs its role allows`, async () => {
        const token = await issuer.token({
          subject: `caller-${role}`,
          roles: role === "none" ? [] : [role],
        });
        for (const method of methods) {
          const rpc = `${method.parent.typeName}/${method.name}`;
          const needed = ROLE_OF[rpc] as string;
          const { code, error } = await callCode(transports[protocol] as Transport, method, {
            authorization: `Bearer ${token}`,
          });
          if (role === needed || role === "admin") {
            // Past authorization: the empty request fails validation or finds nothing, or works.
            expect([Code.PermissionDenied, Code.Unauthenticated], rpc).not.toContain(code);
          } else {
            expect(code, rpc).toBe(Code.PermissionDenied);
            const info = errorInfoOf(error);
            expect(info?.reason, rpc).toBe("ROLE_REQUIRED");
            expect(info?.metadata.role, rpc).toBe(needed);
            expect(error?.rawMessage, rpc).toContain(needed);
          }
        }
      });
    }
  }

  const badTokens: [string, () => Promise<string> | string, string][] = [
    ["expired", () => issuer.token({ roles: ["admin"], expiresIn: -120 }), "expired"],
    ["not yet valid", () => issuer.token({ roles: ["admin"], notBefore: 300 }), "not_yet_valid"],
    [
      "from another issuer",
      () => issuer.token({ roles: ["admin"], issuer: "https://evil.example" }),
      "wrong_issuer",
    ],
    [
      "for another audience",
      () => issuer.token({ roles: ["admin"], audience: "billing" }),
      "wrong_audience",
    ],
    ["alg: none", () => issuer.unsignedToken({ roles: ["admin"] }), "algorithm_not_allowed"],
    [
      "signed by an unknown key",
      () => issuer.token({ roles: ["admin"], unknownKey: true }),
      "unknown_key",
    ],
    [
      "tampered with",
      async () => tamper(await issuer.token({ roles: ["orders.read"] }), ["admin"]),
      "bad_signature",
    ],
    ["not a JWT", () => "not-a-token", "malformed"],
  ];
  for (const [name, make, problem] of badTokens) {
    it(`refuses a token ${name} with UNAUTHENTICATED (${problem})`, async () => {
      const token = await make();
      for (const transport of Object.values(transports)) {
        const { code, error } = await callCode(transport, OrderService.method.getOrder, {
          authorization: `Bearer ${token}`,
        });
        expect(code).toBe(Code.Unauthenticated);
        expect(errorInfoOf(error)?.reason).toBe("TOKEN_INVALID");
        expect(errorInfoOf(error)?.metadata.problem).toBe(problem);
      }
    });
  }

  it("accepts a token within the clock leeway", async () => {
    const token = await issuer.token({ roles: ["orders.read"], expiresIn: -5 });
    const { code } = await callCode(transports.grpc as Transport, OrderService.method.listOrders, {
      authorization: `Bearer ${token}`,
    });
    expect(code).toBe("OK");
  });

  it("refuses a call without credentials, and a header that is not Bearer", async () => {
    const none = await callCode(transports.grpc as Transport, OrderService.method.getOrder, {});
    expect(none.code).toBe(Code.Unauthenticated);
    expect(errorInfoOf(none.error)?.reason).toBe("CREDENTIALS_MISSING");
    const basic = await callCode(transports.connect as Transport, OrderService.method.getOrder, {
      authorization: "Basic dXNlcjpwYXNz",
    });
    expect(basic.code).toBe(Code.Unauthenticated);
    expect(errorInfoOf(basic.error)?.reason).toBe("TOKEN_INVALID");
  });

  it("records the token's subject in the order's timeline", async () => {
    const writer = await issuer.token({ subject: "checkout-svc", roles: ["orders.write"] });
    const reader = await issuer.token({ subject: "support-ui", roles: ["orders.read"] });
    const client = createClient(OrderService, transports.grpc as Transport);
    const request = orderRequest();
    await client.submitOrder(request, { headers: { authorization: `Bearer ${writer}` } });
    const { events } = await client.getOrderHistory(
      { orderId: request.orderId },
      { headers: { authorization: `Bearer ${reader}` } },
    );
    expect(events[0]?.actor).toBe("checkout-svc");
  });

  it("keeps health and reflection open", async () => {
    const health = await grpcurl([
      "-plaintext",
      `127.0.0.1:${sys.port}`,
      "grpc.health.v1.Health/Check",
    ]);
    expect(health.code).toBe(0);
    const list = await grpcurl(["-plaintext", `127.0.0.1:${sys.port}`, "list"]);
    expect(list.stdout).toContain("oms.v1.OrderService");
  });

  it("answers grpcurl without a token, with a reader's token and with a writer's", async () => {
    const address = `127.0.0.1:${sys.port}`;
    const body = JSON.stringify({
      order_id: `grpcurl-${Date.now()}`,
      customer_id: "c-1",
      currency_code: "USD",
      items: [{ sku: "SKU-1", quantity: 1, unit_price_minor: "100" }],
      shipping_address: {
        name: "Ada",
        line1: "1 Main St",
        city: "Springfield",
        country_code: "US",
      },
    });
    const submit = (headers: string[]) =>
      grpcurl(["-plaintext", ...headers, "-d", body, address, "oms.v1.OrderService/SubmitOrder"]);
    const anonymous = await submit([]);
    expect(anonymous.stderr).toContain("Code: Unauthenticated");
    expect(anonymous.stderr).toContain("CREDENTIALS_MISSING");
    const reader = await issuer.token({ subject: "support-ui", roles: ["orders.read"] });
    const denied = await submit(["-H", `authorization: Bearer ${reader}`]);
    expect(denied.stderr).toContain("Code: PermissionDenied");
    expect(denied.stderr).toContain("ROLE_REQUIRED");
    const writer = await issuer.token({ subject: "checkout-svc", roles: ["orders.write"] });
    const accepted = await submit(["-H", `authorization: Bearer ${writer}`]);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toContain('"status": "ORDER_STATUS_');
    if (process.env.OMS_PRINT_GRPCURL === "1") {
      for (const r of [anonymous, denied, accepted]) console.log(r.stdout, r.stderr);
    }
  });
});

describe("an issuer whose keys cannot be fetched", () => {
  let sys: TestSystem;
  let issuer: TestIssuer;
  let jwks: Server;
  let jwksAnswers: "keys" | "error" = "error";
  const dir = mkdtempSync(path.join(tmpdir(), "oms-jwks-"));

  beforeAll(async () => {
    issuer = await createTestIssuer(dir);
    const keys = readFileSync(issuer.jwksFile);
    jwks = createServer((_req, res) => {
      if (jwksAnswers === "error") {
        res.statusCode = 503;
        res.end("issuer down");
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(keys);
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const port = (jwks.address() as AddressInfo).port;
    sys = await startTestSystem({
      env: {
        OMS_AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
        OMS_AUTH_ISSUER: TEST_ISSUER,
        OMS_AUTH_AUDIENCE: TEST_AUDIENCE,
      },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    await new Promise<void>((resolve) => jwks.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers UNAVAILABLE with AUTH_KEYS_UNAVAILABLE, then serves once the keys are back", async () => {
    const token = await issuer.token({ roles: ["orders.read"] });
    for (const protocol of ["grpc", "connect"] as const) {
      const transport =
        protocol === "grpc"
          ? createGrpcTransport({ baseUrl: sys.url })
          : createConnectTransport({ baseUrl: sys.url, httpVersion: "2" });
      const { code, error } = await callCode(transport, OrderService.method.listOrders, {
        authorization: `Bearer ${token}`,
      });
      expect(code).toBe(Code.Unavailable);
      expect(errorInfoOf(error)).toMatchObject({
        reason: "AUTH_KEYS_UNAVAILABLE",
        metadata: { problem: "jwks_bad_response" },
      });
    }
    // The issuer is back: the same token is served (jose refetches after a failure).
    jwksAnswers = "keys";
    const ok = await callCode(
      createGrpcTransport({ baseUrl: sys.url }),
      OrderService.method.listOrders,
      { authorization: `Bearer ${token}` },
    );
    expect(ok.code).toBe("OK");
  });
});
