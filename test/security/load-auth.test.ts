/**
 * Authentication everywhere at once, with certificates: an API serving TLS
 * that takes bearer tokens and client certificates, reference services that
 * require a client certificate from the same CA (the worker presents its
 * own, OMS_DOWNSTREAM_TLS_*), a courier with its own token, and `oms load`
 * run as users run it, with --token-file or --cert/--key.
 */
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { staticBearer } from "../../src/clients/credentials.js";
import { referenceServicesSecurity } from "../../src/cmd/security-setup.js";
import { loadConfig } from "../../src/config/config.js";
import type { LoadResult } from "../../src/load/run.js";
import { LOAD_CATALOG_FILE, readCatalogFile } from "../../src/reference-services/index.js";
import { omsLoad, smallLoadArgs } from "../support/oms-load.js";
import { apiTlsEnv, createTestIssuer, createTestPki, type TestPki } from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

/** `oms load --json`; resolves with its exit code and parsed result. */
async function load(args: string[]): Promise<{ code: number; result: LoadResult; stderr: string }> {
  const { code, stdout, stderr } = await omsLoad([...args, "--json"]);
  try {
    return { code, result: JSON.parse(stdout) as LoadResult, stderr };
  } catch {
    throw new Error(`oms load exited with ${code}: ${stderr}`);
  }
}

describe("oms load and the worker against services that authenticate", () => {
  let pki: TestPki;
  let sys: TestSystem;
  let courier: Client<typeof ShipmentService> | undefined;
  let tokenFile: string;
  const runId = (name: string) => `${name}-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    pki = createTestPki();
    const issuer = await createTestIssuer(pki.dir);
    const roles = path.join(pki.dir, "principal-roles.json");
    writeFileSync(
      roles,
      JSON.stringify({ "spiffe://example.internal/checkout": ["orders.write", "orders.read"] }),
    );
    tokenFile = path.join(pki.dir, "load-token");
    writeFileSync(
      tokenFile,
      await issuer.token({ subject: "load-test", roles: ["orders.write", "orders.read"] }),
    );
    const courierToken = await issuer.token({
      subject: "courier-gateway",
      roles: ["shipments.report"],
    });
    // The reference services require a client certificate from the test CA.
    const refs = referenceServicesSecurity(
      loadConfig({
        OMS_REFERENCE_TLS_CERT: pki.serverCert,
        OMS_REFERENCE_TLS_KEY: pki.serverKey,
        OMS_REFERENCE_TLS_CLIENT_CA: pki.ca,
      }),
    );
    sys = await startTestSystem({
      env: {
        ...apiTlsEnv(pki, roles),
        ...issuer.env,
        // The worker's own certificate for the downstream services.
        OMS_DOWNSTREAM_TLS_CA: pki.ca,
        OMS_DOWNSTREAM_TLS_CERT: pki.clients.commonName.cert,
        OMS_DOWNSTREAM_TLS_KEY: pki.clients.commonName.key,
      },
      refs: {
        ...refs,
        catalog: readCatalogFile(LOAD_CATALOG_FILE),
        simulatedCourier: {
          dispatchDelayMs: 0,
          deliverDelayMs: 0,
          async reportEvent({ shipmentId, fulfillmentId, event, occurredAt }) {
            courier ??= createClient(
              ShipmentService,
              createGrpcTransport({
                baseUrl: sys.url,
                nodeOptions: { ca: pki.read(pki.ca) },
                interceptors: [staticBearer(courierToken)],
              }),
            );
            await courier.reportShipmentEvent({
              shipmentId,
              fulfillmentId,
              event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
              occurredAt: timestampFromDate(occurredAt),
            });
          },
        },
      },
    });
  });
  afterAll(async () => {
    await sys?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it("the reference services serve TLS and refuse callers without a certificate from the CA", async () => {
    expect(sys.refs.url).toMatch(/^https:/);
    const refusal = async (cert?: { cert: string; key: string }) => {
      const inventory = createClient(
        InventoryService,
        createGrpcTransport({
          baseUrl: sys.refs.url,
          nodeOptions: {
            ca: pki.read(pki.ca),
            ...(cert ? { cert: pki.read(cert.cert), key: pki.read(cert.key) } : {}),
          },
        }),
      );
      const err = ConnectError.from(
        await inventory.getStock({ skus: ["SKU-1"] }).catch((e: unknown) => e),
      );
      return [Code[err.code], err.findDetails(ErrorInfoSchema)[0]?.reason];
    };
    expect(await refusal()).toEqual(["Unauthenticated", "CREDENTIALS_MISSING"]);
    expect(await refusal(pki.clients.foreign)).toEqual([
      "Unauthenticated",
      "CLIENT_CERTIFICATE_INVALID",
    ]);
  });

  const loadArgs = (name: string, credentials: string[]) => [
    ...smallLoadArgs(sys.url, runId(name)),
    "--cacert",
    pki.ca,
    ...credentials,
    "--timeout",
    "60s",
  ];

  it("oms load --token-file runs against the API with JWT auth on", async () => {
    const { code, result, stderr } = await load(loadArgs("jwt", ["--token-file", tokenFile]));
    expect(stderr).toBe("");
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ ok: true, accepted: 4 });
    expect(result.finalStatuses).toMatchObject({ COMPLETED: 2, FAILED: 2 });
    expect(code).toBe(0);
  });

  it("oms load --cert/--key runs against the API with mTLS", async () => {
    const { cert, key } = pki.clients.spiffe;
    const { code, result } = await load(loadArgs("mtls", ["--cert", cert, "--key", key]));
    expect(result.errors).toEqual([]);
    expect(result).toMatchObject({ ok: true, accepted: 4 });
    expect(code).toBe(0);
  });

  it("oms load without credentials reports every submit as UNAUTHENTICATED", async () => {
    const { code, result } = await load(loadArgs("anonymous", []));
    expect(code).toBe(1);
    expect(result.accepted).toBe(0);
    expect(result.errors).toEqual([expect.objectContaining({ code: "UNAUTHENTICATED", count: 4 })]);
  });
});
