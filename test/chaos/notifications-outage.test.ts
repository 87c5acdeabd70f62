/**
 * Notifications are best effort (docs/spec.md section 5.5) and cost the order's
 * workflow nothing: they wait in the read model's outbox, written with the
 * version they announce. With the notification service down, the order still
 * completes and its workflow closes at once; once the service is back, every
 * notification reaches the customer exactly once. (Giving up after the
 * bounded retries is covered in test/outbox.)
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, courier, waitForOrder } from "../support/watch.js";

describe("notification service down", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ refs: { faults: { notifications: { outage: true } } } });
  });
  afterAll(() => sys?.stop());

  it("completes the order and closes its workflow, then notifies once the service is back", async () => {
    const req = orderRequest();
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, req.orderId, 1);
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);

    const done = await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.COMPLETED);
    expect(done.fulfillments[0]?.status).toBe(FulfillmentStatus.DELIVERED);
    expect(done.fulfillments[0]?.payment?.status).toBe(PaymentStatus.CAPTURED);
    // The workflow closes without waiting for any notification, and never schedules one.
    const handle = sys.temporal.workflow.getHandle(orderWorkflowId(req.orderId));
    await handle.result();
    const history = (await handle.fetchHistory()).events ?? [];
    expect(
      history.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === "sendNotification",
      ),
    ).toEqual([]);
    expect(sys.refs.notifications.list({ orderId: req.orderId })).toEqual([]);
    // accepted, dispatched, delivered, completed: all waiting in the outbox.
    expect(await sys.api.store.countPendingOutbox()).toBe(4);

    sys.refs.faults.clear("notifications");
    // The dispatcher's backoff decides when it tries again (at most 20 s).
    const deadline = Date.now() + 40_000;
    while ((await sys.api.store.countPendingOutbox()) > 0 && Date.now() < deadline) {
      await sleep(100);
    }
    const sent = sys.refs.notifications.list({ orderId: req.orderId });
    expect(sent.map((n) => n.template).sort()).toEqual(
      ["ORDER_ACCEPTED", "SHIPMENT_DISPATCHED", "SHIPMENT_DELIVERED", "ORDER_COMPLETED"].sort(),
    );
    expect(await sys.api.store.countDeadLetters()).toBe(0);
  });
});
