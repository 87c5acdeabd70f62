/**
 * UpdateOrderItems in the order workflow (time-skipping test server, mocked
 * activities with their real types): increases and new lines reserved in the
 * order's own warehouses under the edit's key, decreases released, removed
 * fulfillments compensated, re-priced, re-authorized for a higher total once
 * (old authorization voided once); refusals; the booking that races an edit
 * carries the edited lines.
 */
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReserveInventoryInput } from "../../src/activities/index.js";
import type { EditedLine } from "../../src/domain/item-edits.js";
import {
  cancelOrderUpdate,
  getOrderQuery,
  placeHoldUpdate,
  releaseHoldUpdate,
  updateOrderItemsUpdate,
} from "../../src/workflows/messages.js";
import {
  allocate,
  booked,
  expectConsistentSnapshots,
  type Gate,
  gate,
  type Mocks,
  mockActivities,
  type OrderHandle,
  refusal,
  shipAndDeliver,
  startTimeSkippingEnvironment,
  timeline,
  withOrder,
} from "./harness.js";

const editItems = (handle: OrderHandle, lines: EditedLine[], expectedVersion = 0) =>
  handle.executeUpdate(updateOrderItemsUpdate, {
    args: [{ lines, expectedVersion, reason: "customer call", requestedBy: "agent" }],
  });
const line = (sku: string, quantity: number, unitPriceMinor = 0): EditedLine => ({
  sku,
  quantity,
  unitPriceMinor,
});
const placeHold = (handle: OrderHandle) =>
  handle.executeUpdate(placeHoldUpdate, {
    args: [{ type: "MANUAL", reason: "edit", requestedBy: "ops" }],
  });
const releaseHold = (handle: OrderHandle) =>
  handle.executeUpdate(releaseHoldUpdate, {
    args: [{ holdId: "hold-1", reason: "edited", requestedBy: "ops" }],
  });

/** Allocation like the reference catalog, but only from the warehouses an edit allows. */
function allocateWithin(input: ReserveInventoryInput) {
  const plan = allocate(input.items);
  const allowed = input.edit?.warehouseIds;
  if (allowed === undefined) return plan;
  return {
    allocations: plan.allocations.filter((a) => allowed.includes(a.warehouseId)),
    unavailable: [
      ...plan.unavailable,
      ...plan.allocations.filter((a) => !allowed.includes(a.warehouseId)).flatMap((a) => a.items),
    ],
  };
}

/**
 * Mocks whose first reservation (the order's), the order's own
 * authorizations and an edit's reservation wait at gates when given; an
 * edit's authorization gets its own id.
 */
function editMocks(
  gated: { reserve?: Gate; authorize?: Gate; editReserve?: Gate },
  declineEdits = false,
): Mocks {
  let reserves = 0;
  return mockActivities({
    async reserveInventory(input) {
      reserves += 1;
      if (reserves === 1) await gated.reserve?.pass();
      if (input.edit !== undefined) await gated.editReserve?.pass();
      return allocateWithin(input);
    },
    async authorizePayment(input) {
      if (input.edit === undefined) await gated.authorize?.pass();
      if (input.edit !== undefined && declineEdits) {
        return {
          approved: false,
          authorizationId: `declined-${input.fulfillmentId}`,
          declineReason: "card declined",
        };
      }
      return {
        approved: true,
        authorizationId: `auth-${input.fulfillmentId}${input.edit ? `-${input.edit}` : ""}`,
      };
    },
  });
}

/** The order authorized and held before booking: its authorizations were in flight when the hold came. */
async function authorizedAndHeld(handle: OrderHandle, mocks: Mocks, authorizing: Gate) {
  await authorizing.reached;
  await placeHold(handle);
  authorizing.open();
  return mocks.saved((s) => s.order.fulfillments.every((f) => f.status === "AUTHORIZED"));
}

describe("UpdateOrderItems in the order workflow (virtual time, mocked activities)", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await startTimeSkippingEnvironment();
  });
  afterAll(() => env?.teardown());

  it("before authorization (on hold): an increase and a new line reserved in the order's warehouse, a removed line's fulfillment withdrawn; authorized at the new total", async () => {
    const reserving = gate();
    const mocks = editMocks({ reserve: reserving });
    const { result, orderId, edited } = await withOrder(
      env,
      mocks.activities,
      {},
      async (handle, id) => {
        await reserving.reached;
        await placeHold(handle);
        reserving.open();
        await mocks.saved((s) => s.order.fulfillments.length === 2);
        const edited = await editItems(handle, [
          line("SKU-100", 3),
          line("KEYBOARD-MX", 0),
          line("MUG-CLASSIC", 2, 1000),
        ]);
        await mocks.saved((s) => s.order.fulfillments[1]?.status === "CANCELLED");
        await releaseHold(handle);
        await shipAndDeliver(handle, mocks, `${id}/1`);
        return { result: await handle.result(), orderId: id, edited };
      },
    );
    const [east, west] = [`${orderId}/1`, `${orderId}/2`];
    expect(mocks.inputsOf("reserveInventory")[1]).toEqual({
      orderId,
      items: [
        { sku: "SKU-100", quantity: 1, unitPriceMinor: 1250 },
        { sku: "MUG-CLASSIC", quantity: 2, unitPriceMinor: 1000 },
      ],
      edit: { editId: "items-edit-1", warehouseIds: ["wh-east"] },
    });
    const eastItems = [
      { sku: "SKU-100", quantity: 3, unitPriceMinor: 1250 },
      { sku: "MUG-CLASSIC", quantity: 2, unitPriceMinor: 1000 },
    ];
    // 3750 + 2000 = 5750, 8% tax 460, shipping 499.
    expect(edited.fulfillments[0]).toMatchObject({
      items: eastItems,
      amounts: { totalMinor: 6709 },
    });
    expect(edited.fulfillments[1]).toMatchObject({ items: [], amounts: { totalMinor: 0 } });
    expect(edited.amounts.totalMinor).toBe(6709);
    expect(edited.items).toEqual(eastItems);
    expect(result.status).toBe("COMPLETED");
    expect(result.fulfillments[1]?.status).toBe("CANCELLED");
    // Nothing was authorized before the edit: one authorization, at the new total.
    expect(mocks.inputsOf("authorizePayment")).toEqual([
      expect.objectContaining({ fulfillmentId: east, amountMinor: 6709 }),
    ]);
    expect(mocks.inputsOf("bookShipment").map((b) => b.items)).toEqual([eastItems]);
    expect(mocks.inputsOf("capturePayment")).toEqual([
      { fulfillmentId: east, authorizationId: `auth-${east}`, amountMinor: 6709 },
    ]);
    expect(mocks.inputsOf("releaseInventory")).toEqual([{ orderId, warehouseId: "wh-west" }]);
    expect(mocks.inputsOf("bookShipment").map((b) => b.fulfillmentId)).not.toContain(west);
    expect(timeline(mocks), timeline(mocks).join("\n")).toContain(
      `PROCESSING: items changed: SKU-100 2 → 3, KEYBOARD-MX 1 → 0, MUG-CLASSIC 0 → 2; new totals: ${east} 6709, ${west} 0: customer call`,
    );
    expectConsistentSnapshots(mocks, result);
  });

  it("after authorization: an increase re-authorizes for the new total and voids the old, once; a decrease releases and lowers the capture", async () => {
    const authorizing = gate();
    const mocks = editMocks({ authorize: authorizing });
    const { result, orderId, raised, lowered } = await withOrder(
      env,
      mocks.activities,
      {},
      async (handle, id) => {
        await authorizedAndHeld(handle, mocks, authorizing);
        const raised = await editItems(handle, [line("SKU-100", 4), line("KEYBOARD-MX", 1)]);
        const lowered = await editItems(
          handle,
          [line("SKU-100", 1), line("KEYBOARD-MX", 1)],
          raised.version,
        );
        await releaseHold(handle);
        await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
        return { result: await handle.result(), orderId: id, raised, lowered };
      },
    );
    const east = `${orderId}/1`;
    // 5000 + 400 + 499.
    expect(raised.fulfillments[0]?.payment).toMatchObject({
      authorizationId: `auth-${east}-items-edit-1`,
      authorizedMinor: 5899,
    });
    expect(mocks.inputsOf("authorizePayment").filter((a) => a.fulfillmentId === east)).toEqual([
      expect.objectContaining({ amountMinor: 3199 }),
      expect.objectContaining({ amountMinor: 5899, edit: "items-edit-1" }),
    ]);
    expect(mocks.inputsOf("voidPayment")).toEqual([
      { fulfillmentId: east, authorizationId: `auth-${east}`, edit: "items-edit-1" },
    ]);
    expect(mocks.inputsOf("reserveInventory")[1]?.edit).toEqual({
      editId: "items-edit-1",
      warehouseIds: ["wh-east", "wh-west"],
    });
    // The decrease: stock back under the second edit's key, no payment call, a lower capture.
    expect(lowered.fulfillments[0]?.amounts.totalMinor).toBe(1849);
    expect(mocks.inputsOf("releaseInventory")).toEqual([
      {
        orderId,
        warehouseId: "wh-east",
        partial: { cancellationId: "items-edit-2", lines: [{ sku: "SKU-100", quantity: 3 }] },
      },
    ]);
    expect(mocks.inputsOf("capturePayment")).toContainEqual({
      fulfillmentId: east,
      authorizationId: `auth-${east}-items-edit-1`,
      amountMinor: 1849,
    });
    expect(mocks.inputsOf("bookShipment").find((b) => b.fulfillmentId === east)?.items).toEqual([
      { sku: "SKU-100", quantity: 1, unitPriceMinor: 1250 },
    ]);
    expect(result.status).toBe("COMPLETED");
    expect(
      timeline(mocks).some((e) =>
        e.includes(`re-authorized: auth-${east}-items-edit-1 replaces auth-${east}`),
      ),
    ).toBe(true);
    expectConsistentSnapshots(mocks, result);
  });

  it("a booking racing an edit waits for it and carries the edited lines", async () => {
    const authorizing = gate();
    const editReserving = gate();
    const mocks = editMocks({ authorize: authorizing, editReserve: editReserving });
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await authorizedAndHeld(handle, mocks, authorizing);
      const edit = editItems(handle, [line("SKU-100", 3), line("KEYBOARD-MX", 1)]);
      await editReserving.reached;
      // The hold goes while the edit is reserving: the bookings wait for it.
      await releaseHold(handle);
      expect(mocks.inputsOf("bookShipment").map((b) => b.fulfillmentId)).not.toContain(`${id}/1`);
      editReserving.open();
      await edit;
      await shipAndDeliver(handle, mocks, `${id}/1`, `${id}/2`);
      return { result: await handle.result(), orderId: id };
    });
    const east = `${orderId}/1`;
    expect(mocks.inputsOf("bookShipment").find((b) => b.fulfillmentId === east)?.items).toEqual([
      { sku: "SKU-100", quantity: 3, unitPriceMinor: 1250 },
    ]);
    expect(result.fulfillments[0]?.payment).toMatchObject({
      authorizationId: `auth-${east}-items-edit-1`,
      capturedMinor: 4549,
    });
    expectConsistentSnapshots(mocks, result);
  });

  it("a declined authorization of the new total undoes the edit: the reservation released, nothing changed", async () => {
    const authorizing = gate();
    const mocks = editMocks({ authorize: authorizing }, true);
    const { orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      const ready = await authorizedAndHeld(handle, mocks, authorizing);
      expect(
        await refusal(editItems(handle, [line("SKU-100", 4), line("KEYBOARD-MX", 1)])),
      ).toMatchObject({
        type: "EDIT_PAYMENT_DECLINED",
        message: "the new total could not be authorized: card declined; nothing changed",
      });
      const after = await handle.query(getOrderQuery);
      expect(after.version).toBe(ready.order.version);
      expect(after.fulfillments).toEqual(ready.order.fulfillments);
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "done", requestedBy: "test" }],
      });
      await handle.result();
      return { orderId: id };
    });
    expect(mocks.inputsOf("releaseInventory")[0]).toEqual({
      orderId,
      warehouseId: "wh-east",
      partial: { cancellationId: "items-edit-1-undo", lines: [{ sku: "SKU-100", quantity: 2 }] },
    });
    // Only the order's own authorizations are voided (at its cancellation), none with the edit's key.
    expect(mocks.inputsOf("voidPayment").filter((v) => v.edit !== undefined)).toEqual([]);
  });

  it("a cancellation while an edit is reserving waits for it; the edit gives back what it reserved, then everything is compensated", async () => {
    const authorizing = gate();
    const editReserving = gate();
    const mocks = editMocks({ authorize: authorizing, editReserve: editReserving });
    const { result, orderId } = await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await authorizedAndHeld(handle, mocks, authorizing);
      const edit = refusal(editItems(handle, [line("SKU-100", 3), line("KEYBOARD-MX", 1)]));
      await editReserving.reached;
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "changed my mind", requestedBy: "customer" }],
      });
      // The compensation of the held fulfillments waits for the edit.
      expect(mocks.inputsOf("voidPayment")).toEqual([]);
      editReserving.open();
      expect((await edit).type).toBe("ORDER_NOT_EDITABLE");
      return { result: await handle.result(), orderId: id };
    });
    expect(result.status).toBe("CANCELLED");
    expect(mocks.inputsOf("authorizePayment").filter((a) => a.edit !== undefined)).toEqual([]);
    expect(mocks.inputsOf("releaseInventory")).toEqual(
      expect.arrayContaining([
        {
          orderId,
          warehouseId: "wh-east",
          partial: {
            cancellationId: "items-edit-1-undo",
            lines: [{ sku: "SKU-100", quantity: 1 }],
          },
        },
        { orderId, warehouseId: "wh-east" },
        { orderId, warehouseId: "wh-west" },
      ]),
    );
    expect(mocks.inputsOf("voidPayment")).toHaveLength(2);
    expectConsistentSnapshots(mocks, result);
  });

  it("refuses: while authorizing, booked, stale version, bad lines; stock missing undoes the reservation and changes nothing", async () => {
    const authorizing = gate();
    const mocks = editMocks({ authorize: authorizing });
    await withOrder(env, mocks.activities, {}, async (handle, id) => {
      await authorizing.reached;
      // The first authorization is in flight; the other fulfillment's is done or in flight too.
      expect(
        await refusal(editItems(handle, [line("SKU-100", 1), line("KEYBOARD-MX", 1)])),
      ).toMatchObject({
        type: "FULFILLMENT_NOT_EDITABLE",
      });
      await placeHold(handle);
      authorizing.open();
      const ready = await mocks.saved((s) =>
        s.order.fulfillments.every((f) => f.status === "AUTHORIZED"),
      );
      const version = ready.order.version;
      expect(
        (await refusal(editItems(handle, [line("SKU-100", 3), line("KEYBOARD-MX", 1)], 1))).type,
      ).toBe("ORDER_VERSION_MISMATCH");
      expect(
        await refusal(editItems(handle, [line("SKU-100", 0), line("KEYBOARD-MX", 0)])),
      ).toMatchObject({
        type: "INVALID_ORDER_ITEMS",
        message: "the edit leaves the order without lines; use CancelOrder",
      });
      expect(
        await refusal(editItems(handle, [line("SKU-100", 1), line("SKU-100", 2)])),
      ).toMatchObject({
        type: "INVALID_ORDER_ITEMS",
        message: "SKU-100 is listed twice",
      });
      expect((await refusal(editItems(handle, [line("SKU-100", 2, 999)]))).type).toBe(
        "INVALID_ORDER_ITEMS",
      );
      // Accepted, then nothing in stock: the edit fails, what it reserved goes back.
      expect(
        await refusal(
          editItems(handle, [line("SKU-100", 3), line("KEYBOARD-MX", 1), line("OOS-1", 1, 100)]),
        ),
      ).toMatchObject({ type: "ITEMS_UNAVAILABLE", metadata: { skus: "OOS-1" } });
      expect(mocks.inputsOf("releaseInventory")).toEqual([
        {
          orderId: id,
          warehouseId: "wh-east",
          partial: {
            cancellationId: "items-edit-1-undo",
            lines: [{ sku: "SKU-100", quantity: 1 }],
          },
        },
      ]);
      const unchanged = await editItems(handle, [line("SKU-100", 2), line("KEYBOARD-MX", 1)]);
      expect(unchanged.version).toBe(version);
      await releaseHold(handle);
      await mocks.saved(booked(`${id}/1`, `${id}/2`));
      expect(
        await refusal(editItems(handle, [line("SKU-100", 1), line("KEYBOARD-MX", 1)])),
      ).toEqual({
        type: "FULFILLMENT_NOT_EDITABLE",
        message: `the items can no longer change that way: fulfillment(s) ${id}/1 are being authorized, booked with the courier or further along`,
        metadata: { fulfillment_ids: `${id}/1` },
      });
      expect(mocks.inputsOf("authorizePayment").filter((a) => a.edit !== undefined)).toEqual([]);
      await handle.executeUpdate(cancelOrderUpdate, {
        args: [{ description: "done", requestedBy: "test" }],
      });
      await handle.result();
    });
  });
});
