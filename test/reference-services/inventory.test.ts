import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { errorReason } from "../../src/reference-services/errors.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

let h: Harness;
// A fresh server per test: several tests depend on exact stock levels.
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.stop();
});

/** Allocations as a plain {warehouse: {sku: quantity}} map, order-insensitive. */
function byWarehouse(
  allocations: { warehouseId: string; lines: { sku: string; quantity: number }[] }[],
) {
  return Object.fromEntries(
    allocations.map((a) => [
      a.warehouseId,
      Object.fromEntries(a.lines.map((l) => [l.sku, l.quantity])),
    ]),
  );
}

async function reserve(lines: { sku: string; quantity: number }[], orderId = uniqueId("order")) {
  return h.inventory.reserve({ idempotencyKey: uniqueId("key"), orderId, lines });
}

async function available(sku: string, warehouseId: string): Promise<number> {
  const { levels } = await h.inventory.getStock({ skus: [sku], warehouseId });
  return levels[0]?.availableQuantity ?? Number.NaN;
}

describe("Reserve allocation", () => {
  it("ships from one warehouse when one has every line", async () => {
    const res = await reserve([
      { sku: "MUG-CLASSIC", quantity: 2 },
      { sku: "NOTEBOOK-A5", quantity: 3 },
    ]);
    expect(byWarehouse(res.allocations)).toEqual({
      "wh-east": { "MUG-CLASSIC": 2, "NOTEBOOK-A5": 3 },
    });
    expect(res.unavailableLines).toEqual([]);
  });

  it("takes nothing from excluded warehouses", async () => {
    const res = await h.inventory.reserve({
      idempotencyKey: uniqueId("key"),
      orderId: uniqueId("order"),
      lines: [{ sku: "MUG-CLASSIC", quantity: 2 }],
      excludeWarehouseIds: ["wh-east"],
    });
    expect(byWarehouse(res.allocations)).toEqual({ "wh-west": { "MUG-CLASSIC": 2 } });
    const nowhere = await h.inventory.reserve({
      idempotencyKey: uniqueId("key"),
      orderId: uniqueId("order"),
      lines: [{ sku: "KEYBOARD-MX", quantity: 1 }],
      excludeWarehouseIds: ["wh-west"],
    });
    expect(nowhere.allocations).toEqual([]);
    expect(nowhere.unavailableLines).toEqual([
      expect.objectContaining({ sku: "KEYBOARD-MX", missingQuantity: 1 }),
    ]);
  });

  it("takes only from the given warehouses, in the order given", async () => {
    // MUG-CLASSIC is everywhere: wh-central wins because it is listed first.
    const res = await h.inventory.reserve({
      idempotencyKey: uniqueId("key"),
      orderId: uniqueId("order"),
      lines: [{ sku: "MUG-CLASSIC", quantity: 2 }],
      warehouseIds: ["wh-central", "wh-east"],
    });
    expect(byWarehouse(res.allocations)).toEqual({ "wh-central": { "MUG-CLASSIC": 2 } });
    const elsewhere = await h.inventory.reserve({
      idempotencyKey: uniqueId("key"),
      orderId: uniqueId("order"),
      lines: [{ sku: "KEYBOARD-MX", quantity: 1 }],
      warehouseIds: ["wh-east", "wh-nowhere"],
    });
    expect(elsewhere.allocations).toEqual([]);
    expect(elsewhere.unavailableLines).toEqual([
      expect.objectContaining({ sku: "KEYBOARD-MX", missingQuantity: 1 }),
    ]);
  });

  it("uses the fewest warehouses when no single one has everything", async () => {
    // KEYBOARD-MX is only in wh-west, POSTER-A2 only in wh-central; everything
    // else fits in one of those two, so wh-east is never needed.
    const res = await reserve([
      { sku: "KEYBOARD-MX", quantity: 1 },
      { sku: "POSTER-A2", quantity: 2 },
      { sku: "TSHIRT-L", quantity: 5 },
      { sku: "NOTEBOOK-A5", quantity: 4 },
      { sku: "MUG-CLASSIC", quantity: 1 },
    ]);
    expect(res.allocations.map((a) => a.warehouseId)).toEqual(["wh-west", "wh-central"]);
    expect(byWarehouse(res.allocations)).toEqual({
      "wh-west": { "KEYBOARD-MX": 1, "TSHIRT-L": 5, "MUG-CLASSIC": 1 },
      "wh-central": { "POSTER-A2": 2, "NOTEBOOK-A5": 4 },
    });
    expect(res.unavailableLines).toEqual([]);
  });

  it("splits a line only when no warehouse has all of it", async () => {
    // LAMP-DESK: east 3, west 2, central 4. Seven fit in east + central.
    const res = await reserve([{ sku: "LAMP-DESK", quantity: 7 }]);
    expect(byWarehouse(res.allocations)).toEqual({
      "wh-east": { "LAMP-DESK": 3 },
      "wh-central": { "LAMP-DESK": 4 },
    });
    expect(await available("LAMP-DESK", "wh-west")).toBe(2);
  });

  it("reports what is missing when stock runs short, and reserves the rest", async () => {
    const res = await reserve([{ sku: "LIMITED-PRINT", quantity: 3 }]);
    expect(byWarehouse(res.allocations)).toEqual({ "wh-east": { "LIMITED-PRINT": 1 } });
    expect(res.unavailableLines).toMatchObject([
      { sku: "LIMITED-PRINT", requestedQuantity: 3, missingQuantity: 2 },
    ]);
    const again = await reserve([{ sku: "LIMITED-PRINT", quantity: 1 }]);
    expect(again.allocations).toEqual([]);
    expect(again.unavailableLines).toMatchObject([{ sku: "LIMITED-PRINT", missingQuantity: 1 }]);
  });

  it("reports OOS- SKUs as unavailable, not as an error", async () => {
    const res = await reserve([
      { sku: "OOS-WIDGET", quantity: 2 },
      { sku: "MUG-CLASSIC", quantity: 1 },
    ]);
    expect(byWarehouse(res.allocations)).toEqual({ "wh-east": { "MUG-CLASSIC": 1 } });
    expect(res.unavailableLines).toMatchObject([
      { sku: "OOS-WIDGET", requestedQuantity: 2, missingQuantity: 2 },
    ]);
  });

  it("rejects BAD- and uncatalogued SKUs with NOT_FOUND and reserves nothing", async () => {
    for (const sku of ["BAD-WIDGET", "NOT-IN-CATALOG", "BAD-SKU-1"]) {
      const error = await reserve([
        { sku: "MUG-CLASSIC", quantity: 5 },
        { sku, quantity: 1 },
      ]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.NotFound);
      expect((error as ConnectError).rawMessage).toContain(sku);
      expect(errorReason(error)).toBe("UNKNOWN_SKU");
    }
    expect(await available("MUG-CLASSIC", "wh-east")).toBe(500);
  });

  it("accepts any SKU-* with ample stock in wh-east", async () => {
    const sku = uniqueId("SKU-TEST");
    const res = await reserve([{ sku, quantity: 250 }]);
    expect(byWarehouse(res.allocations)).toEqual({ "wh-east": { [sku]: 250 } });
    expect(await available(sku, "wh-east")).toBe(1_000_000 - 250);
  });

  it("rejects invalid requests with INVALID_ARGUMENT", async () => {
    const cases = [
      [{ sku: "MUG-CLASSIC", quantity: 0 }],
      [],
      [
        { sku: "MUG-CLASSIC", quantity: 1 },
        { sku: "MUG-CLASSIC", quantity: 2 },
      ],
    ];
    for (const lines of cases) {
      const error = await reserve(lines).catch((e: unknown) => e);
      expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    }
    const noKey = await h.inventory
      .reserve({ idempotencyKey: "", orderId: "o", lines: [{ sku: "MUG-CLASSIC", quantity: 1 }] })
      .catch((e: unknown) => e);
    expect((noKey as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("Release", () => {
  it("returns reserved stock, and releasing again releases nothing", async () => {
    const orderId = uniqueId("order");
    await reserve(
      [
        { sku: "HOODIE-L", quantity: 4 },
        { sku: "POSTER-A2", quantity: 10 },
      ],
      orderId,
    );
    const held = await h.inventory.getStock({ skus: ["HOODIE-L"], warehouseId: "wh-west" });
    expect(held.levels).toMatchObject([{ availableQuantity: 36, reservedQuantity: 4 }]);

    const released = await h.inventory.release({ idempotencyKey: uniqueId("key"), orderId });
    expect(byWarehouse(released.released)).toEqual({
      "wh-west": { "HOODIE-L": 4 },
      "wh-central": { "POSTER-A2": 10 },
    });
    const after = await h.inventory.getStock({ skus: ["HOODIE-L"], warehouseId: "wh-west" });
    expect(after.levels).toMatchObject([{ availableQuantity: 40, reservedQuantity: 0 }]);
    expect(await available("POSTER-A2", "wh-central")).toBe(300);

    const again = await h.inventory.release({ idempotencyKey: uniqueId("key"), orderId });
    expect(again.released).toEqual([]);
    expect(await available("HOODIE-L", "wh-west")).toBe(40);
  });

  it("releases one warehouse's part when asked to", async () => {
    const orderId = uniqueId("order");
    await reserve(
      [
        { sku: "HOODIE-L", quantity: 1 },
        { sku: "CHAIR-ERGO", quantity: 2 },
      ],
      orderId,
    );
    const released = await h.inventory.release({
      idempotencyKey: uniqueId("key"),
      orderId,
      warehouseId: "wh-central",
    });
    expect(byWarehouse(released.released)).toEqual({ "wh-central": { "CHAIR-ERGO": 2 } });
    expect(await available("CHAIR-ERGO", "wh-central")).toBe(10);
    expect(await available("HOODIE-L", "wh-west")).toBe(39);
    expect(h.services.inventory.heldBy(orderId)).toEqual([
      { warehouseId: "wh-west", lines: [{ sku: "HOODIE-L", quantity: 1 }] },
    ]);
  });

  it("releases given quantities of one warehouse's part, never more than it holds", async () => {
    const orderId = uniqueId("order");
    await reserve([{ sku: "CHAIR-ERGO", quantity: 3 }], orderId);
    const part = await h.inventory.release({
      idempotencyKey: uniqueId("key"),
      orderId,
      warehouseId: "wh-central",
      lines: [{ sku: "CHAIR-ERGO", quantity: 1 }],
    });
    expect(byWarehouse(part.released)).toEqual({ "wh-central": { "CHAIR-ERGO": 1 } });
    expect(h.services.inventory.heldBy(orderId)).toEqual([
      { warehouseId: "wh-central", lines: [{ sku: "CHAIR-ERGO", quantity: 2 }] },
    ]);
    const rest = await h.inventory.release({
      idempotencyKey: uniqueId("key"),
      orderId,
      warehouseId: "wh-central",
      lines: [{ sku: "CHAIR-ERGO", quantity: 5 }],
    });
    expect(byWarehouse(rest.released)).toEqual({ "wh-central": { "CHAIR-ERGO": 2 } });
    expect(h.services.inventory.heldBy(orderId)).toEqual([]);
  });
});

describe("idempotency", () => {
  it("returns the first result for a repeated key without reserving again", async () => {
    const request = {
      idempotencyKey: uniqueId("key"),
      orderId: uniqueId("order"),
      lines: [{ sku: "BACKPACK-20L", quantity: 10 }],
    };
    const results = await Promise.all([
      h.inventory.reserve(request),
      h.inventory.reserve(request),
      h.inventory.reserve(request),
    ]);
    for (const res of results) {
      expect(res).toEqual(results[0]);
    }
    expect(await available("BACKPACK-20L", "wh-east")).toBe(50);
  });

  it("rejects a reused key with different arguments with ALREADY_EXISTS", async () => {
    const idempotencyKey = uniqueId("key");
    const orderId = uniqueId("order");
    await h.inventory.reserve({
      idempotencyKey,
      orderId,
      lines: [{ sku: "PEN-BLACK", quantity: 1 }],
    });
    const error = await h.inventory
      .reserve({ idempotencyKey, orderId, lines: [{ sku: "PEN-BLACK", quantity: 2 }] })
      .catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.AlreadyExists);
    expect(errorReason(error)).toBe("IDEMPOTENCY_KEY_REUSED");
    // Reusing a key on a different RPC is a different request too.
    const onRelease = await h.inventory
      .release({ idempotencyKey, orderId })
      .catch((e: unknown) => e);
    expect((onRelease as ConnectError).code).toBe(Code.AlreadyExists);
  });
});
