/**
 * Interop with the canonical gRPC stack: a plain @grpc/grpc-js client, with
 * stubs loaded from the .proto files at run time (as a team without our
 * generated code would), against the Connect server.
 */
import path from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";
import { credentials, type Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

const root = path.resolve(import.meta.dirname, "../..");

interface Order {
  orderId: string;
  status: string;
  version: string;
  items: { sku: string; quantity: number; unitPriceMinor: string }[];
  cancellation?: { description: string };
}
type Unary<Req> = (
  req: Req,
  cb: (err: ServiceError | null, res?: { order?: Order }) => void,
) => void;
interface OrderServiceClient extends grpc.Client {
  submitOrder: Unary<object>;
  getOrder: Unary<{ orderId: string }>;
  cancelOrder: Unary<{ orderId: string; reason?: string }>;
}

function call<Req>(fn: Unary<Req>, client: grpc.Client, req: Req): Promise<Order | undefined> {
  return new Promise((resolve, reject) => {
    fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res?.order)));
  });
}

describe("a @grpc/grpc-js client", () => {
  let sys: TestSystem;
  let client: OrderServiceClient;

  beforeAll(async () => {
    sys = await startTestSystem();
    const definition = loadSync("oms/v1/order_service.proto", {
      includeDirs: [path.join(root, "proto"), path.join(root, "third_party/proto")],
      longs: String,
      enums: String,
      defaults: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      oms: {
        v1: {
          OrderService: new (address: string, creds: grpc.ChannelCredentials) => OrderServiceClient;
        };
      };
    };
    client = new pkg.oms.v1.OrderService(`127.0.0.1:${sys.port}`, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    await sys?.stop();
  });

  it("submits, gets and cancels an order", async () => {
    const orderId = `grpcjs-${Date.now()}`;
    const submitted = await call(client.submitOrder, client, {
      orderId,
      customerId: "customer-grpc-js",
      currencyCode: "EUR",
      items: [{ sku: "SKU-9", quantity: 3, unitPriceMinor: "400" }],
      shippingAddress: {
        name: "Grace",
        line1: "1 Harbour St",
        city: "Arlington",
        countryCode: "US",
      },
    });
    expect(submitted?.status).toBe("ORDER_STATUS_PENDING");
    expect(submitted?.version).toBe("1");

    const got = await call(client.getOrder, client, { orderId });
    expect(got?.items).toEqual([{ sku: "SKU-9", quantity: 3, unitPriceMinor: "400" }]);

    const cancelled = await call(client.cancelOrder, client, { orderId, reason: "interop" });
    expect(cancelled?.cancellation?.description).toBe("interop");
  });

  it("receives status codes and ErrorInfo in grpc-status-details-bin", async () => {
    const err = await call(client.getOrder, client, { orderId: "missing-order" }).then(
      () => {
        throw new Error("expected NOT_FOUND");
      },
      (e: ServiceError) => e,
    );
    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe('order "missing-order" does not exist');
    const details = (err.metadata as Metadata).get("grpc-status-details-bin")[0] as Buffer;
    expect(details).toBeInstanceOf(Buffer);
    // google.rpc.Status: field 3 holds Any details; find the ErrorInfo among them.
    const info = decodeStatusDetails(details).find((d) =>
      d.typeUrl.endsWith("google.rpc.ErrorInfo"),
    );
    expect(info).toBeDefined();
    const errorInfo = fromBinary(ErrorInfoSchema, info?.value ?? new Uint8Array());
    expect(errorInfo.reason).toBe("ORDER_NOT_FOUND");
    expect(errorInfo.metadata).toEqual({ order_id: "missing-order" });
  });

  it("gets INVALID_ARGUMENT for a bad request", async () => {
    const err = await call(client.submitOrder, client, { orderId: "x", items: [] }).catch(
      (e: ServiceError) => e,
    );
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
  });
});

/** Decodes google.rpc.Status bytes far enough to get its Any details. */
function decodeStatusDetails(bytes: Uint8Array): { typeUrl: string; value: Uint8Array }[] {
  const out: { typeUrl: string; value: Uint8Array }[] = [];
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 3) {
      const any = new BinaryReader(reader.bytes());
      let typeUrl = "";
      let value: Uint8Array = new Uint8Array();
      while (any.pos < any.len) {
        const [f] = any.tag();
        if (f === 1) typeUrl = any.string();
        else value = any.bytes();
      }
      out.push({ typeUrl, value });
    } else {
      reader.skip(wireType);
    }
  }
  return out;
}
