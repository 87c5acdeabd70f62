import { randomUUID } from "node:crypto";
import { openReferenceState, type ReferenceState } from "../state.js";

/** Which message was sent (see notifications.v1.NotificationTemplate). */
export type NotificationTemplateName =
  | "ORDER_ACCEPTED"
  | "ACTION_REQUIRED"
  | "SHIPMENT_DISPATCHED"
  | "SHIPMENT_DELIVERED"
  | "ORDER_CANCELLED"
  | "ORDER_COMPLETED"
  | "ORDER_FAILED";

/** A notification the service sent. */
export interface NotificationRecord {
  notificationId: string;
  idempotencyKey: string;
  customerId: string;
  orderId: string;
  template: NotificationTemplateName;
  data: Record<string, string>;
  sendTime: Date;
}

/** The outbox of the reference notification service: what was "sent" (in a {@link ReferenceState}). */
export interface NotificationStore {
  /** Records a notification as sent. */
  send(input: Omit<NotificationRecord, "notificationId" | "sendTime">): NotificationRecord;
  /** Sent notifications matching every given filter, oldest first. */
  list(filter?: { customerId?: string; orderId?: string }): NotificationRecord[];
}

/** Options of {@link createNotificationStore}. */
export interface NotificationStoreOptions {
  /** Clock; `new Date()` by default. */
  now?: () => Date;
  /** Where notifications are kept; a fresh in-memory state by default. */
  state?: ReferenceState;
}

/** Creates the outbox, or opens what `options.state` holds. */
export function createNotificationStore(options: NotificationStoreOptions = {}): NotificationStore {
  const now = options.now ?? (() => new Date());
  const state = options.state ?? openReferenceState();
  const sent = state.log<NotificationRecord>("notifications_sent");
  const snapshot = (n: NotificationRecord): NotificationRecord => ({ ...n, data: { ...n.data } });
  return state.transactional({
    send(input) {
      const notification: NotificationRecord = {
        ...input,
        data: { ...input.data },
        notificationId: `ntf_${randomUUID()}`,
        sendTime: now(),
      };
      sent.push(notification);
      return snapshot(notification);
    },
    list(filter = {}) {
      return sent
        .filter(
          (n) =>
            (!filter.customerId || n.customerId === filter.customerId) &&
            (!filter.orderId || n.orderId === filter.orderId),
        )
        .map(snapshot);
    },
  });
}
