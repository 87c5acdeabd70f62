/**
 * UpdateShippingAddress end to end (real API, dev server, reference
 * services): accepted before booking with the order's version, ABORTED for a
 * stale one, FAILED_PRECONDITION naming the booked fulfillments after, and
 * the race of an edit with the courier booking.
 */
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HoldType } from "../../gen/oms/v1/order_operations_pb.js";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { ledgerByFulfillment } from "../chaos/observe.js";
import { errorInfoOf, failure } from "../support/failure.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  bookedShipments,
  courier,
  finishedOrder,
  recordHistories,
  waitForOrder,
} from "../support/watch.js";

const NEW_ADDRESS = {
  name: "Charles Babbage",
  line1: "1 Dorset Street",
  city: "London",
  postalCode: "W1U 4EG",
  countryCode: "GB",
};

describe("UpdateShippingAddress, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());
  afterEach(() => sys?.refs.faults.clear());

  const bookedAddresses = (orderId: string) =>
    sys.refs.shipping.list({ orderId }).map((s) => s.address.line1);

  it("changes the address of a held order; refuses a stale version, then any change once booked", async () => {
    const req = twoWarehouses();
    await sys.grpc.submitOrder(req);
    await sys.grpc.placeHold({ orderId: req.orderId, type: HoldType.ADDRESS_VERIFICATION });
    const held = await waitForOrder(sys, req.orderId, (o) => o.fulfillments.length === 2);

    const stale = await failure(
      sys.grpc.updateShippingAddress({
        orderId: req.orderId,
        shippingAddress: NEW_ADDRESS,
        expectedVersion: held.version - 1n,
      }),
    );
    expect(stale.code).toBe(Code.Aborted);
    expect(errorInfoOf(stale)?.reason).toBe("ORDER_VERSION_MISMATCH");
    expect(errorInfoOf(stale)?.metadata.current_version).toBe(String(held.version));

    const moved = await sys.grpc.updateShippingAddress({
      orderId: req.orderId,
      shippingAddress: NEW_ADDRESS,
      expectedVersion: held.version,
      reason: "verified with the customer",
    });
    expect(moved.order?.shippingAddress?.line1).toBe("1 Dorset Street");
    expect(moved.order?.version).toBe(held.version + 1n);

    await sys.grpc.releaseHold({ orderId: req.orderId, holdId: "hold-1", reason: "verified" });
    const shipments = await bookedShipments(sys, req.orderId, 2);
    expect(bookedAddresses(req.orderId)).toEqual(["1 Dorset Street", "1 Dorset Street"]);

    const late = await failure(
      sys.grpc.updateShippingAddress({ orderId: req.orderId, shippingAddress: NEW_ADDRESS }),
    );
    expect(late.code).toBe(Code.FailedPrecondition);
    expect(errorInfoOf(late)?.reason).toBe("FULFILLMENT_ALREADY_BOOKED");
    expect(errorInfoOf(late)?.metadata.fulfillment_ids?.split(",").sort()).toEqual([
      `${req.orderId}/1`,
      `${req.orderId}/2`,
    ]);
    expect(late.rawMessage).toMatch(/booked with the courier/);

    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);
    const done = await finishedOrder(sys, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => e.reason)).toContain(
      "shipping address changed to 1 Dorset Street, London, GB: verified with the customer",
    );
    expect(Object.values(ledgerByFulfillment(sys, req.orderId))).toEqual([
      ["AUTHORIZE", "CAPTURE"],
      ["AUTHORIZE", "CAPTURE"],
    ]);
    const ended = await failure(
      sys.grpc.updateShippingAddress({ orderId: req.orderId, shippingAddress: NEW_ADDRESS }),
    );
    expect(errorInfoOf(ended)?.reason).toBe("ORDER_NOT_EDITABLE");
    await recordHistories(sys, req.orderId, "address-updated");
  });

  it("an edit racing the courier booking either reaches every booking or none", async () => {
    // Slow bookings widen the window in which the edit can meet one in flight.
    sys.refs.faults.set("shipping", { addedLatencyMs: 300 });
    for (let round = 0; round < 3; round++) {
      const req = twoWarehouses();
      await sys.grpc.submitOrder(req);
      await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
      const outcome = await sys.grpc
        .updateShippingAddress({ orderId: req.orderId, shippingAddress: NEW_ADDRESS })
        .then(
          () => "accepted",
          (err: ConnectError) => errorInfoOf(err)?.reason,
        );
      await bookedShipments(sys, req.orderId, 2);
      const addresses = bookedAddresses(req.orderId);
      if (outcome === "accepted") {
        expect(addresses).toEqual(["1 Dorset Street", "1 Dorset Street"]);
      } else {
        expect(outcome).toBe("FULFILLMENT_ALREADY_BOOKED");
        // Refused: every booking keeps the old address, never a mix.
        expect(addresses).toEqual(["12 Analytical Row", "12 Analytical Row"]);
      }
      await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "done" });
      await finishedOrder(sys, req.orderId);
    }
  });
});
