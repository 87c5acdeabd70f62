/**
 * Client certificates against the real API over TLS (HTTP/2 with ALPN): no
 * certificate, one from a CA the server does not trust, valid ones (URI SAN
 * and CN principals with roles from OMS_AUTH_PRINCIPAL_ROLES), bearer tokens
 * on the same port, and grpcurl with -cacert -cert -key.
 */
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { errorInfoOf, failure } from "../support/failure.js";
import { grpcurl } from "../support/grpcurl.js";
import { orderRequest } from "../support/orders.js";
import {
  apiTlsEnv,
  createTestIssuer,
  createTestPki,
  type TestIssuer,
  type TestPki,
} from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

describe("mTLS", () => {
  let sys: TestSystem;
  let pki: TestPki;
  let issuer: TestIssuer;

  /** OrderService over gRPC (or Connect) with this client certificate, trusting the test CA. */
  const clientWith = (
    cert?: { cert: string; key: string },
    protocol: "grpc" | "connect" = "grpc",
  ) => {
    const nodeOptions = {
      ca: pki.read(pki.ca),
      ...(cert ? { cert: pki.read(cert.cert), key: pki.read(cert.key) } : {}),
    };
    const transport =
      protocol === "grpc"
        ? createGrpcTransport({ baseUrl: sys.url, nodeOptions })
        : createConnectTransport({ baseUrl: sys.url, httpVersion: "2", nodeOptions });
    return createClient(OrderService, transport);
  };

  beforeAll(async () => {
    pki = createTestPki();
    issuer = await createTestIssuer(pki.dir);
    const roles = path.join(pki.dir, "principal-roles.json");
    writeFileSync(
      roles,
      JSON.stringify({
        "spiffe://example.internal/checkout": ["orders.write", "orders.read"],
        "courier-gateway": ["shipments.report"],
      }),
    );
    sys = await startTestSystem({
      env: {
        ...apiTlsEnv(pki, roles),
        ...issuer.env,
      },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it("serves TLS", () => {
    expect(sys.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  for (const protocol of ["grpc", "connect"] as const) {
    it(`${protocol}: refuses a caller without a certificate or token (UNAUTHENTICATED)`, async () => {
      const f = await failure(clientWith(undefined, protocol).getOrder({ orderId: "x" }));
      expect(f.code).toBe(Code.Unauthenticated);
      expect(errorInfoOf(f)?.reason).toBe("CREDENTIALS_MISSING");
    });

    it(`${protocol}: refuses a certificate from another CA (UNAUTHENTICATED)`, async () => {
      const f = await failure(clientWith(pki.clients.foreign, protocol).getOrder({ orderId: "x" }));
      expect(f.code).toBe(Code.Unauthenticated);
      expect(errorInfoOf(f)?.reason).toBe("CLIENT_CERTIFICATE_INVALID");
    });

    it(`${protocol}: takes the principal from the URI SAN, with its mapped roles`, async () => {
      const client = clientWith(pki.clients.spiffe, protocol);
      const request = orderRequest();
      await client.submitOrder(request);
      const { events } = await client.getOrderHistory({ orderId: request.orderId });
      expect(events[0]?.actor).toBe("spiffe://example.internal/checkout");
    });
  }

  it("takes the principal from the CN when there is no URI SAN; roles still apply", async () => {
    const f = await failure(clientWith(pki.clients.commonName).getOrder({ orderId: "x" }));
    expect(f.code).toBe(Code.PermissionDenied);
    expect(errorInfoOf(f)?.reason).toBe("ROLE_REQUIRED");
    expect(errorInfoOf(f)?.metadata.principal).toBe("courier-gateway");
    expect(errorInfoOf(f)?.metadata.role).toBe("orders.read");
  });

  it("accepts a bearer token on the same TLS port without a client certificate", async () => {
    const token = await issuer.token({ subject: "ops", roles: ["orders.read"] });
    const { orders } = await clientWith().listOrders(
      {},
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(Array.isArray(orders)).toBe(true);
  });

  it("works with grpcurl -cacert -cert -key, and refuses grpcurl without a certificate", async () => {
    const address = `127.0.0.1:${sys.port}`;
    const { cert, key } = pki.clients.spiffe;
    const withCert = await grpcurl([
      "-cacert",
      pki.ca,
      "-cert",
      cert,
      "-key",
      key,
      "-d",
      '{"order_id":"no-such-order"}',
      address,
      "oms.v1.OrderService/GetOrder",
    ]);
    expect(withCert.stderr).toContain("Code: NotFound");
    const without = await grpcurl([
      "-cacert",
      pki.ca,
      "-d",
      '{"order_id":"no-such-order"}',
      address,
      "oms.v1.OrderService/GetOrder",
    ]);
    expect(without.stderr).toContain("Code: Unauthenticated");
    const health = await grpcurl(["-cacert", pki.ca, address, "grpc.health.v1.Health/Check"]);
    expect(health.code).toBe(0);
  });
});
