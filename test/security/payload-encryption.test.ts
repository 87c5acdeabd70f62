/**
 * Customer data in Temporal: an order's real recorded history holds no name
 * or address line in plain text (every payload's base64 `data` decoded before
 * looking); the codec endpoint decodes what the worker encoded, for callers
 * with a role only, with the CORS the Web UI needs; orders started under key A
 * complete after the active key becomes B, and their histories still decode.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Payload } from "@temporalio/common";
import { historyToJSON } from "@temporalio/common/lib/proto-utils.js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { type RunningApi, startApi } from "../../src/cmd/components.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { EncryptionCodec } from "../../src/temporal/codec/encryption-codec.js";
import { readKeyringSetting } from "../../src/temporal/codec/keyring.js";
import { orderRequest } from "../support/orders.js";
import { createTestIssuer, type TestIssuer } from "../support/security.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";

const UI_ORIGIN = "http://localhost:8233";
const KEY_A = Buffer.alloc(32, 7).toString("base64");
const KEY_B = Buffer.alloc(32, 9).toString("base64");
const RING_A = JSON.stringify({ activeKeyId: "key-a", keys: { "key-a": KEY_A } });
const RING_AB = JSON.stringify({ activeKeyId: "key-b", keys: { "key-a": KEY_A, "key-b": KEY_B } });

/** A customer nobody else uses, so that any hit in a history is this order's. */
function customer(tag: string) {
  return {
    name: `Zelda Quartermaine ${tag}`,
    line1: `4242 Obscure Lane ${tag}`,
    city: "Vexingham",
    postalCode: "ZQ9 9ZZ",
    countryCode: "GB",
  };
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

/** Every payload of a history in its JSON form (as `temporal workflow show -o json` prints it). */
function payloadsOf(json: unknown): JsonPayload[] {
  return located(json).map((p) => p.payload);
}

/** Payloads with the path of fields that holds them, e.g. `events.activityTaskScheduledEventAttributes.input.payloads`. */
function located(
  json: unknown,
  at: string[] = [],
  out: { path: string; payload: JsonPayload }[] = [],
) {
  if (Array.isArray(json)) for (const item of json) located(item, at, out);
  else if (json !== null && typeof json === "object") {
    const o = json as Record<string, unknown>;
    if (typeof o.data === "string" && typeof o.metadata === "object") {
      out.push({ path: at.join("."), payload: o as JsonPayload });
    } else for (const [key, value] of Object.entries(o)) located(value, [...at, key], out);
  }
  return out;
}

/**
 * Payloads the SDK writes itself, through no codec: local-activity marker
 * data, and a patch's id (its marker and the TemporalChangeVersion search
 * attribute, which the server must be able to read). None carries order data.
 */
function isSdkOwn(path: string): boolean {
  return (
    path.endsWith("markerRecordedEventAttributes.details.data.payloads") ||
    path.endsWith("markerRecordedEventAttributes.details.patch-data.payloads") ||
    path.endsWith("searchAttributes.indexedFields.TemporalChangeVersion")
  );
}

/** All text of a history with every base64 `data` and metadata value decoded. */
function decodedText(history: string): string {
  return payloadsOf(JSON.parse(history))
    .flatMap((p) => [p.data ?? "", ...Object.values(p.metadata ?? {})])
    .map((b64) => Buffer.from(b64, "base64").toString("latin1"))
    .join("\n");
}

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

describe("customer data in Temporal", () => {
  let sys: TestSystem;
  let issuer: TestIssuer;
  const dir = mkdtempSync(path.join(tmpdir(), "oms-codec-"));
  let adminToken: string;
  let rotatedApi: RunningApi | undefined;

  const clientsFor = (url: string) => {
    const transport = createGrpcTransport({ baseUrl: url, interceptors: [bearer(adminToken)] });
    return {
      orders: createClient(OrderService, transport),
      shipments: createClient(ShipmentService, transport),
    };
  };
  const as = (orders: ReturnType<typeof clientsFor>["orders"]) => ({ ...sys, grpc: orders });

  const bookedOrder = async (url: string, tag: string) => {
    const { orders } = clientsFor(url);
    const request = orderRequest({ shippingAddress: customer(tag) });
    await orders.submitOrder(request);
    const booked = await waitForOrder(
      as(orders),
      request.orderId,
      (o) => o.fulfillments.length > 0 && o.fulfillments.every((f) => f.shipment?.shipmentId),
    );
    return {
      orderId: request.orderId,
      shipments: booked.fulfillments.map((f) => f.shipment?.shipmentId as string),
    };
  };
  const complete = async (url: string, order: { orderId: string; shipments: string[] }) => {
    const { orders, shipments } = clientsFor(url);
    for (const event of [ShipmentEvent.DISPATCHED, ShipmentEvent.DELIVERED]) {
      for (const shipmentId of order.shipments)
        await shipments.reportShipmentEvent({ shipmentId, event });
    }
    await waitForOrder(as(orders), order.orderId, (o) => o.status === OrderStatus.COMPLETED);
  };
  const history = async (orderId: string) =>
    historyToJSON(await sys.temporal.workflow.getHandle(orderWorkflowId(orderId)).fetchHistory());

  const codecCall = (operation: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${sys.url}/codec/${operation}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-namespace": "default", ...headers },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    issuer = await createTestIssuer(dir);
    adminToken = await issuer.token({ subject: "test-admin", roles: ["admin"] });
    sys = await startTestSystem({
      env: { ...issuer.env, OMS_PAYLOAD_KEYS: RING_A, OMS_CODEC_CORS_ORIGINS: UI_ORIGIN },
    });
  });
  afterAll(async () => {
    await rotatedApi?.stop();
    await sys?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let completedOrder = "";
  it("records no name or address line in plain text in a completed order's history", async () => {
    const tag = "plain-check";
    const order = await bookedOrder(sys.url, tag);
    await complete(sys.url, order);
    completedOrder = order.orderId;
    const json = await history(order.orderId);
    const text = `${json}\n${decodedText(json)}`;
    const { name, line1, postalCode } = customer(tag);
    for (const secret of [name, line1, postalCode, "Zelda", "Obscure Lane"]) {
      expect(text).not.toContain(secret);
    }
    // Every payload is encrypted, with the key id in clear metadata, except the
    // SDK's own local-activity marker data (sequence number, attempt, activity type, times).
    const all = located(JSON.parse(json));
    const sdkMarkers = all.filter((p) =>
      p.path.endsWith("markerRecordedEventAttributes.details.data.payloads"),
    );
    for (const { payload } of sdkMarkers) {
      expect(
        Object.keys(JSON.parse(Buffer.from(payload.data ?? "", "base64").toString())).sort(),
      ).toEqual([
        "activity_id",
        "activity_type",
        "attempt",
        "backoff",
        "complete_time",
        "original_schedule_time",
        "seq",
      ]);
    }
    // A patch's marker and search attribute name the patch, nothing else.
    for (const { path, payload } of all.filter(
      (p) => isSdkOwn(p.path) && !sdkMarkers.includes(p),
    )) {
      const value: unknown = JSON.parse(Buffer.from(payload.data ?? "", "base64").toString());
      if (path.endsWith("TemporalChangeVersion")) {
        expect(Array.isArray(value) && value.every((id) => typeof id === "string")).toBe(true);
      } else expect(Object.keys(value as object).sort()).toEqual(["deprecated", "id"]);
    }
    const payloads = all.filter((p) => !isSdkOwn(p.path)).map((p) => p.payload);
    expect(payloads.length).toBeGreaterThan(10);
    const encodings = new Set(
      payloads.map((p) => Buffer.from(p.metadata?.encoding ?? "", "base64").toString()),
    );
    expect([...encodings]).toEqual(["binary/encrypted"]);
    // Memo and search attributes hold nothing readable either (raw: the test's client has no codec).
    const { workflowExecutionInfo: info } =
      await sys.temporal.workflowService.describeWorkflowExecution({
        namespace: sys.config.temporal.namespace,
        execution: { workflowId: orderWorkflowId(order.orderId) },
      });
    // The raw proto prints bytes as base64, like a history.
    const memo = decodedText(JSON.stringify(info?.memo ?? {}));
    expect(memo).toContain("binary/encrypted");
    expect(memo).not.toContain("Zelda");
    expect(JSON.stringify(info?.searchAttributes ?? {})).not.toContain("Zelda");
  });

  it("decodes what the worker encoded through the codec endpoint, for callers with a role", async () => {
    const payloads = payloadsOf(JSON.parse(await history(completedOrder)));
    const body = { payloads };
    const anonymous = await codecCall("decode", body);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ reason: "CREDENTIALS_MISSING" });
    const badToken = await codecCall("decode", body, { authorization: "Bearer nonsense" });
    expect(badToken.status).toBe(401);
    const courier = await issuer.token({ roles: ["shipments.report"] });
    const denied = await codecCall("decode", body, { authorization: `Bearer ${courier}` });
    expect(denied.status).toBe(403);
    const reader = await issuer.token({ subject: "operator", roles: ["orders.read"] });
    const decoded = await codecCall("decode", body, { authorization: `Bearer ${reader}` });
    expect(decoded.status).toBe(200);
    const out = (await decoded.json()) as { payloads: JsonPayload[] };
    expect(out.payloads).toHaveLength(payloads.length);
    const text = decodedText(JSON.stringify(out));
    expect(text).toContain(customer("plain-check").name);
    expect(text).toContain(customer("plain-check").line1);
    // And back: encode needs orders.write; what it makes decodes to the same.
    const readerEncode = await codecCall("encode", out, { authorization: `Bearer ${reader}` });
    expect(readerEncode.status).toBe(403);
    const encoded = await codecCall("encode", out, { authorization: `Bearer ${adminToken}` });
    expect(decodedText(await encoded.text())).not.toContain("Zelda");
  });

  it("answers the Web UI's CORS preflight for its origin only", async () => {
    const preflight = (origin: string) =>
      fetch(`${sys.url}/codec/decode`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type,x-namespace,authorization",
        },
      });
    const ui = await preflight(UI_ORIGIN);
    expect(ui.status).toBe(204);
    expect(ui.headers.get("access-control-allow-origin")).toBe(UI_ORIGIN);
    expect(ui.headers.get("access-control-allow-headers")).toContain("x-namespace");
    expect(ui.headers.get("access-control-allow-headers")).toContain("authorization");
    const other = await preflight("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("completes orders started under key A after the active key becomes B", async () => {
    const orders = [await bookedOrder(sys.url, "rotate-1"), await bookedOrder(sys.url, "rotate-2")];
    // Rotate: the worker and a new API replica get the ring {A, B} with B active.
    await sys.stopWorker();
    sys.config.security.payloadKeys = readKeyringSetting(RING_AB);
    await sys.startWorker();
    rotatedApi = await startApi(
      sys.config,
      sys.config.temporal.address as string,
      pino({ level: "warn" }),
    );
    for (const order of orders) await complete(rotatedApi.server.url, order);

    const both = new EncryptionCodec(readKeyringSetting(RING_AB));
    const onlyB = new EncryptionCodec(
      readKeyringSetting(JSON.stringify({ activeKeyId: "key-b", keys: { "key-b": KEY_B } })),
    );
    for (const order of orders) {
      const payloads: Payload[] = located(JSON.parse(await history(order.orderId)))
        .filter((p) => !isSdkOwn(p.path))
        .map(({ payload: p }) => ({
          metadata: Object.fromEntries(
            Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")]),
          ),
          data: Buffer.from(p.data ?? "", "base64"),
        }));
      const keyIds = new Set(
        payloads.map((p) => Buffer.from(p.metadata?.["encryption-key-id"] ?? []).toString()),
      );
      expect([...keyIds].sort()).toEqual(["key-a", "key-b"]);
      const decoded = await both.decode(payloads);
      expect(decoded.map((p) => Buffer.from(p.data ?? []).toString()).join()).toContain("Zelda");
      await expect(onlyB.decode(payloads)).rejects.toThrow(/key-a/);
    }
  });
});
