/**
 * Re-sourcing end to end (real API, dev server, worker, reference
 * services): a warehouse that rejects its fulfillments (set through
 * faults.v1.FaultService) gets its lines moved to another warehouse with
 * stock, once cleanly and once while inventory and payments lose half their
 * responses; stock is released at the first warehouse and held at the
 * second, and the ledger shows exactly one authorization and void for the
 * rejected fulfillment and one authorization and capture for its successor.
 */
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FaultService, TargetService } from "../../gen/faults/v1/fault_service_pb.js";
import { FulfillmentStatus, OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { fulfillmentId, orderWorkflowId } from "../../src/domain/ids.js";
import { createSeededRandom } from "../../src/reference-services/faults/seeded-random.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  courier,
  finishedOrder as finished,
  recordHistories,
  waitForOrder,
} from "../support/watch.js";

describe("re-sourcing a rejected fulfillment, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ refs: { random: createSeededRandom(12) } });
  });
  afterEach(() => sys?.refs.faults.clear());
  afterAll(() => sys?.stop());

  const faults = () => createClient(FaultService, createGrpcTransport({ baseUrl: sys.refs.url }));
  /** MUG-CLASSIC is stocked in every warehouse; wh-east comes first. */
  const mugs = () =>
    orderRequest({ items: [{ sku: "MUG-CLASSIC", quantity: 2, unitPriceMinor: 1200n }] });
  const ledger = (orderId: string) => {
    const out: Record<string, string[]> = {};
    for (const e of sys.refs.payments.ledger({ orderId })) {
      out[e.fulfillmentId] = [
        ...(out[e.fulfillmentId] ?? []),
        `${e.operation} ${e.idempotencyKey}`,
      ];
    }
    return out;
  };

  /** Submits, waits for the re-sourced fulfillment's booking, plays the courier; the order as it ended. */
  const resourcedOrder = async () => {
    const req = mugs();
    const { orderId } = req;
    const stock = (w: string) => sys.refs.inventory.available(w, "MUG-CLASSIC");
    const before = { east: stock("wh-east"), west: stock("wh-west") };
    await sys.grpc.submitOrder(req);
    const order = await waitForOrder(
      sys,
      orderId,
      (o) =>
        o.fulfillments[1]?.status === FulfillmentStatus.BOOKED &&
        o.fulfillments[0]?.status === FulfillmentStatus.CANCELLED,
    );
    // The stock moved: back at wh-east, held at wh-west.
    expect(sys.refs.inventory.heldBy(orderId)).toEqual([
      { warehouseId: "wh-west", lines: [{ sku: "MUG-CLASSIC", quantity: 2 }] },
    ]);
    expect({ east: stock("wh-east"), west: stock("wh-west") }).toEqual({
      east: before.east,
      west: before.west - 2,
    });
    const shipmentId = order.fulfillments[1]?.shipment?.shipmentId as string;
    await courier(sys, [shipmentId], ShipmentEvent.DISPATCHED);
    await courier(sys, [shipmentId], ShipmentEvent.DELIVERED);
    return finished(sys, orderId);
  };

  const expectResourced = async (orderId: string) => {
    const [first, second] = [fulfillmentId(orderId, 1), fulfillmentId(orderId, 2)];
    const done = await finished(sys, orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(
      done.fulfillments.map((f) => [f.fulfillmentId, f.warehouseId, FulfillmentStatus[f.status]]),
    ).toEqual([
      [first, "wh-east", "CANCELLED"],
      [second, "wh-west", "DELIVERED"],
    ]);
    expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.VOIDED);
    expect(done.fulfillments[1]?.payment?.status).toBe(PaymentStatus.CAPTURED);
    expect(done.amounts).toEqual(done.fulfillments[1]?.amounts);
    expect(ledger(orderId)).toEqual({
      [first]: [`AUTHORIZE ${first}:authorize`, `VOID ${first}:void`],
      [second]: [`AUTHORIZE ${second}:authorize`, `CAPTURE ${second}:capture`],
    });
    const timeline = (await sys.grpc.getOrderHistory({ orderId })).events.map((e) => e.reason);
    expect(timeline).toContain(
      `${first} (wh-east) re-sourced (attempt 1 of 2): shipping: warehouse "wh-east" rejected the fulfillment (injected); 2 x MUG-CLASSIC now from ${second} (wh-west)`,
    );
  };

  it("moves the lines of a fulfillment wh-east rejects to wh-west", async () => {
    await faults().setFaults({
      target: TargetService.SHIPPING,
      faults: { rejectWarehouseIds: ["wh-east"] },
    });
    expect(
      (await faults().getFaults({ target: TargetService.SHIPPING })).faults?.rejectWarehouseIds,
    ).toEqual(["wh-east"]);
    const done = await resourcedOrder();
    await expectResourced(done.orderId);
    await recordHistories(sys, done.orderId, "resourced-warehouse-rejected");
  });

  it("moves them exactly once while inventory and payments lose half their responses", async () => {
    sys.refs.faults.set("shipping", { rejectWarehouseIds: ["wh-east"] });
    sys.refs.faults.set("inventory", { loseResponseRate: 0.5 });
    sys.refs.faults.set("payments", { loseResponseRate: 0.5 });
    const done = await resourcedOrder();
    await expectResourced(done.orderId);
    // Responses were lost: some activities were retried (and changed nothing twice).
    const history = await sys.temporal.workflow
      .getHandle(orderWorkflowId(done.orderId))
      .fetchHistory();
    const retried = (history.events ?? []).filter(
      (e) => (e.activityTaskStartedEventAttributes?.attempt ?? 0) > 1,
    );
    expect(retried.length).toBeGreaterThan(0);
  });
});
