import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

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
  return readCatalogFile(new URL("./catalog.json", import.meta.url));
}

/**
 * `load-catalog.json` next to this file: the default catalog's SKUs in the
 * same warehouses with a million units each, so load tests (`oms load`, the
 * bench) never run out of stock. Use it with `OMS_REFERENCE_CATALOG`.
 */
export const LOAD_CATALOG_FILE = fileURLToPath(new URL("./load-catalog.json", import.meta.url));

/**
 * Reads and checks a catalog file in the shape of catalog.json; throws
 * (file system error, SyntaxError or TypeError) when it is unreadable or invalid.
 */
export function readCatalogFile(file: string | URL): Catalog {
  return parseCatalog(JSON.parse(readFileSync(file, "utf8")));
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
