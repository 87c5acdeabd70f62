/**
 * The one place a customer notification becomes a `notifications.v1.Send`
 * request, with the message's id (see domain/notification.ts) as its
 * idempotency key, so the service deduplicates a message sent twice.
 */

import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  NotificationTemplate,
  type SendRequestSchema,
} from "../../gen/notifications/v1/notification_service_pb.js";
import { notificationKey } from "../domain/notification.js";

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
    idempotencyKey: notificationKey(fields.orderId, fields.kind, fields.subject),
    customerId: fields.customerId,
    orderId: fields.orderId,
    template: NotificationTemplate[fields.kind],
    data: fields.data,
  };
}
