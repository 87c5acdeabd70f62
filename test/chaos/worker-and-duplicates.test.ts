/**
 * Reliability (docs/spec.md section 8) against the process around the workflows: a
 * worker that goes away mid-order, and a burst of identical submissions. No
 * order is lost, none is started twice, nothing is charged twice.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  FulfillmentStatus,
  type Order,
  OrderStatus,
  PaymentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { fulfillmentId, orderWorkflowId } from "../../src/domain/ids.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  bookedShipments,
  courier,
  finishedOrder as finished,
  waitForOrder,
} from "../support/watch.js";
import { ledgerByFulfillment } from "./observe.js";

const perFulfillment = (orderId: string, ops: string[]) => ({
  [fulfillmentId(orderId, 1)]: ops,
  [fulfillmentId(orderId, 2)]: ops,
});

describe("workers and duplicates", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterEach(async () => {
    sys?.refs.faults.clear();
    await sys?.startWorker(); // no-op unless a test left the worker stopped
  });
  afterAll(() => sys?.stop());

  it("carries on with a fresh worker after the worker is stopped mid-order", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, req.orderId, 2);

    await sys.stopWorker();
    // Nothing runs the workflows now; the API still answers from the read model.
    const paused = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(paused.status).toBe(OrderStatus.PROCESSING);
    expect(paused.fulfillments.map((f) => FulfillmentStatus[f.status])).toEqual([
      "BOOKED",
      "BOOKED",
    ]);
    // A new worker, with nothing cached: it rebuilds the workflows from their histories.
    await sys.startWorker();

    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    await courier(sys, shipments, ShipmentEvent.DELIVERED);

    const done = await finished(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    for (const f of done.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.DELIVERED);
      expect(f.payment?.status).toBe(PaymentStatus.CAPTURED);
    }
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(
      perFulfillment(req.orderId, ["AUTHORIZE", "CAPTURE"]),
    );
  });

  it("starts one order for 20 identical concurrent submissions while inventory is slow", async () => {
    sys.refs.faults.set("inventory", { addedLatencyMs: 300 });
    const req = twoWarehouses();
    const keyboardsBefore = sys.refs.inventory.available("wh-west", "KEYBOARD-MX");

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => sys.grpc.submitOrder(req)),
    );
    for (const res of responses) {
      expect(res.order?.orderId).toBe(req.orderId);
      expect(res.order?.customerId).toBe(req.customerId);
      expect(res.order?.items).toEqual(responses[0]?.order?.items);
      expect(res.order?.amounts).toEqual(responses[0]?.order?.amounts);
      expect(res.order?.createTime).toEqual(responses[0]?.order?.createTime);
    }

    const shipments = await bookedShipments(sys, req.orderId, 2);
    sys.refs.faults.clear("inventory");
    // Reserved once, authorized once per fulfillment.
    expect(sys.refs.inventory.available("wh-west", "KEYBOARD-MX")).toBe(keyboardsBefore - 1);
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(
      perFulfillment(req.orderId, ["AUTHORIZE"]),
    );
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    await courier(sys, shipments, ShipmentEvent.DELIVERED);
    const done = await finished(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(ledgerByFulfillment(sys, req.orderId)).toEqual(
      perFulfillment(req.orderId, ["AUTHORIZE", "CAPTURE"]),
    );
    // One accepted version in the timeline, not twenty.
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => OrderStatus[e.toStatus])).toEqual([
      "PENDING",
      "PROCESSING",
      // Each shipment's dispatch and delivery, as the courier reported them.
      ...Array(4).fill("PROCESSING"),
      "COMPLETED",
    ]);
    // One workflow run for the order (visibility catches up with the close first).
    const runs = await closedRuns(sys, orderWorkflowId(req.orderId));
    expect(runs).toHaveLength(1);
  });
});

/** The runs of `workflowId` that visibility lists, once it lists a closed one. */
async function closedRuns(sys: TestSystem, workflowId: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs: { runId: string; status: string }[] = [];
    for await (const wf of sys.temporal.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runs.push({ runId: wf.runId, status: wf.status.name });
    }
    if (runs.some((r) => r.status === "COMPLETED")) return runs;
    if (Date.now() > deadline) {
      throw new Error(
        `visibility never listed ${workflowId} as closed; saw ${JSON.stringify(runs)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
