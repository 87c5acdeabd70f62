import { announcingVersion } from "../domain/new-order.js";
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
      // Each with the version announcing it: the store queues the accepted
      // notification that the workflow's first write carries again only if
      // the API's write of version 1 never landed (else it was queued there,
      // and may be delivered and deleted by now).
      const notifications = (input.notifications ?? []).map((message) => {
        const version = announcingVersion(message, input.order);
        return version < input.order.version ? { ...message, version } : message;
      });
      await store.saveOrder(input.order, input.entries, notifications, {
        writeRank: input.writeRank ?? 0,
      });
      if (notifications.length > 0) onOutboxWritten?.();
      onSaved?.();
    },
  };
}
