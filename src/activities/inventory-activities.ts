import type { DownstreamClients } from "../clients/downstream.js";
import type { LineItem } from "../domain/order.js";
import { callDownstream } from "./failures.js";

export interface ReserveInventoryInput {
  orderId: string;
  items: LineItem[];
  /**
   * Re-sourcing: the fulfillment whose lines these are (its own idempotency
   * key), and the warehouses to take nothing from.
   */
  resourcing?: { fulfillmentId: string; excludeWarehouseIds: string[] };
  /**
   * UpdateOrderItems: the edit's id (its idempotency key) and the only
   * warehouses to take the added units from, in order of preference.
   */
  edit?: { editId: string; warehouseIds: string[] };
}

export interface ReservationResult {
  /** Lines (or parts of lines) grouped by the warehouse that ships them. */
  allocations: { warehouseId: string; items: LineItem[] }[];
  /** What no warehouse can supply: the missing quantity of each line. */
  unavailable: LineItem[];
}

export function createInventoryActivities(clients: Pick<DownstreamClients, "inventory">) {
  return {
    /** Reserves stock for the order; idempotent per order. Unknown SKUs fail permanently. */
    async reserveInventory(input: ReserveInventoryInput): Promise<ReservationResult> {
      const priceOf = new Map(input.items.map((i) => [i.sku, i.unitPriceMinor]));
      const res = await callDownstream("inventory", (opts) =>
        clients.inventory.reserve(
          {
            idempotencyKey: input.edit
              ? `${input.orderId}:reserve:${input.edit.editId}`
              : input.resourcing
                ? `${input.orderId}:reserve:resource:${input.resourcing.fulfillmentId}`
                : `${input.orderId}:reserve`,
            orderId: input.orderId,
            lines: input.items.map((i) => ({ sku: i.sku, quantity: i.quantity })),
            excludeWarehouseIds: input.resourcing?.excludeWarehouseIds ?? [],
            warehouseIds: input.edit?.warehouseIds ?? [],
          },
          opts,
        ),
      );
      return {
        allocations: res.allocations.map((a) => ({
          warehouseId: a.warehouseId,
          items: a.lines.map((l) => ({
            sku: l.sku,
            quantity: l.quantity,
            unitPriceMinor: priceOf.get(l.sku) ?? 0,
          })),
        })),
        unavailable: res.unavailableLines.map((l) => ({
          sku: l.sku,
          quantity: l.missingQuantity,
          unitPriceMinor: priceOf.get(l.sku) ?? 0,
        })),
      };
    },

    /** Releases what the order holds (in one warehouse, or everywhere); idempotent. */
    async releaseInventory(input: {
      orderId: string;
      warehouseId?: string;
      /** Only these quantities of the warehouse's share, under their own key (an item cancellation). */
      partial?: { cancellationId: string; lines: { sku: string; quantity: number }[] };
    }): Promise<void> {
      const scope = input.warehouseId ?? "all";
      const key = input.partial
        ? `${input.orderId}:release:${scope}:${input.partial.cancellationId}`
        : `${input.orderId}:release:${scope}`;
      await callDownstream("inventory", (opts) =>
        clients.inventory.release(
          {
            idempotencyKey: key,
            orderId: input.orderId,
            warehouseId: input.warehouseId ?? "",
            lines: input.partial?.lines ?? [],
          },
          opts,
        ),
      );
    },
  };
}
