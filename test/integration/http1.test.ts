/**
 * HTTP/1.1 and h2c on the API's one port: the server tells them apart by the
 * HTTP/2 connection preface. Against a whole system: curl, fetch, the Connect
 * and gRPC-Web transports over HTTP/1.1, and gRPC over HTTP/2 on the same port.
 * Against a bare API server with test handlers: what a client that sends
 * garbage, stalls or goes away does to it, HTTP/1.1 timeouts around a long
 * stream, and the shutdown drain of HTTP/1.1 calls and keep-alive connections.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderSchema, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { type ApiServer, type ConnectionTimeouts, startApiServer } from "../../src/api/server.js";
import { failure } from "../support/failure.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

const run = promisify(execFile);

/** curl over HTTP/1.1 with a JSON body (the Connect protocol); status, HTTP version and body. */
async function curl(url: string, body: string) {
  const { stdout } = await run("curl", [
    "--http1.1",
    "--silent",
    "--show-error",
    "--max-time",
    "20",
    "-H",
    "content-type: application/json",
    "-d",
    body,
    "-w",
    "\n%{http_code} %{http_version}",
    url,
  ]);
  const cut = stdout.lastIndexOf("\n");
  const [status, version] = stdout.slice(cut + 1).split(" ");
  return { status: Number(status), version, json: JSON.parse(stdout.slice(0, cut)) };
}

const ORDER_JSON = (orderId: string) =>
  JSON.stringify({
    order_id: orderId,
    customer_id: "c-1",
    currency_code: "USD",
    items: [{ sku: "SKU-1", quantity: 2, unit_price_minor: "1250" }],
    shipping_address: { name: "Ada", line1: "1 Main St", city: "Springfield", country_code: "US" },
  });

describe("the API port over HTTP/1.1 and HTTP/2", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());

  it("answers curl --http1.1 with the Connect protocol: SubmitOrder, then GetOrder", async () => {
    const orderId = `http1-${randomUUID()}`;
    const submitted = await curl(`${sys.url}/oms.v1.OrderService/SubmitOrder`, ORDER_JSON(orderId));
    expect(submitted).toMatchObject({ status: 200, version: "1.1" });
    expect(submitted.json.order).toMatchObject({ orderId, status: "ORDER_STATUS_PENDING" });

    const got = await curl(
      `${sys.url}/oms.v1.OrderService/GetOrder`,
      JSON.stringify({ order_id: orderId }),
    );
    expect(got).toMatchObject({ status: 200, version: "1.1" });
    expect(got.json.order).toMatchObject({ orderId, customerId: "c-1", version: "1" });
  });

  it("gives curl a Connect JSON error with the right code and HTTP status", async () => {
    const missing = await curl(
      `${sys.url}/oms.v1.OrderService/GetOrder`,
      JSON.stringify({ order_id: `missing-${randomUUID()}` }),
    );
    expect(missing).toMatchObject({ status: 404, version: "1.1", json: { code: "not_found" } });
    expect(missing.json.details).toContainEqual(
      expect.objectContaining({ type: "google.rpc.ErrorInfo" }),
    );

    const invalid = await curl(
      `${sys.url}/oms.v1.OrderService/GetOrder`,
      JSON.stringify({ order_id: "" }),
    );
    expect(invalid).toMatchObject({ status: 400, json: { code: "invalid_argument" } });
  });

  it("answers fetch (undici, HTTP/1.1) for a unary call", async () => {
    const orderId = `http1-${randomUUID()}`;
    const res = await fetch(`${sys.url}/oms.v1.OrderService/SubmitOrder`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: ORDER_JSON(orderId),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(((await res.json()) as { order: { orderId: string } }).order.orderId).toBe(orderId);
  });

  it("streams WatchOrder over HTTP/1.1: a raw Connect streaming envelope, and the Connect transport", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);

    // Raw fetch: one enveloped JSON request; the response is enveloped messages, then an end-of-stream message.
    const json = Buffer.from(JSON.stringify({ order_id: req.orderId }));
    const envelope = Buffer.alloc(5 + json.length);
    envelope.writeUInt32BE(json.length, 1);
    json.copy(envelope, 5);
    const abort = new AbortController();
    const res = await fetch(`${sys.url}/oms.v1.OrderService/WatchOrder`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", "connect-protocol-version": "1" },
      body: envelope,
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/connect+json");
    let received = Buffer.alloc(0);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    while (received.length < 5 || received.length < 5 + received.readUInt32BE(1)) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended before its first message");
      received = Buffer.concat([received, value]);
    }
    expect(received[0]).toBe(0); // a message, not the end of the stream
    const first = JSON.parse(received.subarray(5, 5 + received.readUInt32BE(1)).toString());
    expect(first.order).toMatchObject({ orderId: req.orderId, version: "1" });
    abort.abort();

    // The Connect transport over HTTP/1.1 until the order is cancelled.
    const client = createClient(
      OrderService,
      createConnectTransport({ baseUrl: sys.url, httpVersion: "1.1" }),
    );
    const seen: OrderStatus[] = [];
    for await (const update of client.watchOrder(
      { orderId: req.orderId },
      { signal: AbortSignal.timeout(30_000) },
    )) {
      seen.push(update.order?.status ?? OrderStatus.UNSPECIFIED);
      if (seen.length === 1) await client.cancelOrder({ orderId: req.orderId, reason: "test" });
      if (update.order?.status === OrderStatus.CANCELLED) break;
    }
    expect(seen[0]).toBe(OrderStatus.PENDING);
    expect(seen.at(-1)).toBe(OrderStatus.CANCELLED);
  });

  it("serves gRPC-Web over HTTP/1.1", async () => {
    const client = createClient(
      OrderService,
      createGrpcWebTransport({ baseUrl: sys.url, httpVersion: "1.1" }),
    );
    const req = orderRequest();
    expect((await client.submitOrder(req)).order?.orderId).toBe(req.orderId);
    expect((await client.getOrder({ orderId: req.orderId })).order?.version).toBe(1n);
    const err = await failure(client.getOrder({ orderId: `missing-${randomUUID()}` }));
    expect(err.code).toBe(Code.NotFound);
  });

  it("serves gRPC over h2c and HTTP/1.1 on the same port at once", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const [overGrpc, overHttp1] = await Promise.all([
      sys.grpc.getOrder({ orderId: req.orderId }),
      curl(`${sys.url}/oms.v1.OrderService/GetOrder`, JSON.stringify({ order_id: req.orderId })),
    ]);
    expect(overGrpc.order?.orderId).toBe(req.orderId);
    expect(overHttp1).toMatchObject({ status: 200, version: "1.1" });
    expect(overHttp1.json.order.orderId).toBe(req.orderId);
  });
});

// --- A bare API server with handlers the tests control -------------------------------------

const PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

interface Bare {
  server: ApiServer;
  /** Lets the GetOrder calls for "slow-…" ids answer; until then they wait (or their signal aborts). */
  release(): void;
  slowCalls: AbortSignal[];
  slowStarted: Promise<void>;
}

async function startBare(timeouts: Partial<ConnectionTimeouts> = {}): Promise<Bare> {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = () => {};
  const slowStarted = new Promise<void>((resolve) => {
    started = resolve;
  });
  const slowCalls: AbortSignal[] = [];
  const server = await startApiServer({
    host: "127.0.0.1",
    port: 0,
    routes: (router) =>
      router.service(OrderService, {
        async getOrder(req, ctx) {
          if (req.orderId.startsWith("slow-")) {
            slowCalls.push(ctx.signal);
            started();
            await Promise.race([gate, once(ctx.signal, "abort")]);
            ctx.signal.throwIfAborted();
          }
          return { order: create(OrderSchema, { orderId: req.orderId, version: 1n }) };
        },
        // Versions 1 to 15, 100 ms apart.
        async *watchOrder(req, ctx) {
          for (let version = 1n; version <= 15n; version++) {
            yield { order: create(OrderSchema, { orderId: req.orderId, version }) };
            await sleep(100, undefined, { signal: ctx.signal });
          }
        },
      }),
    interceptors: [],
    maxMessageBytes: 64 * 1024,
    maxTimeoutMs: 30_000,
    logger: pino({ level: "silent" }),
    timeouts,
  });
  return { server, release, slowCalls, slowStarted };
}

/** A GetOrder over node:http (HTTP/1.1) on `agent`'s connections. */
function http1GetOrder(server: ApiServer, agent: http.Agent, orderId: string) {
  return new Promise<{
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    socket: net.Socket;
  }>((resolve, reject) => {
    const req = http.request(
      `${server.url}/oms.v1.OrderService/GetOrder`,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, socket }),
        );
        res.on("error", reject);
      },
    );
    let socket: net.Socket;
    req.on("socket", (s) => {
      socket = s;
    });
    req.on("error", reject);
    req.end(JSON.stringify({ order_id: orderId }));
  });
}

/** Opens a raw TCP connection, sends `bytes`, and collects what comes back until the server closes it. */
async function raw(port: number, bytes: string | Buffer, then: "end" | "destroy" | "wait") {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  let received = "";
  socket.on("data", (chunk) => {
    received += chunk.toString("latin1");
  });
  socket.on("error", () => {});
  const closed = once(socket, "close");
  socket.write(bytes);
  if (then === "end") socket.end();
  if (then === "destroy") socket.destroy();
  await closed;
  return received;
}

function tcpSockets() {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
}

describe("a bare API server on one port for HTTP/1.1 and h2c", () => {
  it("survives garbage, half prefaces and silent clients, and leaks no sockets", async () => {
    const bare = await startBare({ prefaceMs: 300 });
    const client = createClient(
      OrderService,
      createConnectTransport({ baseUrl: bare.server.url, httpVersion: "1.1" }),
    );
    await client.getOrder({ orderId: "warm-up" });
    const before = tcpSockets();
    const port = bare.server.port;
    const started = Date.now();

    const outcomes = await Promise.all([
      // Not HTTP at all: HTTP/1.1's parser answers 400 and closes.
      raw(port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x00, 0x7f]), "wait"),
      raw(port, "GARBAGE\r\n\r\n", "wait"),
      // The preface with its last line mangled: HTTP/1.1, so also 400.
      raw(port, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n", "wait"),
      // Half a preface, then the client closes (half-close, and abruptly).
      raw(port, PREFACE.slice(0, 10), "end"),
      raw(port, PREFACE.slice(0, 10), "destroy"),
      // Half a preface, then silence: closed after prefaceMs.
      raw(port, PREFACE.slice(0, 10), "wait"),
      // Connects and says nothing: closed after prefaceMs.
      raw(port, "", "wait"),
      // The whole preface followed by garbage instead of a SETTINGS frame: an HTTP/2 protocol error.
      raw(port, `${PREFACE}not a frame at all`, "wait"),
    ]);
    for (const garbage of outcomes.slice(0, 3)) expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(outcomes.slice(3, 7)).toEqual(["", "", "", ""]);
    // The silent ones were closed by the server after prefaceMs (300), not held.
    expect(Date.now() - started).toBeLessThan(5_000);

    // Still serves both protocols.
    expect((await client.getOrder({ orderId: "after" })).order?.orderId).toBe("after");
    const h2 = createClient(
      OrderService,
      createConnectTransport({ baseUrl: bare.server.url, httpVersion: "2" }),
    );
    expect((await h2.getOrder({ orderId: "after-h2" })).order?.orderId).toBe("after-h2");
    // Every bad connection is gone on the server's side too.
    await expect.poll(tcpSockets, { timeout: 5_000 }).toBeLessThanOrEqual(before + 2);
    await bare.server.close(1_000);
  });

  it("applies the message size limit over HTTP/1.1", async () => {
    const bare = await startBare();
    const res = await fetch(`${bare.server.url}/oms.v1.OrderService/GetOrder`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ order_id: "x".repeat(100 * 1024) }), // the limit is 64 KiB
    });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ code: "resource_exhausted" });
    await bare.server.close(1_000);
  });

  it("answers 408 to an HTTP/1.1 client that stalls in its headers", async () => {
    const bare = await startBare({ headersMs: 300, requestMs: 600, checkIntervalMs: 50 });
    const started = Date.now();
    const response = await raw(
      bare.server.port,
      "POST /oms.v1.OrderService/GetOrder HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n",
      "wait",
    );
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(3_000);
    await bare.server.close(1_000);
  });

  it("keeps an HTTP/1.1 WatchOrder stream open beyond the request and keep-alive timeouts", async () => {
    const bare = await startBare({
      headersMs: 200,
      requestMs: 300,
      keepAliveMs: 200,
      checkIntervalMs: 50,
    });
    const client = createClient(
      OrderService,
      createConnectTransport({ baseUrl: bare.server.url, httpVersion: "1.1" }),
    );
    const started = Date.now();
    const versions: bigint[] = [];
    for await (const res of client.watchOrder({ orderId: "long" })) {
      versions.push(res.order?.version ?? 0n);
    }
    // 15 versions 100 ms apart: ~1.4 s, several times each timeout.
    expect(versions).toHaveLength(15);
    expect(Date.now() - started).toBeGreaterThan(1_200);
    await bare.server.close(1_000);
  });

  it("drains an HTTP/1.1 call in flight at shutdown and closes idle keep-alive connections", async () => {
    const bare = await startBare();
    const idleAgent = new http.Agent({ keepAlive: true });
    const busyAgent = new http.Agent({ keepAlive: true });
    try {
      // A keep-alive connection that has finished its call and sits idle.
      const first = await http1GetOrder(bare.server, idleAgent, "quick");
      expect(first.status).toBe(200);
      expect(first.socket.destroyed).toBe(false);
      const idleClosed = once(first.socket, "close");

      const slow = http1GetOrder(bare.server, busyAgent, "slow-1");
      await bare.slowStarted;
      const shutdownStarted = Date.now();
      const closing = bare.server.close(10_000);

      // The idle connection closes at once; the call in flight goes on.
      await idleClosed;
      expect(bare.slowCalls[0]?.aborted).toBe(false);
      // No new connections.
      const refused = net.connect(bare.server.port, "127.0.0.1");
      const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
      expect(err.code).toBe("ECONNREFUSED");

      bare.release();
      const answered = await slow;
      expect(answered.status).toBe(200);
      expect(JSON.parse(answered.body).order.orderId).toBe("slow-1");
      // Finished, and told its connection is closing.
      expect(answered.headers.connection).toBe("close");
      await closing;
      expect(Date.now() - shutdownStarted).toBeLessThan(5_000);
    } finally {
      idleAgent.destroy();
      busyAgent.destroy();
    }
  });

  it("aborts an HTTP/1.1 call still in flight when the grace is over", async () => {
    const bare = await startBare();
    const agent = new http.Agent({ keepAlive: true });
    try {
      const slow = http1GetOrder(bare.server, agent, "slow-2").catch((err: Error) => err);
      await bare.slowStarted;
      const shutdownStarted = Date.now();
      await bare.server.close(300);
      const took = Date.now() - shutdownStarted;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(3_000);
      expect(bare.slowCalls[0]?.aborted).toBe(true);
      // The connection was dropped: the client gets no answer.
      expect(await slow).toBeInstanceOf(Error);
    } finally {
      agent.destroy();
    }
  });
});
