import { describe, expect, it } from "vitest";
import { planAllocation } from "../../src/reference-services/inventory/allocate.js";

/** A stock lookup from a {warehouse: {sku: quantity}} table. */
function stockOf(table: Record<string, Record<string, number>>) {
  return (warehouseId: string, sku: string) => table[warehouseId]?.[sku] ?? 0;
}

describe("planAllocation", () => {
  it("finds the smallest warehouse set where picking the biggest warehouse first would not", async () => {
    // Greedy set cover takes wA (4 lines) and then still needs wB and wC; wB + wC suffice.
    const stock = stockOf({
      wA: { s1: 1, s2: 1, s3: 1, s4: 1 },
      wB: { s1: 1, s3: 1, s5: 1 },
      wC: { s2: 1, s4: 1, s6: 1 },
    });
    const lines = ["s1", "s2", "s3", "s4", "s5", "s6"].map((sku) => ({ sku, quantity: 1 }));
    const plan = planAllocation(lines, ["wA", "wB", "wC"], stock);
    expect(plan.allocations.map((a) => a.warehouseId)).toEqual(["wB", "wC"]);
    expect(plan.unavailable).toEqual([]);
  });

  it("prefers a set without split lines among sets of the same size", () => {
    const stock = stockOf({
      w1: { a: 10, b: 3 },
      w2: { b: 2 },
      w3: { b: 5 },
    });
    const plan = planAllocation(
      [
        { sku: "a", quantity: 1 },
        { sku: "b", quantity: 5 },
      ],
      ["w1", "w2", "w3"],
      stock,
    );
    expect(plan.allocations).toEqual([
      { warehouseId: "w1", lines: [{ sku: "a", quantity: 1 }] },
      { warehouseId: "w3", lines: [{ sku: "b", quantity: 5 }] },
    ]);
  });

  it("splits a line when that saves a warehouse", () => {
    // {w1, w2} covers everything with b split 3 + 2; without splitting it needs w3 too.
    const stock = stockOf({
      w1: { a: 1, b: 3 },
      w2: { c: 1, b: 2 },
      w3: { b: 5 },
    });
    const plan = planAllocation(
      [
        { sku: "a", quantity: 1 },
        { sku: "b", quantity: 5 },
        { sku: "c", quantity: 1 },
      ],
      ["w1", "w2", "w3"],
      stock,
    );
    expect(plan.allocations).toEqual([
      {
        warehouseId: "w1",
        lines: [
          { sku: "a", quantity: 1 },
          { sku: "b", quantity: 3 },
        ],
      },
      {
        warehouseId: "w2",
        lines: [
          { sku: "b", quantity: 2 },
          { sku: "c", quantity: 1 },
        ],
      },
    ]);
  });

  it("breaks ties by warehouse preference and reports shortfalls", () => {
    const stock = stockOf({ w1: { a: 5 }, w2: { a: 5 } });
    const plan = planAllocation(
      [
        { sku: "a", quantity: 4 },
        { sku: "z", quantity: 2 },
      ],
      ["w2", "w1"],
      stock,
    );
    expect(plan.allocations).toEqual([{ warehouseId: "w2", lines: [{ sku: "a", quantity: 4 }] }]);
    expect(plan.unavailable).toEqual([{ sku: "z", requestedQuantity: 2, missingQuantity: 2 }]);
  });

  it("falls back to a greedy cover with many warehouses", () => {
    const warehouses = Array.from({ length: 20 }, (_, i) => `w${i}`);
    const table = Object.fromEntries(warehouses.map((w, i) => [w, { [`s${i}`]: 1, common: 1 }]));
    const plan = planAllocation(
      [
        { sku: "s3", quantity: 1 },
        { sku: "s17", quantity: 1 },
        { sku: "common", quantity: 2 },
      ],
      warehouses,
      stockOf(table),
    );
    expect(plan.allocations.map((a) => a.warehouseId).sort()).toEqual(["w17", "w3"]);
    expect(plan.unavailable).toEqual([]);
  });
});
