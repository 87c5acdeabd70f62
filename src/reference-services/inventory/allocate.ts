/** A quantity of one SKU. */
export interface StockLine {
  sku: string;
  quantity: number;
}

/** The lines one warehouse ships. */
export interface WarehouseLines {
  warehouseId: string;
  lines: StockLine[];
}

/** A line, or the part of a line, no warehouse can supply. */
export interface UnavailableLine {
  sku: string;
  requestedQuantity: number;
  missingQuantity: number;
}

/** Where each line comes from, and what cannot be supplied. */
export interface AllocationPlan {
  /** Per warehouse, in the warehouses' preference order; empty warehouses left out. */
  allocations: WarehouseLines[];
  /** Lines, or parts of lines, no warehouse has. */
  unavailable: UnavailableLine[];
}

/** Above this many candidate warehouses the exact search gives way to a greedy one. */
const EXACT_SEARCH_LIMIT = 12;

/**
 * Plans where to take the lines from, shipping from as few warehouses as
 * possible (each warehouse is a parcel, a courier booking and a payment).
 *
 * Rules, in order of priority:
 * 1. A line is supplied up to the stock of all warehouses together; the rest
 *    is unavailable.
 * 2. Fewest warehouses: the smallest set of warehouses that can supply every
 *    line (exact search over sets by size; greedy above a dozen candidates).
 * 3. Within that many warehouses, fewest split lines: a line comes whole from
 *    one warehouse when one in the set has all of it, and is split (largest
 *    stock first) only otherwise. So a line is split only when no warehouse
 *    has it all, or when splitting it saves a whole extra warehouse.
 * 4. Ties go to the warehouses earlier in `warehouses`.
 *
 * Pure: `stock` is read, not changed.
 */
export function planAllocation(
  lines: readonly StockLine[],
  warehouses: readonly string[],
  stock: (warehouseId: string, sku: string) => number,
): AllocationPlan {
  const unavailable: UnavailableLine[] = [];
  const needed: StockLine[] = [];
  for (const line of lines) {
    const total = warehouses.reduce((sum, w) => sum + stock(w, line.sku), 0);
    const quantity = Math.min(line.quantity, total);
    if (quantity < line.quantity) {
      unavailable.push({
        sku: line.sku,
        requestedQuantity: line.quantity,
        missingQuantity: line.quantity - quantity,
      });
    }
    if (quantity > 0) {
      needed.push({ sku: line.sku, quantity });
    }
  }
  if (needed.length === 0) {
    return { allocations: [], unavailable };
  }

  const candidates = warehouses.filter((w) => needed.some((line) => stock(w, line.sku) > 0));
  const best =
    candidates.length <= EXACT_SEARCH_LIMIT
      ? exactSearch(needed, candidates, stock)
      : greedySearch(needed, candidates, stock);
  if (best === undefined) {
    // Unreachable: all candidates together hold every needed quantity.
    throw new Error("allocation found no warehouse set covering the available stock");
  }
  const allocations = warehouses
    .map((warehouseId) => ({ warehouseId, lines: best.get(warehouseId) ?? [] }))
    .filter((a) => a.lines.length > 0);
  return { allocations, unavailable };
}

type Assignment = Map<string, StockLine[]>;

function exactSearch(
  needed: readonly StockLine[],
  candidates: readonly string[],
  stock: (warehouseId: string, sku: string) => number,
): Assignment | undefined {
  for (let size = 1; size <= candidates.length; size++) {
    let best: { assignment: Assignment; splits: number } | undefined;
    for (const set of combinations(candidates, size)) {
      const result = assign(needed, set, stock);
      if (result !== undefined && (best === undefined || result.splits < best.splits)) {
        best = result;
      }
    }
    if (best !== undefined) {
      return best.assignment;
    }
  }
  return undefined;
}

function greedySearch(
  needed: readonly StockLine[],
  candidates: readonly string[],
  stock: (warehouseId: string, sku: string) => number,
): Assignment | undefined {
  // Add the warehouse that could ship most of what is still missing until the set covers it all.
  const set: string[] = [];
  const remaining = new Map(needed.map((l) => [l.sku, l.quantity]));
  while ([...remaining.values()].some((q) => q > 0)) {
    let pick: string | undefined;
    let pickCover = 0;
    for (const w of candidates) {
      if (set.includes(w)) continue;
      let cover = 0;
      for (const [sku, q] of remaining) cover += Math.min(q, stock(w, sku));
      if (cover > pickCover) {
        pick = w;
        pickCover = cover;
      }
    }
    if (pick === undefined) break;
    set.push(pick);
    for (const [sku, q] of remaining) remaining.set(sku, q - Math.min(q, stock(pick, sku)));
  }
  return assign(
    needed,
    candidates.filter((w) => set.includes(w)),
    stock,
  )?.assignment;
}

/** Assigns every line within `set`, or says it cannot be done. */
function assign(
  needed: readonly StockLine[],
  set: readonly string[],
  stock: (warehouseId: string, sku: string) => number,
): { assignment: Assignment; splits: number } | undefined {
  const assignment: Assignment = new Map();
  const add = (warehouseId: string, line: StockLine) => {
    const lines = assignment.get(warehouseId) ?? [];
    lines.push(line);
    assignment.set(warehouseId, lines);
  };
  let splits = 0;
  for (const line of needed) {
    const whole = set.find((w) => stock(w, line.sku) >= line.quantity);
    if (whole !== undefined) {
      add(whole, line);
      continue;
    }
    const sources = set
      .filter((w) => stock(w, line.sku) > 0)
      // Largest stock first keeps the parts few; sort is stable, so ties keep preference order.
      .sort((a, b) => stock(b, line.sku) - stock(a, line.sku));
    let left = line.quantity;
    for (const w of sources) {
      if (left === 0) break;
      const take = Math.min(left, stock(w, line.sku));
      add(w, { sku: line.sku, quantity: take });
      left -= take;
    }
    if (left > 0) {
      return undefined;
    }
    splits++;
  }
  return { assignment, splits };
}

/** Every subset of `items` with `size` elements, in lexicographic order of position. */
function* combinations<T>(items: readonly T[], size: number, start = 0): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let i = start; i <= items.length - size; i++) {
    for (const rest of combinations(items, size - 1, i + 1)) {
      yield [items[i] as T, ...rest];
    }
  }
}
