import { readFileSync } from "node:fs";

/** What the reference inventory service stocks, and where. */
export interface Catalog {
  /** Warehouse ids in preference order: allocation ties go to the earlier one. */
  warehouses: string[];
  /** Units on hand per SKU and warehouse; a warehouse left out has none. */
  stock: Record<string, Record<string, number>>;
  /**
   * SKUs starting with `prefix` are known without being listed: each gets
   * `quantity` units in `warehouseId` the first time it is seen, so tests can
   * make up SKUs freely.
   */
  openSkus?: { prefix: string; warehouseId: string; quantity: number };
}

/** The catalog shipped in `catalog.json` next to this file. */
export function loadDefaultCatalog(): Catalog {
  // Read at run time rather than imported, so the file works the same under
  // tsx, vitest and a plain tsc build without JSON import attributes.
  const text = readFileSync(new URL("./catalog.json", import.meta.url), "utf8");
  return parseCatalog(JSON.parse(text));
}

/** Checks the shape of a catalog (e.g. parsed from JSON) and returns it typed. */
export function parseCatalog(value: unknown): Catalog {
  const fail = (why: string): never => {
    throw new TypeError(`invalid inventory catalog: ${why}`);
  };
  if (typeof value !== "object" || value === null) {
    return fail("not an object");
  }
  const { warehouses, stock, openSkus } = value as Record<string, unknown>;
  if (
    !Array.isArray(warehouses) ||
    warehouses.length === 0 ||
    !warehouses.every((w) => typeof w === "string" && w !== "")
  ) {
    return fail("warehouses must be a non-empty list of ids");
  }
  const known = new Set<string>(warehouses);
  if (typeof stock !== "object" || stock === null) {
    return fail("stock must be an object");
  }
  for (const [sku, perWarehouse] of Object.entries(stock)) {
    if (typeof perWarehouse !== "object" || perWarehouse === null) {
      return fail(`stock of ${sku} must be an object`);
    }
    for (const [warehouseId, quantity] of Object.entries(perWarehouse)) {
      if (!known.has(warehouseId)) {
        fail(`stock of ${sku} names unknown warehouse ${warehouseId}`);
      }
      if (!Number.isSafeInteger(quantity) || (quantity as number) < 0) {
        fail(`stock of ${sku} in ${warehouseId} must be a whole number >= 0`);
      }
    }
  }
  if (openSkus !== undefined) {
    const o = openSkus as Record<string, unknown>;
    if (
      typeof o.prefix !== "string" ||
      o.prefix === "" ||
      typeof o.warehouseId !== "string" ||
      !known.has(o.warehouseId) ||
      !Number.isSafeInteger(o.quantity) ||
      (o.quantity as number) < 0
    ) {
      fail("openSkus needs a prefix, a known warehouseId and a whole quantity >= 0");
    }
  }
  return value as Catalog;
}
