import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { historyToJSON } from "@temporalio/common/lib/proto-utils.js";
import type { Order } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import type { TestSystem } from "./system.js";

/**
 * Waits, event-driven, for an order to reach a state: follows the order's
 * WatchOrder stream (no sleeps, no polling in the test) and resolves with the
 * first version that satisfies `predicate`. Fails if the stream ends first, or
 * after `timeoutMs` as a safety net against a hung test.
 */
export async function waitForOrder(
  sys: TestSystem,
  orderId: string,
  predicate: (order: Order) => boolean,
  timeoutMs = 45_000,
): Promise<Order> {
  const seen: string[] = [];
  for await (const res of sys.grpc.watchOrder(
    { orderId },
    { signal: AbortSignal.timeout(timeoutMs) },
  )) {
    const order = res.order as Order;
    seen.push(`v${order.version}:${order.status}`);
    if (predicate(order)) return order;
  }
  throw new Error(
    `order ${orderId} ended without reaching the expected state; saw ${seen.join(" → ")}`,
  );
}

/** Shipment ids of the order's fulfillments, once all are booked. */
export async function bookedShipments(
  sys: TestSystem,
  orderId: string,
  count: number,
): Promise<string[]> {
  const order = await waitForOrder(
    sys,
    orderId,
    (o) => o.fulfillments.length === count && o.fulfillments.every((f) => f.shipment?.shipmentId),
  );
  return order.fulfillments.map((f) => f.shipment?.shipmentId ?? "");
}

const FIXTURES = path.resolve(import.meta.dirname, "../fixtures/histories");

/**
 * With OMS_RECORD_HISTORIES=1 (npm run record-histories), saves the history
 * of an order's workflow as a replay fixture. Call it once the order's
 * workflow has closed.
 */
export async function recordHistories(
  sys: TestSystem,
  orderId: string,
  name: string,
): Promise<void> {
  if (process.env.OMS_RECORD_HISTORIES !== "1") return;
  const handle = await sys.startedWorkflow(orderId);
  await handle.result().catch(() => undefined);
  mkdirSync(FIXTURES, { recursive: true });
  writeFileSync(
    path.join(FIXTURES, `${name}.order.json`),
    historyToJSON(await handle.fetchHistory()),
  );
}

/**
 * The order once its workflow has ended, as GetOrder returns it. The
 * workflow may not exist yet right after SubmitOrder (it starts after the
 * answer is written), so this waits for the API's start first.
 */
export async function finishedOrder(sys: TestSystem, orderId: string): Promise<Order> {
  await (await sys.startedWorkflow(orderId)).result();
  return (await sys.grpc.getOrder({ orderId })).order as Order;
}

/** Plays the courier: reports `event` for every shipment, one after the other. */
export async function courier(
  sys: TestSystem,
  shipments: readonly string[],
  event: ShipmentEvent.DISPATCHED | ShipmentEvent.DELIVERED,
): Promise<void> {
  for (const shipmentId of shipments) {
    await sys.shipments.reportShipmentEvent({ shipmentId, event });
  }
}

/** The same, as a courier that echoes the booking's reference (fulfillment id) does. */
export async function courierWithReference(
  sys: TestSystem,
  order: Order,
  event: ShipmentEvent.DISPATCHED | ShipmentEvent.DELIVERED,
): Promise<void> {
  for (const f of order.fulfillments) {
    const shipmentId = f.shipment?.shipmentId ?? "";
    await sys.shipments.reportShipmentEvent({ shipmentId, fulfillmentId: f.fulfillmentId, event });
  }
}

/** Plays the courier for all `count` fulfillments once booked (DISPATCHED, then DELIVERED); the order as it ended. */
export async function shipAndDeliverAll(
  sys: TestSystem,
  orderId: string,
  count: number,
): Promise<Order> {
  const shipments = await bookedShipments(sys, orderId, count);
  for (const event of [ShipmentEvent.DISPATCHED, ShipmentEvent.DELIVERED]) {
    for (const shipmentId of shipments) {
      await sys.shipments.reportShipmentEvent({ shipmentId, event });
    }
  }
  return finishedOrder(sys, orderId);
}
