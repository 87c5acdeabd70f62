import { Code } from "@connectrpc/connect";
import { createServiceError } from "../errors.js";
import { encode, openReferenceState, type ReferenceState } from "../state.js";
import {
  type AllocationPlan,
  planAllocation,
  type StockLine,
  type WarehouseLines,
} from "./allocate.js";
import type { Catalog } from "./catalog.js";

const DOMAIN = "inventory.v1.InventoryService";

/** SKUs with this prefix are known but never in stock: reported unavailable. */
export const OUT_OF_STOCK_PREFIX = "OOS-";
/** SKUs with this prefix are unknown: reserving them fails with NOT_FOUND. */
export const UNKNOWN_SKU_PREFIX = "BAD-";

/** Stock of one SKU in one warehouse. */
export interface StockLevel {
  warehouseId: string;
  sku: string;
  /** Units free to reserve. */
  availableQuantity: number;
  /** Units held by reservations. */
  reservedQuantity: number;
}

/**
 * The state of the reference inventory service (in a {@link ReferenceState}): stock per warehouse
 * and SKU, and what each order holds. Also the tests' window into it.
 */
export interface InventoryStore {
  /** Warehouse ids in preference order. */
  readonly warehouses: readonly string[];
  /**
   * Reserves `lines` (each SKU at most once) for `orderId` following
   * {@link planAllocation} and takes the stock. Throws NOT_FOUND (UNKNOWN_SKU)
   * before taking anything if a SKU is unknown.
   */
  reserve(
    orderId: string,
    lines: readonly StockLine[],
    /** Warehouses to take nothing from. */
    excludeWarehouseIds?: readonly string[],
    /** When not empty: the only warehouses to take from, in this order of preference. */
    onlyWarehouseIds?: readonly string[],
  ): AllocationPlan;
  /** Returns what `orderId` holds (in `warehouseId` only, if given) to stock; returns what it released. */
  release(
    orderId: string,
    warehouseId?: string,
    lines?: readonly { sku: string; quantity: number }[],
  ): WarehouseLines[];
  /** Adds returned units to `warehouseId`'s free stock; returns what it added. */
  restock(warehouseId: string, lines: readonly StockLine[]): WarehouseLines;
  /** What `orderId` holds now, per warehouse. */
  heldBy(orderId: string): WarehouseLines[];
  /** Units of `sku` free to reserve in `warehouseId`. */
  available(warehouseId: string, sku: string): number;
  /**
   * Stock levels ordered by SKU, then warehouse preference. `skus` empty means
   * every SKU seen so far; an unknown SKU throws NOT_FOUND.
   */
  stockLevels(filter?: { skus?: readonly string[]; warehouseId?: string }): StockLevel[];
}

/** Options of {@link createInventoryStore}. */
export interface InventoryStoreOptions {
  /** What is stocked where; copied, never changed. */
  catalog: Catalog;
  /**
   * Where stock and holds are kept; a fresh in-memory state by default. A
   * state that has stock already keeps it: the catalog only stocks a new one.
   */
  state?: ReferenceState;
}

/** Creates the inventory state from a catalog, or opens what `options.state` holds. */
export function createInventoryStore(options: InventoryStoreOptions): InventoryStore {
  const { catalog } = options;
  const warehouses = [...catalog.warehouses];
  // sku -> warehouse -> units free to reserve
  const state = options.state ?? openReferenceState();
  const stock = state.map<Map<string, number>>("inventory_stock");
  stockOnce(state, catalog, () => {
    for (const [sku, perWarehouse] of Object.entries(catalog.stock)) {
      stock.set(sku, new Map(Object.entries(perWarehouse)));
    }
  });
  // order -> warehouse -> sku -> units held
  const held = state.map<Map<string, Map<string, number>>>("inventory_held");

  /** Returns part of one warehouse's share of an order (at most what it holds) to stock. */
  function releaseLines(
    orderId: string,
    warehouseId: string,
    lines: readonly { sku: string; quantity: number }[],
  ): WarehouseLines[] {
    const bySku = held.get(orderId)?.get(warehouseId);
    if (bySku === undefined) return [];
    const returned: { sku: string; quantity: number }[] = [];
    for (const { sku, quantity } of lines) {
      const holding = bySku.get(sku) ?? 0;
      const units = Math.min(holding, quantity);
      if (units <= 0) continue;
      adjust(warehouseId, sku, units);
      if (units === holding) bySku.delete(sku);
      else bySku.set(sku, holding - units);
      returned.push({ sku, quantity: units });
    }
    if (bySku.size === 0) held.get(orderId)?.delete(warehouseId);
    if (held.get(orderId)?.size === 0) held.delete(orderId);
    return returned.length === 0 ? [] : [{ warehouseId, lines: returned }];
  }

  /** Makes sure `sku` is known (materializing open and out-of-stock SKUs) or throws NOT_FOUND. */
  const knowSku = (sku: string): void => {
    if (stock.has(sku)) {
      return;
    }
    if (sku.startsWith(OUT_OF_STOCK_PREFIX)) {
      stock.set(sku, new Map());
      return;
    }
    const open = catalog.openSkus;
    if (open !== undefined && sku.startsWith(open.prefix) && !sku.startsWith(UNKNOWN_SKU_PREFIX)) {
      stock.set(sku, new Map([[open.warehouseId, open.quantity]]));
      return;
    }
    throw createServiceError(
      Code.NotFound,
      DOMAIN,
      "UNKNOWN_SKU",
      `SKU "${sku}" is not in the catalog; it cannot be ordered`,
      { sku },
    );
  };
  const available = (warehouseId: string, sku: string): number =>
    stock.get(sku)?.get(warehouseId) ?? 0;
  const adjust = (warehouseId: string, sku: string, delta: number): void => {
    const perWarehouse = stock.get(sku) ?? new Map<string, number>();
    perWarehouse.set(warehouseId, (perWarehouse.get(warehouseId) ?? 0) + delta);
    stock.set(sku, perWarehouse);
  };
  const heldBy = (orderId: string): WarehouseLines[] => {
    const byWarehouse = held.get(orderId);
    if (byWarehouse === undefined) {
      return [];
    }
    return warehouses
      .filter((w) => byWarehouse.has(w))
      .map((warehouseId) => ({
        warehouseId,
        lines: [...(byWarehouse.get(warehouseId) ?? [])].map(([sku, quantity]) => ({
          sku,
          quantity,
        })),
      }));
  };

  return state.transactional({
    warehouses,
    reserve(orderId, lines, excludeWarehouseIds = [], onlyWarehouseIds = []) {
      const seen = new Set<string>();
      for (const line of lines) {
        if (seen.has(line.sku)) {
          throw createServiceError(
            Code.InvalidArgument,
            DOMAIN,
            "DUPLICATE_SKU",
            `SKU "${line.sku}" appears in more than one line; merge the lines`,
            { sku: line.sku },
          );
        }
        seen.add(line.sku);
      }
      // Check every SKU before taking anything, so a failed call changes nothing.
      for (const line of lines) {
        knowSku(line.sku);
      }
      const candidates =
        onlyWarehouseIds.length > 0
          ? [...new Set(onlyWarehouseIds)].filter((w) => warehouses.includes(w))
          : warehouses;
      const plan = planAllocation(
        lines,
        candidates.filter((w) => !excludeWarehouseIds.includes(w)),
        available,
      );
      const byWarehouse = held.get(orderId) ?? new Map<string, Map<string, number>>();
      for (const { warehouseId, lines: taken } of plan.allocations) {
        const bySku = byWarehouse.get(warehouseId) ?? new Map<string, number>();
        for (const { sku, quantity } of taken) {
          adjust(warehouseId, sku, -quantity);
          bySku.set(sku, (bySku.get(sku) ?? 0) + quantity);
        }
        byWarehouse.set(warehouseId, bySku);
      }
      if (byWarehouse.size > 0) {
        held.set(orderId, byWarehouse);
      }
      return plan;
    },
    release(orderId, warehouseId, lines) {
      if (lines !== undefined && lines.length > 0 && warehouseId) {
        return releaseLines(orderId, warehouseId, lines);
      }
      const released = heldBy(orderId).filter(
        (part) =>
          warehouseId === undefined || warehouseId === "" || part.warehouseId === warehouseId,
      );
      const byWarehouse = held.get(orderId);
      for (const part of released) {
        for (const { sku, quantity } of part.lines) {
          adjust(part.warehouseId, sku, quantity);
        }
        byWarehouse?.delete(part.warehouseId);
      }
      if (byWarehouse?.size === 0) {
        held.delete(orderId);
      }
      return released;
    },
    restock(warehouseId, lines) {
      if (!warehouses.includes(warehouseId)) {
        throw createServiceError(
          Code.NotFound,
          DOMAIN,
          "UNKNOWN_WAREHOUSE",
          `warehouse "${warehouseId}" does not exist`,
          { warehouse_id: warehouseId },
        );
      }
      for (const { sku, quantity } of lines) {
        knowSku(sku);
        adjust(warehouseId, sku, quantity);
      }
      return { warehouseId, lines: lines.map(({ sku, quantity }) => ({ sku, quantity })) };
    },
    heldBy,
    available,
    stockLevels(filter = {}) {
      const skus = filter.skus?.length ? [...filter.skus] : [...stock.keys()];
      for (const sku of skus) {
        knowSku(sku);
      }
      const reserved = (warehouseId: string, sku: string): number => {
        let sum = 0;
        for (const byWarehouse of held.values()) {
          sum += byWarehouse.get(warehouseId)?.get(sku) ?? 0;
        }
        return sum;
      };
      const inWarehouses = warehouses.filter(
        (w) => !filter.warehouseId || filter.warehouseId === w,
      );
      return [...new Set(skus)].sort().flatMap((sku) =>
        inWarehouses.map((warehouseId) => ({
          warehouseId,
          sku,
          availableQuantity: available(warehouseId, sku),
          reservedQuantity: reserved(warehouseId, sku),
        })),
      );
    },
  });
}

/**
 * Runs `stock` the first time a state is opened, and records the catalog it
 * stocked from. A state stocked from another catalog is refused: its stock
 * and holds were counted from that one, and mixing the two would be wrong
 * without saying so.
 */
function stockOnce(state: ReferenceState, catalog: Catalog, stock: () => void): void {
  state.transaction(() => {
    const catalogs = state.map<Catalog>("inventory_catalog");
    const stocked = catalogs.get("catalog");
    if (stocked === undefined) {
      catalogs.set("catalog", catalog);
      stock();
    } else if (encode(stocked) !== encode(catalog)) {
      throw new Error(
        `the reference state ${state.file} was stocked from another catalog; remove it (or set OMS_REFERENCE_STATE_FILE to a new file) to stock from this one`,
      );
    }
  });
}
