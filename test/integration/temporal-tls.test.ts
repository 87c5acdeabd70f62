/**
 * Temporal Cloud by configuration: the API and the worker reach Temporal over
 * TLS with a client certificate and an API key (TEMPORAL_TLS_CA,
 * TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_SERVER_NAME,
 * TEMPORAL_API_KEY). `temporal server start-dev` cannot serve TLS (it has no
 * TLS options), so a TLS-terminating gRPC proxy in front of the run's dev
 * server plays the part of Temporal Cloud's endpoint: it requires a client
 * certificate from the test CA and the API key as `authorization: Bearer`.
 * An order runs end to end through it; plain text, a missing API key and a
 * certificate from an untrusted CA are refused.
 */
import { rmSync } from "node:fs";
import { Connection } from "@temporalio/client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { loadConfig } from "../../src/config/config.js";
import { temporalConnectionOptions } from "../../src/temporal/connection-options.js";
import { orderRequest } from "../support/orders.js";
import { createTestPki, type TestPki } from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { startTemporalTlsProxy, type TemporalTlsProxy } from "../support/temporal-tls-proxy.js";
import { shipAndDeliverAll } from "../support/watch.js";

const API_KEY = "test-api-key-not-a-secret";
const WORKFLOW_SERVICE = "/temporal.api.workflowservice.v1.WorkflowService";

describe("Temporal over TLS with a client certificate and an API key", () => {
  let pki: TestPki;
  let proxy: TemporalTlsProxy;
  let sys: TestSystem;
  let tlsEnv: Record<string, string>;

  /** Connects as oms would with this environment, and reports how it failed. */
  const connectError = async (env: Record<string, string>): Promise<string> => {
    const options = temporalConnectionOptions(loadConfig(env).temporal, proxy.address);
    try {
      const connection = await Connection.connect({ ...options, connectTimeout: 5_000 });
      await connection.close();
    } catch (err) {
      // The SDK wraps the failed first call: its cause carries the status.
      return `${err} (${(err as Error).cause})`;
    }
    throw new Error("the connection succeeded");
  };

  beforeAll(async () => {
    pki = createTestPki();
    proxy = await startTemporalTlsProxy({
      upstream: inject("temporalAddress"),
      cert: pki.read(pki.serverCert),
      key: pki.read(pki.serverKey),
      clientCa: pki.read(pki.ca),
      apiKey: API_KEY,
    });
    tlsEnv = {
      TEMPORAL_TLS_CA: pki.ca,
      TEMPORAL_TLS_CERT: pki.clients.commonName.cert,
      TEMPORAL_TLS_KEY: pki.clients.commonName.key,
      // The certificate names 127.0.0.1 and localhost: check the name setting is used.
      TEMPORAL_TLS_SERVER_NAME: "localhost",
    };
    sys = await startTestSystem({
      temporalAddress: proxy.address,
      env: { ...tlsEnv, TEMPORAL_API_KEY: API_KEY },
    });
  }, 60_000);

  afterAll(async () => {
    await sys?.stop();
    await proxy?.close();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  }, 60_000);

  it("runs an order end to end, API and worker both over TLS with the key", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const done = await shipAndDeliverAll(sys, req.orderId, 1);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.CAPTURED);
    // The API started the workflow and the worker polled and answered through the proxy.
    for (const method of [
      "StartWorkflowExecution",
      "PollWorkflowTaskQueue",
      "RespondWorkflowTaskCompleted",
      "PollActivityTaskQueue",
      "RespondActivityTaskCompleted",
    ]) {
      expect(proxy.forwarded).toContain(`${WORKFLOW_SERVICE}/${method}`);
    }
  });

  it("refuses a plain-text connection", async () => {
    const failedBefore = proxy.handshakesFailed;
    expect(await connectError({})).toMatch(/UNAVAILABLE|Failed to connect|timed out|deadline/i);
    expect(proxy.handshakesFailed).toBeGreaterThan(failedBefore);
  });

  it("refuses a TLS connection without the API key (UNAUTHENTICATED)", async () => {
    const refusedBefore = proxy.refused;
    expect(await connectError(tlsEnv)).toMatch(/UNAUTHENTICATED|API key/);
    expect(proxy.refused).toBeGreaterThan(refusedBefore);
  });

  it("refuses a client certificate from a CA the server does not trust", async () => {
    const failedBefore = proxy.handshakesFailed;
    const error = await connectError({
      ...tlsEnv,
      TEMPORAL_TLS_CERT: pki.clients.foreign.cert,
      TEMPORAL_TLS_KEY: pki.clients.foreign.key,
      TEMPORAL_API_KEY: API_KEY,
    });
    expect(error).not.toMatch(/UNAUTHENTICATED/);
    expect(proxy.handshakesFailed).toBeGreaterThan(failedBefore);
    expect(error).toMatch(/UNAVAILABLE|Failed to connect|timed out|deadline|certificate/i);
  });
});
