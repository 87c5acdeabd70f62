import type { ServiceImpl } from "@connectrpc/connect";
import {
  type InventoryService,
  ReleaseRequestSchema,
  ReserveRequestSchema,
  RestockRequestSchema,
} from "../../../gen/inventory/v1/inventory_service_pb.js";
import { createIdempotencyStore, requestFingerprint } from "../idempotency.js";
import { stateOf } from "../state.js";
import type { InventoryStore } from "./inventory-store.js";

/** Options of {@link createInventoryService}. */
export interface InventoryServiceOptions {
  /** The stock the handlers reserve from and release to. */
  store: InventoryStore;
}

/**
 * Handlers of `inventory.v1.InventoryService` over an {@link InventoryStore}.
 * Reserve and Release are deduplicated by idempotency key.
 */
export function createInventoryService(
  options: InventoryServiceOptions,
): ServiceImpl<typeof InventoryService> {
  const { store } = options;
  const idempotency = createIdempotencyStore("inventory.v1.InventoryService", stateOf(store));
  return {
    reserve(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Reserve", ReserveRequestSchema, request),
        () => {
          const plan = store.reserve(
            request.orderId,
            request.lines.map(({ sku, quantity }) => ({ sku, quantity })),
            request.excludeWarehouseIds,
            request.warehouseIds,
          );
          return {
            orderId: request.orderId,
            allocations: plan.allocations,
            unavailableLines: plan.unavailable,
          };
        },
      );
    },
    release(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Release", ReleaseRequestSchema, request),
        () => ({
          orderId: request.orderId,
          released: store.release(request.orderId, request.warehouseId || undefined, request.lines),
        }),
      );
    },
    restock(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Restock", RestockRequestSchema, request),
        () => ({
          restocked: store.restock(
            request.warehouseId,
            request.lines.map(({ sku, quantity }) => ({ sku, quantity })),
          ),
        }),
      );
    },
    getStock(request) {
      return {
        levels: store.stockLevels({ skus: request.skus, warehouseId: request.warehouseId }),
      };
    },
  };
}
