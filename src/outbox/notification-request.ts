/**
 * The one place a customer notification becomes a `notifications.v1.Send`
 * request: the outbox dispatcher and the (retiring) sendNotification activity
 * both build it here, so a message sent by either carries the same
 * idempotency key and the service deduplicates across them.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  NotificationTemplate,
  type SendRequestSchema,
} from "../../gen/notifications/v1/notification_service_pb.js";

/** A notification template name other than UNSPECIFIED, e.g. "ORDER_ACCEPTED". */
export type NotificationTemplateName = Exclude<keyof typeof NotificationTemplate, "UNSPECIFIED">;

/** What a notification says and to whom; an outbox message carries the same fields. */
export interface NotificationFields {
  orderId: string;
  customerId: string;
  /** A {@link NotificationTemplateName}; other strings are rejected by {@link notificationSendRequest}. */
  kind: string;
  /** Distinguishes notifications of one kind within an order (e.g. per fulfillment); may be empty. */
  subject: string;
  data: Record<string, string>;
}

/**
 * The idempotency key of a notification, `<orderId>:notify:<kind>:<subject>`:
 * one per (order, kind, subject), ever. It is also the outbox message id.
 */
export function notificationIdempotencyKey(
  fields: Pick<NotificationFields, "orderId" | "kind" | "subject">,
): string {
  return `${fields.orderId}:notify:${fields.kind}:${fields.subject}`;
}

/** Whether `kind` names a notification template (UNSPECIFIED does not count). */
export function isNotificationTemplateName(kind: string): kind is NotificationTemplateName {
  return (
    kind !== "UNSPECIFIED" &&
    Object.hasOwn(NotificationTemplate, kind) &&
    typeof NotificationTemplate[kind as NotificationTemplateName] === "number"
  );
}

/**
 * The Send request of a notification.
 *
 * @throws {TypeError} for a kind that is not a template name (no retry can fix it).
 */
export function notificationSendRequest(
  fields: NotificationFields,
): MessageInitShape<typeof SendRequestSchema> {
  if (!isNotificationTemplateName(fields.kind)) {
    throw new TypeError(`${JSON.stringify(fields.kind)} is not a notification template`);
  }
  return {
    idempotencyKey: notificationIdempotencyKey(fields),
    customerId: fields.customerId,
    orderId: fields.orderId,
    template: NotificationTemplate[fields.kind],
    data: fields.data,
  };
}
