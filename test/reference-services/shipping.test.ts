import { Code } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ShipmentStatus } from "../../gen/shipping/v1/shipping_service_pb.js";
import type { ShipmentEventReport } from "../../src/reference-services/shipping/simulated-courier.js";
import { failureReason } from "../support/failure.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

const address = {
  name: "Ada Lovelace",
  line1: "12 St James's Square",
  city: "London",
  postalCode: "SW1Y 4JH",
  countryCode: "GB",
};

function bookRequest(h: Harness, overrides: { idempotencyKey?: string; orderId?: string } = {}) {
  const orderId = overrides.orderId ?? uniqueId("order");
  return h.shipping.bookShipment({
    idempotencyKey: overrides.idempotencyKey ?? uniqueId("key"),
    orderId,
    fulfillmentId: `${orderId}/1`,
    warehouseId: "wh-east",
    address,
    items: [{ sku: "MUG-CLASSIC", quantity: 2 }],
  });
}

describe("booking and cancelling (no courier)", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.stop();
  });

  it("books a shipment once per idempotency key", async () => {
    const idempotencyKey = uniqueId("key");
    const orderId = uniqueId("order");
    const first = await bookRequest(h, { idempotencyKey, orderId });
    expect(first.shipmentId).toMatch(/^shp_/);
    expect(first.courierReference).not.toBe("");
    expect(first.shipment).toMatchObject({
      status: ShipmentStatus.BOOKED,
      orderId,
      warehouseId: "wh-east",
      address: { city: "London", countryCode: "GB" },
      items: [{ sku: "MUG-CLASSIC", quantity: 2 }],
    });
    const again = await bookRequest(h, { idempotencyKey, orderId });
    expect(again).toEqual(first);
    expect(h.services.shipping.list({ orderId })).toHaveLength(1);
    const got = await h.shipping.getShipment({ shipmentId: first.shipmentId });
    expect(got.shipment?.status).toBe(ShipmentStatus.BOOKED);
  });

  it("cancels a booked shipment; cancelling again returns it", async () => {
    const { shipmentId } = await bookRequest(h);
    const cancelled = await h.shipping.cancelShipment({
      idempotencyKey: uniqueId("key"),
      shipmentId,
    });
    expect(cancelled.shipment?.status).toBe(ShipmentStatus.CANCELLED);
    expect(cancelled.shipment?.cancelTime).toBeDefined();
    const again = await h.shipping.cancelShipment({ idempotencyKey: uniqueId("key"), shipmentId });
    expect(again.shipment?.status).toBe(ShipmentStatus.CANCELLED);
  });

  it("refuses to cancel once dispatched, with FAILED_PRECONDITION", async () => {
    const { shipmentId } = await bookRequest(h);
    h.services.shipping.dispatch(shipmentId);
    expect(
      await failureReason(
        h.shipping.cancelShipment({ idempotencyKey: uniqueId("key"), shipmentId }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "ALREADY_DISPATCHED" });
    h.services.shipping.deliver(shipmentId);
    expect(
      await failureReason(
        h.shipping.cancelShipment({ idempotencyKey: uniqueId("key"), shipmentId }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "ALREADY_DISPATCHED" });
  });

  it("answers NOT_FOUND for an unknown shipment and INVALID_ARGUMENT without an address", async () => {
    expect(
      await failureReason(
        h.shipping.cancelShipment({ idempotencyKey: uniqueId("key"), shipmentId: "shp_x" }),
      ),
    ).toEqual({ code: Code.NotFound, reason: "SHIPMENT_NOT_FOUND" });
    const noAddress = h.shipping.bookShipment({
      idempotencyKey: uniqueId("key"),
      orderId: "o",
      fulfillmentId: "o/1",
      warehouseId: "wh-east",
      items: [{ sku: "MUG-CLASSIC", quantity: 1 }],
    });
    expect((await failureReason(noAddress)).code).toBe(Code.InvalidArgument);
  });
});

describe("simulated courier", () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  /** Collects reported events and resolves waiters when a shipment's event arrives. */
  function createEventLog() {
    const events: ShipmentEventReport[] = [];
    const waiters: { match: (e: ShipmentEventReport) => boolean; resolve: () => void }[] = [];
    return {
      events,
      record(event: ShipmentEventReport) {
        events.push(event);
        for (const w of waiters.filter((w) => w.match(event))) w.resolve();
      },
      /** Resolves once `event` was reported for `shipmentId` (at once if it already was). */
      waitFor(shipmentId: string, event: ShipmentEventReport["event"]): Promise<void> {
        const match = (e: ShipmentEventReport) => e.shipmentId === shipmentId && e.event === event;
        if (events.some(match)) return Promise.resolve();
        return new Promise((resolve) => waiters.push({ match, resolve }));
      },
    };
  }

  it("reports DISPATCHED, then DELIVERED, and moves the shipment along", async () => {
    const log = createEventLog();
    h = await startHarness({
      simulatedCourier: {
        dispatchDelayMs: 20,
        deliverDelayMs: 30,
        reportEvent: async (event) => log.record(event),
      },
    });
    const { shipmentId } = await bookRequest(h);
    await log.waitFor(shipmentId, "DELIVERED");

    expect(log.events.map((e) => e.event)).toEqual(["DISPATCHED", "DELIVERED"]);
    const [dispatched, delivered] = log.events;
    expect(delivered?.occurredAt.getTime()).toBeGreaterThanOrEqual(
      (dispatched?.occurredAt.getTime() ?? 0) + 30,
    );
    const { shipment } = await h.shipping.getShipment({ shipmentId });
    expect(shipment?.status).toBe(ShipmentStatus.DELIVERED);
    expect(shipment?.dispatchTime).toBeDefined();
    expect(shipment?.deliveryTime).toBeDefined();
  });

  it("does not dispatch a cancelled shipment", async () => {
    const log = createEventLog();
    h = await startHarness({
      simulatedCourier: {
        // Long enough for the cancel to arrive first on a loaded machine.
        dispatchDelayMs: 1_000,
        deliverDelayMs: 1,
        reportEvent: async (event) => log.record(event),
      },
    });
    const cancelled = await bookRequest(h);
    await h.shipping.cancelShipment({
      idempotencyKey: uniqueId("key"),
      shipmentId: cancelled.shipmentId,
    });
    // Booked after the cancelled one with the same delays: once it is
    // dispatched, the cancelled one's pickup time has passed too.
    const witness = await bookRequest(h);
    await log.waitFor(witness.shipmentId, "DISPATCHED");

    expect(log.events.filter((e) => e.shipmentId === cancelled.shipmentId)).toEqual([]);
    expect(h.services.shipping.get(cancelled.shipmentId)?.status).toBe("CANCELLED");
  });

  it("retries a failed report, and reports DELIVERED only after DISPATCHED got through", async () => {
    const log = createEventLog();
    let failuresLeft = 3;
    h = await startHarness({
      simulatedCourier: {
        dispatchDelayMs: 5,
        deliverDelayMs: 5,
        retryDelayMs: 5,
        reportEvent: async (event) => {
          if (failuresLeft-- > 0) throw new Error("OMS unavailable");
          log.record(event);
        },
      },
      logger: pino({ level: "silent" }),
    });
    const { shipmentId } = await bookRequest(h);
    await log.waitFor(shipmentId, "DELIVERED");
    expect(log.events.map((e) => e.event)).toEqual(["DISPATCHED", "DELIVERED"]);
  });
});
