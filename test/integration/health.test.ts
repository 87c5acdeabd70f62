/**
 * grpc.health.v1 follows the dependencies: NOT_SERVING while Temporal cannot
 * be reached, SERVING again when it can. The API reaches Temporal through a
 * TCP proxy whose link the test cuts and restores.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  Health,
  HealthCheckResponse_ServingStatus as Status,
} from "../../gen/grpc/health/v1/health_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { type RunningApi, startApi } from "../../src/cmd/components.js";
import { loadConfig } from "../../src/config/config.js";
import { failure } from "../support/failure.js";
import { orderRequest } from "../support/orders.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

function apiConfig(temporalAddress: string, dataDir: string, env: Record<string, string> = {}) {
  return loadConfig({
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: "oms-test",
    OMS_API_HOST: "127.0.0.1",
    OMS_API_PORT: "0",
    OMS_DATA_DIR: dataDir,
    OMS_API_HEALTH_PROBE_INTERVAL_MS: "200",
    OMS_API_SHUTDOWN_GRACE_MS: "500",
    OMS_LOG_LEVEL: "fatal",
    ...env,
  });
}

describe("health follows Temporal's reachability", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-health-"));
  let proxy: TcpProxy;
  let api: RunningApi;

  beforeAll(async () => {
    const [host, port] = inject("temporalAddress").split(":") as [string, string];
    proxy = await startTcpProxy(host, Number(port));
    api = await startApi(
      apiConfig(`127.0.0.1:${proxy.port}`, dataDir),
      `127.0.0.1:${proxy.port}`,
      pino({ level: "fatal" }),
    );
  });
  afterAll(async () => {
    await api?.stop();
    await proxy?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("reports NOT_SERVING while Temporal is unreachable and SERVING when it is back", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: api.server.url }));
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health.check({ service: "oms.v1.OrderService" })).status).toBe(Status.SERVING);

    const seen: Status[] = [];
    const stream = health.watch(
      { service: "oms.v1.OrderService" },
      { signal: AbortSignal.timeout(30_000) },
    );
    for await (const res of stream) {
      seen.push(res.status);
      if (seen.length === 1) proxy.cut();
      if (res.status === Status.NOT_SERVING) {
        // While it is down, the overall status says so too.
        expect((await health.check({ service: "" })).status).toBe(Status.NOT_SERVING);
        proxy.restore();
      }
      if (seen.length > 1 && res.status === Status.SERVING) break;
    }
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
  });

  it("answers NOT_FOUND for a service it does not know", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: api.server.url }));
    const err = await health
      .check({ service: "no.such.Service" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });
});

describe("reflection and health turned off by configuration", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-health-off-"));
  let api: RunningApi;
  beforeAll(async () => {
    const address = inject("temporalAddress");
    const config = apiConfig(address, dataDir, {
      OMS_API_HEALTH: "false",
      OMS_API_REFLECTION: "false",
    });
    api = await startApi(config, address, pino({ level: "fatal" }));
  });
  afterAll(async () => {
    await api?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("does not serve grpc.health.v1", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: api.server.url }));
    const err = await health.check({ service: "" }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.Unimplemented);
  });
});

describe("health follows the read model's reachability (PostgreSQL)", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "oms-health-pg-"));
  let pg: TestPostgres;
  let proxy: TcpProxy;
  let api: RunningApi;

  beforeAll(async () => {
    pg = await startTestPostgres();
    const url = new URL(await pg.createDatabase());
    // The API reaches PostgreSQL through a link the test can cut.
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    url.hostname = "127.0.0.1";
    url.port = String(proxy.port);
    const address = inject("temporalAddress");
    const config = apiConfig(address, dataDir, { OMS_DATABASE_URL: url.toString() });
    api = await startApi(config, address, pino({ level: "fatal" }));
  });
  afterAll(async () => {
    await api?.stop();
    await proxy?.close();
    await pg?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("reports NOT_SERVING while the store is unreachable and SERVING when it is back", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: api.server.url }));
    const seen: Status[] = [];
    for await (const res of health.watch(
      { service: "" },
      { signal: AbortSignal.timeout(30_000) },
    )) {
      seen.push(res.status);
      if (seen.length === 1) proxy.cut();
      if (res.status === Status.NOT_SERVING) {
        // Reads fail as UNAVAILABLE (retryable), not INTERNAL, while the store is away.
        const orders = createClient(OrderService, createGrpcTransport({ baseUrl: api.server.url }));
        const err = await failure(orders.getOrder({ orderId: "any-order" }));
        expect(err.code).toBe(Code.Unavailable);
        expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("DEPENDENCY_UNAVAILABLE");
        expect(err.rawMessage).toBe("the read model is unavailable; retry later");
        proxy.restore();
      }
      if (seen.length > 1 && res.status === Status.SERVING) break;
    }
    expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
  });
});

describe("the WatchOrder stream limit", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ env: { OMS_WATCH_MAX_STREAMS: "1" } });
  });
  afterAll(() => sys?.stop());

  it("refuses a stream over the limit with RESOURCE_EXHAUSTED and frees the slot when a stream ends", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const first = new AbortController();
    const open = sys.grpc.watchOrder({ orderId: req.orderId }, { signal: first.signal });
    const iterator = open[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.order?.orderId).toBe(req.orderId);

    const second = await failure(
      (async () => {
        for await (const _ of sys.grpc.watchOrder({ orderId: req.orderId })) break;
      })(),
    );
    expect(second.code).toBe(Code.ResourceExhausted);
    expect(second.findDetails(ErrorInfoSchema)[0]?.reason).toBe("LIMIT_EXCEEDED");

    // The client goes away: its slot is given back.
    first.abort();
    await iterator.next().catch(() => undefined);
    let reopened: string | undefined;
    for (let attempt = 0; attempt < 50 && reopened === undefined; attempt++) {
      try {
        for await (const res of sys.grpc.watchOrder({ orderId: req.orderId })) {
          reopened = res.order?.orderId;
          break;
        }
      } catch (err) {
        // The server may not have seen the first client leave yet.
        if (ConnectError.from(err).code !== Code.ResourceExhausted) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(reopened).toBe(req.orderId);
  });
});
