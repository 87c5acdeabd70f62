import type { LineItem } from "../domain/order.js";

export interface ReserveInventoryInput {
  orderId: string;
  items: LineItem[];
}

export interface ReservationResult {
  /** Lines grouped by the warehouse that ships them. */
  allocations: { warehouseId: string; items: LineItem[] }[];
  /** Lines no warehouse can supply. */
  unavailable: LineItem[];
}

/**
 * Inventory activities. Until the inventory service is wired in (issue #3),
 * this is an in-process stand-in that allocates every line to one warehouse;
 * the activity boundary, timeouts and retries are already the real ones.
 */
export function createInventoryActivities(options: { defaultWarehouseId: string }) {
  return {
    async reserveInventory(input: ReserveInventoryInput): Promise<ReservationResult> {
      return {
        allocations: [{ warehouseId: options.defaultWarehouseId, items: input.items }],
        unavailable: [],
      };
    },
    async releaseInventory(_input: { orderId: string }): Promise<void> {
      // Nothing is held by the stand-in allocator.
    },
  };
}
