import { getEventListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FulfillmentStatus, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { SubmitOrderRequestSchema } from "../../gen/oms/v1/order_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { guard } from "../../src/temporal/order-commands.js";
import { failure } from "../support/failure.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";

function reasonOf(err: ConnectError): string | undefined {
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

describe("OrderService over a real server, worker and Temporal", () => {
  let sys: TestSystem;
  // Nobody plays the courier here: orders stay cancellable until cancelled.
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());

  for (const protocol of ["grpc", "connect"] as const) {
    it(`submits, gets and cancels an order over ${protocol}`, async () => {
      const client = sys[protocol];
      const req = orderRequest();
      const submitted = (await client.submitOrder(req)).order;
      expect(submitted?.orderId).toBe(req.orderId);
      expect(submitted?.status).toBe(OrderStatus.PENDING);
      expect(submitted?.version).toBe(1n);
      // 2×1250 + 999 = 3499; 8% tax rounds to 280; one fulfillment's shipping 499.
      expect(submitted?.amounts).toMatchObject({
        subtotalMinor: 3499n,
        taxMinor: 280n,
        totalMinor: 4278n,
      });

      // Read-your-writes: the order is there at once.
      const got = (await client.getOrder({ orderId: req.orderId })).order;
      expect(got?.orderId).toBe(req.orderId);
      expect(got?.customerId).toBe("customer-1");
      expect(got?.items).toHaveLength(2);
      expect(got?.createTime).toEqual(submitted?.createTime);

      const cancelled = (
        await client.cancelOrder({ orderId: req.orderId, reason: "changed my mind" })
      ).order;
      expect(cancelled?.cancellation?.description).toBe("changed my mind");
      expect(cancelled?.cancellation?.requestedBy).toBe("anonymous");
      expect(cancelled?.version).toBeGreaterThan(got?.version ?? 0n);

      // Compensation runs in the workflow; its end is the workflow's result.
      await sys.temporal.workflow.getHandle(orderWorkflowId(req.orderId)).result();
      const final = (await client.getOrder({ orderId: req.orderId })).order;
      expect(final?.status).toBe(OrderStatus.CANCELLED);
      expect(final?.fulfillments.every((f) => f.status === FulfillmentStatus.CANCELLED)).toBe(true);
    });
  }

  it("leaves no Temporal call listening on an RPC's signal once its Temporal work is done", async () => {
    // Connect aborts every RPC's signal when the RPC ends: a listener left on
    // it would cancel a Temporal call that has long finished.
    const rpc = new AbortController();
    const info = await guard(sys.temporal, rpc.signal, () =>
      sys.temporal.workflowService.getSystemInfo({}),
    );
    expect(info.serverVersion).toBeTruthy();
    expect(getEventListeners(rpc.signal, "abort")).toHaveLength(0);
  });

  it("returns the existing order when the same order is submitted again", async () => {
    const req = orderRequest();
    const first = (await sys.grpc.submitOrder(req)).order;
    const again = (await sys.grpc.submitOrder(req)).order;
    expect(again?.orderId).toBe(first?.orderId);
    expect(again?.createTime).toEqual(first?.createTime);
  });

  it("starts exactly one workflow for 20 concurrent identical submits", async () => {
    const req = orderRequest();
    const responses = await Promise.all(
      Array.from({ length: 20 }, () => sys.grpc.submitOrder(req)),
    );
    const createTimes = new Set(responses.map((r) => r.order?.createTime?.seconds));
    expect(createTimes.size).toBe(1);
    expect(new Set(responses.map((r) => r.order?.orderId))).toEqual(new Set([req.orderId]));
    const runs: string[] = [];
    for await (const wf of sys.temporal.workflow.list({
      query: `WorkflowId = "${orderWorkflowId(req.orderId)}"`,
    })) {
      runs.push(wf.runId);
    }
    // Visibility can lag, never over-count: at most one run, and the one that exists has all the history.
    expect(runs.length).toBeLessThanOrEqual(1);
    const history = await (await sys.startedWorkflow(req.orderId)).fetchHistory();
    const starts = history.events?.filter((e) => e.workflowExecutionStartedEventAttributes) ?? [];
    expect(starts).toHaveLength(1);
  });

  it("refuses a different order under a taken id with ALREADY_EXISTS", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const changed = create(SubmitOrderRequestSchema, { ...req, customerId: "someone-else" });
    const err = await failure(sys.grpc.submitOrder(changed));
    expect(err.code).toBe(Code.AlreadyExists);
    expect(reasonOf(err)).toBe("ORDER_ID_CONFLICT");
    // The original order is untouched.
    const got = (await sys.grpc.getOrder({ orderId: req.orderId })).order;
    expect(got?.customerId).toBe("customer-1");
  });

  it("answers NOT_FOUND for an unknown order, on get and cancel", async () => {
    for (const call of [
      () => sys.grpc.getOrder({ orderId: "no-such-order" }),
      () => sys.grpc.cancelOrder({ orderId: "no-such-order" }),
    ]) {
      const err = await failure(call());
      expect(err.code).toBe(Code.NotFound);
      expect(reasonOf(err)).toBe("ORDER_NOT_FOUND");
      expect(err.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ order_id: "no-such-order" });
    }
  });

  const invalid: [string, Parameters<typeof orderRequest>[0], string][] = [
    ["no lines", { items: [] }, "items"],
    [
      "a zero quantity",
      { items: [{ sku: "SKU-1", quantity: 0, unitPriceMinor: 100n }] },
      "items[0].quantity",
    ],
    [
      "a negative quantity",
      { items: [{ sku: "SKU-1", quantity: -3, unitPriceMinor: 100n }] },
      "items[0].quantity",
    ],
    ["a missing order id", { orderId: "" }, "order_id"],
    ["a missing customer id", { customerId: "" }, "customer_id"],
    [
      "a negative price",
      { items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: -1n }] },
      "items[0].unit_price_minor",
    ],
    ["a lower-case currency", { currencyCode: "usd" }, "currency_code"],
    ["no shipping address", { shippingAddress: undefined }, "shipping_address"],
  ];
  for (const [what, overrides, field] of invalid) {
    it(`rejects a submit with ${what} as INVALID_ARGUMENT naming ${field}`, async () => {
      const req = orderRequest(overrides);
      const err = await failure(sys.grpc.submitOrder(req));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(reasonOf(err)).toBe("INVALID_REQUEST");
      const fields = err
        .findDetails(BadRequestSchema)
        .flatMap((b) => b.fieldViolations.map((v) => v.field));
      expect(fields).toContain(field);
      // Nothing was started.
      if (req.orderId !== "") {
        const lookup = await failure(sys.grpc.getOrder({ orderId: req.orderId }));
        expect(lookup.code).toBe(Code.NotFound);
      }
    });
  }

  it("rejects a get without an order id as INVALID_ARGUMENT", async () => {
    const err = await failure(sys.grpc.getOrder({ orderId: "" }));
    expect(err.code).toBe(Code.InvalidArgument);
  });

  it("returns a cancelled order again on a second cancel (OK)", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "first" });
    // Once while compensation may still be running…
    const second = (await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "second" })).order;
    expect(second?.cancellation?.description).toBe("first");
    // …and once after the workflow has ended.
    await sys.temporal.workflow.getHandle(orderWorkflowId(req.orderId)).result();
    const third = (await sys.grpc.cancelOrder({ orderId: req.orderId })).order;
    expect(third?.status).toBe(OrderStatus.CANCELLED);
    expect(third?.cancellation?.description).toBe("first");
  });
});
