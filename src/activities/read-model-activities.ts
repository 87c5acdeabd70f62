import type { Order, TimelineEntry } from "../domain/order.js";
import type { OrderStore, OutboxMessage } from "../readmodel/store.js";

export function createReadModelActivities(
  store: OrderStore,
  /** Called after a write that carried outbox messages (the dispatcher's wake). */
  onOutboxWritten?: () => void,
  /** Called after every write (the order event publisher's wake: every version is an event). */
  onSaved?: () => void,
) {
  return {
    /**
     * Writes a version of the order, its new timeline entries and the
     * notifications it announces (into the outbox, in the same transaction).
     * Run as a local activity (one marker event, no task round trip); a retry
     * or a replay writes the same version again, which the store ignores.
     */
    async saveOrder(input: {
      order: Order;
      entries: TimelineEntry[];
      notifications?: OutboxMessage[];
      /** See OrderSnapshot.writeRank; absent in writes of histories before it. */
      writeRank?: number;
    }): Promise<void> {
      // Each as the workflow made it: the accepted notification its first
      // write carries again states version 1, so the store queues it only if
      // the API's write of version 1 never landed.
      const notifications = input.notifications ?? [];
      await store.saveOrder(input.order, input.entries, notifications, {
        writeRank: input.writeRank ?? 0,
      });
      if (notifications.length > 0) onOutboxWritten?.();
      onSaved?.();
    },
  };
}
