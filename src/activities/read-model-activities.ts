import type { Order, TimelineEntry } from "../domain/order.js";
import type { OrderStore } from "../readmodel/store.js";

export function createReadModelActivities(store: OrderStore) {
  return {
    /**
     * Writes a version of the order and its new timeline entries. Run as a
     * local activity (one marker event, no task round trip); a retry or a
     * replay writes the same version again, which the store ignores.
     */
    async saveOrder(input: { order: Order; entries: TimelineEntry[] }): Promise<void> {
      await store.saveOrder(input.order, input.entries);
    },
  };
}
