/**
 * What the end-to-end tests of order edits share: an order held with its
 * fulfillments authorized (so edits find them before the booking), and the
 * payments ledger per fulfillment.
 */
import { HoldType } from "../../gen/oms/v1/order_operations_pb.js";
import { OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { twoWarehouses } from "./orders.js";
import type { TestSystem } from "./system.js";
import { waitForOrder } from "./watch.js";

/** Ledger operations with amounts ("AUTHORIZE 3199"), per fulfillment, in order. */
export function ledgerByFulfillment(sys: TestSystem, orderId: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of sys.refs.payments.ledger({ orderId })) {
    out[e.fulfillmentId] = [...(out[e.fulfillmentId] ?? []), `${e.operation} ${e.amountMinor}`];
  }
  return out;
}

/**
 * A two-warehouse order authorized and held before booking: the hold is
 * placed while its authorizations are in flight (payments slowed down).
 */
export async function authorizedAndHeld(sys: TestSystem) {
  sys.refs.faults.set("payments", { addedLatencyMs: 500 });
  const req = twoWarehouses();
  await sys.grpc.submitOrder(req);
  await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
  await sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.MANUAL, reason: "edit" });
  const order = await waitForOrder(sys, req.orderId, (o) =>
    o.fulfillments.every((f) => f.payment?.status === PaymentStatus.AUTHORIZED),
  );
  sys.refs.faults.clear("payments");
  return { orderId: req.orderId, order };
}
