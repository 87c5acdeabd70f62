/**
 * Other teams import the generated TypeScript client by package name
 * (package.json "exports": JavaScript plus declarations in gen/).
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { OrderStatus } from "oms/gen/oms/v1/order_pb.js";
import { OrderService } from "oms/gen/oms/v1/order_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

describe("the generated client, imported as a package", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());

  it("submits and reads an order", async () => {
    const orders = createClient(OrderService, createGrpcTransport({ baseUrl: sys.url }));
    const req = orderRequest();
    const { order } = await orders.submitOrder(req);
    expect(order?.status).toBe(OrderStatus.PENDING);
    expect((await orders.getOrder({ orderId: req.orderId })).order?.orderId).toBe(req.orderId);
  });
});
