/**
 * UpdateShippingAddress in the order workflow (time-skipping test server,
 * mocked activities): accepted before any courier booking and used by it,
 * refused once a booking is recorded or in flight (naming the fulfillments),
 * refused for a stale expected_version.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Address } from "../../src/domain/order.js";
import {
  cancelOrderUpdate,
  getOrderQuery,
  updateShippingAddressUpdate,
} from "../../src/workflows/messages.js";
import {
  booked,
  expectConsistentSnapshots,
  gatedMocks,
  ONE_WAREHOUSE,
  type OrderHandle,
  refusal,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  withOrder,
} from "./harness.js";

const NEW_ADDRESS: Address = {
  name: "Charles Babbage",
  line1: "1 Dorset Street",
  line2: "",
  city: "London",
  region: "",
  postalCode: "W1U 4EG",
  countryCode: "GB",
};

const move = (handle: OrderHandle, expectedVersion = 0) =>
  handle.executeUpdate(updateShippingAddressUpdate, {
    args: [{ address: NEW_ADDRESS, expectedVersion, reason: "moved", requestedBy: "customer" }],
  });

describe("UpdateShippingAddress in the order workflow (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  it("changes the address before booking; the booking uses the new one", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    const { result, orderId } = await withOrder(
      env,
      mocks.activities,
      { items: ONE_WAREHOUSE },
      async (handle, id) => {
        await authorizing.reached;
        const current = await handle.query(getOrderQuery);
        const moved = await move(handle, current.version);
        expect(moved.shippingAddress).toEqual(NEW_ADDRESS);
        expect(moved.version).toBe(current.version + 1);
        authorizing.open();
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return { result: await handle.result(), orderId: id };
      },
    );
    expect(result.status).toBe("COMPLETED");
    expect(mocks.inputsOf("bookShipment")).toEqual([
      expect.objectContaining({ fulfillmentId: `${orderId}/1`, address: NEW_ADDRESS }),
    ]);
    expect(
      mocks.snapshots.flatMap((s) => s.entries).find((e) => e.reason.startsWith("shipping")),
    ).toMatchObject({
      actor: "customer",
      reason: "shipping address changed to 1 Dorset Street, London, GB: moved",
    });
    expectConsistentSnapshots(mocks, result);
  });

  it("refuses a stale expected_version, and changes nothing", async () => {
    const { gate: authorizing, mocks } = gatedMocks("authorizePayment");
    await withOrder(env, mocks.activities, { items: ONE_WAREHOUSE }, async (handle) => {
      await authorizing.reached;
      const current = await handle.query(getOrderQuery);
      expect(await refusal(move(handle, current.version - 1))).toMatchObject({
        type: "ORDER_VERSION_MISMATCH",
        metadata: { current_version: String(current.version) },
      });
      expect((await handle.query(getOrderQuery)).version).toBe(current.version);
      authorizing.open();
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "done", requestedBy: "test" }],
      });
      await handle.result();
    });
  });

  it("refuses once a fulfillment is booked, and while its booking is in flight, naming it", async () => {
    const { gate: booking, mocks } = gatedMocks("bookShipment");
    await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await booking.reached;
      // The booking was asked for with the old address: refused while in flight.
      const inFlight = await refusal(move(handle));
      expect(inFlight.type).toBe("FULFILLMENT_ALREADY_BOOKED");
      expect(inFlight.message).toMatch(new RegExp(`${id}/1|${id}/2`));
      booking.open();
      await mocks.saved(booked(`${id}/1`, `${id}/2`));
      expect(await refusal(move(handle))).toEqual({
        type: "FULFILLMENT_ALREADY_BOOKED",
        message: `the shipping address can no longer change: fulfillment(s) ${id}/1, ${id}/2 are booked with the courier`,
        metadata: { fulfillment_ids: `${id}/1,${id}/2` },
      });
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "done", requestedBy: "test" }],
      });
      await handle.result();
    });
  });
});
