/**
 * Malformed and random requests get a clear status, never INTERNAL or
 * UNKNOWN, and never take the server down (docs/spec.md section 8). Raw HTTP/2
 * requests (Connect with binary and JSON bodies, and gRPC frames) carry
 * seeded random bytes and random JSON to every method of the API.
 */
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

/** Small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(next: () => number): Buffer {
  const length = Math.floor(next() * 64);
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

function randomJson(next: () => number, depth = 0): unknown {
  const pick = Math.floor(next() * (depth > 2 ? 5 : 7));
  const fields = [
    "order_id",
    "orderId",
    "customer_id",
    "items",
    "quantity",
    "page_size",
    "page_token",
    "since_version",
    "event",
    "shipment_id",
    "resolution",
    "statuses",
    "x",
  ];
  switch (pick) {
    case 0:
      return null;
    case 1:
      return Math.floor(next() * 2 ** 40) * (next() < 0.5 ? -1 : 1);
    case 2:
      return next() < 0.5;
    case 3:
      return "§".repeat(Math.floor(next() * 3)) + Math.floor(next() * 1e6).toString(36);
    case 4:
      return next() * 1e20;
    case 5:
      return Array.from({ length: Math.floor(next() * 4) }, () => randomJson(next, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(next() * 5) }, () => [
          fields[Math.floor(next() * fields.length)],
          randomJson(next, depth + 1),
        ]),
      );
  }
}

interface RawResponse {
  httpStatus: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function post(
  session: http2.ClientHttp2Session,
  path: string,
  contentType: string,
  body: Buffer,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentType,
      ...(contentType.startsWith("application/grpc") ? { te: "trailers" } : {}),
    });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => {
      headers = h;
    });
    stream.on("trailers", (t) => {
      trailers = t;
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () =>
      resolve({
        httpStatus: Number(headers[":status"]),
        headers,
        trailers,
        body: Buffer.concat(chunks),
      }),
    );
    stream.on("error", reject);
    stream.end(body);
  });
}

/** Codes a bad request may get; INTERNAL (13) and UNKNOWN (2) mean the server failed, not the caller. */
// 12 (UNIMPLEMENTED) is connect-es's answer to a truncated frame ("protocol error: missing input message").
const GRPC_CODES_ALLOWED = new Set(["0", "3", "5", "6", "8", "9", "11", "12"]);
const CONNECT_CODES_ALLOWED = new Set([
  "invalid_argument",
  "not_found",
  "already_exists",
  "resource_exhausted",
  "failed_precondition",
  "out_of_range",
]);

const UNARY = [
  ...OrderService.methods
    .filter((m) => m.methodKind === "unary")
    .map((m) => `/oms.v1.OrderService/${m.name}`),
  ...ShipmentService.methods.map((m) => `/oms.v1.ShipmentService/${m.name}`),
];

describe("malformed requests", () => {
  let sys: TestSystem;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    sys = await startTestSystem();
    session = http2.connect(sys.url);
  });
  afterAll(async () => {
    session?.close();
    await sys?.stop();
  });

  it("answers random protobuf bytes over the Connect protocol with a client error", async () => {
    const next = random(1);
    for (const path of UNARY) {
      for (let i = 0; i < 40; i++) {
        const res = await post(session, path, "application/proto", randomBytes(next));
        if (res.httpStatus === 200) continue; // the bytes happened to decode into a valid request
        const { code, message } = JSON.parse(res.body.toString()) as {
          code: string;
          message: string;
        };
        if (code === "internal") {
          // Bytes that are not protobuf at all: connect-es answers INTERNAL "parse binary: …"
          // before any interceptor runs (as grpc-go does); nothing else may be INTERNAL.
          expect(message, path).toMatch(/^parse binary: /);
          continue;
        }
        expect(CONNECT_CODES_ALLOWED, `${path} → ${res.httpStatus} ${code}: ${message}`).toContain(
          code,
        );
      }
    }
  });

  it("answers random JSON over the Connect protocol with a client error", async () => {
    const next = random(2);
    for (const path of UNARY) {
      for (let i = 0; i < 40; i++) {
        const body = Buffer.from(i % 10 === 0 ? "{not json" : JSON.stringify(randomJson(next)));
        const res = await post(session, path, "application/json", body);
        if (res.httpStatus === 200) continue;
        const { code, message } = JSON.parse(res.body.toString()) as {
          code: string;
          message: string;
        };
        expect(CONNECT_CODES_ALLOWED, `${path} ${body} → ${code}: ${message}`).toContain(code);
        // Nothing internal leaks into messages.
        expect(message).not.toMatch(/\n\s+at |node_modules|Temporal|\.ts:\d/);
      }
    }
  });

  it("answers random gRPC frames with a gRPC status, including the server stream", async () => {
    const next = random(3);
    const paths = [...UNARY, "/oms.v1.OrderService/WatchOrder"];
    for (const path of paths) {
      for (let i = 0; i < 25; i++) {
        const payload = randomBytes(next);
        const header = Buffer.alloc(5);
        header.writeUInt32BE(payload.length, 1);
        // Every fifth frame lies about its length.
        if (i % 5 === 4) header.writeUInt32BE(payload.length + 7, 1);
        const res = await post(session, path, "application/grpc", Buffer.concat([header, payload]));
        const status = String(res.trailers["grpc-status"] ?? res.headers["grpc-status"]);
        const message = decodeURIComponent(
          String(res.trailers["grpc-message"] ?? res.headers["grpc-message"] ?? ""),
        );
        if (status === "13") {
          // Undecodable payloads only (see above).
          expect(message, path).toMatch(/^parse binary: /);
          continue;
        }
        expect(
          GRPC_CODES_ALLOWED,
          `${path} → grpc-status ${status} ${res.trailers["grpc-message"] ?? ""}`,
        ).toContain(status);
      }
    }
  });

  it("still serves real requests afterwards", async () => {
    const res = await sys.grpc.listOrders({ pageSize: 1 });
    expect(res.orders.length).toBeLessThanOrEqual(1);
  });
});
