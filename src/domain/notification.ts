/**
 * Customer notifications (docs/spec.md section 5.5). The order workflow does
 * not send them: it records each one as an outbox message in the same
 * read-model transaction as the version it announces, and the worker's
 * outbox dispatcher delivers it (bounded retries, idempotency key).
 */
export const NOTIFICATION_KINDS = [
  "ORDER_ACCEPTED",
  "ACTION_REQUIRED",
  "SHIPMENT_DISPATCHED",
  "SHIPMENT_DELIVERED",
  "ORDER_CANCELLED",
  "ORDER_COMPLETED",
  "ORDER_FAILED",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** One notification to deliver, as written to the outbox. */
export interface OrderNotification {
  /** The idempotency key: one message per (order, kind, subject), ever. */
  messageId: string;
  orderId: string;
  customerId: string;
  kind: NotificationKind;
  /** Tells notifications of one kind within an order apart (e.g. the fulfillment id). */
  subject: string;
  data: Record<string, string>;
  createTime: string;
  /**
   * The order version that announces it, when a later write may carry it
   * again (ORDER_ACCEPTED: version 1, which the workflow's first write
   * carries too); absent, the version of the write that carries it. See
   * OutboxMessage.version.
   */
  version?: number;
}

/**
 * The message id, `<orderId>:notify:<kind>:<subject>`, which is also the
 * notification service's idempotency key: one per (order, kind, subject), ever.
 */
export function notificationKey(orderId: string, kind: string, subject: string): string {
  return `${orderId}:notify:${kind}:${subject}`;
}

export function orderNotification(
  orderId: string,
  customerId: string,
  kind: NotificationKind,
  subject: string,
  data: Record<string, string>,
  createTime: string,
): OrderNotification {
  return {
    messageId: notificationKey(orderId, kind, subject),
    orderId,
    customerId,
    kind,
    subject,
    data,
    createTime,
  };
}
