import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  type NotificationSchema,
  type NotificationService,
  NotificationTemplate,
  SendRequestSchema,
} from "../../../gen/notifications/v1/notification_service_pb.js";
import { createServiceError } from "../errors.js";
import { createIdempotencyStore, requestFingerprint } from "../idempotency.js";
import { stateOf } from "../state.js";
import type {
  NotificationRecord,
  NotificationStore,
  NotificationTemplateName,
} from "./notification-store.js";

/** Options of {@link createNotificationService}. */
export interface NotificationServiceOptions {
  /** The outbox the handlers record into. */
  store: NotificationStore;
}

const TEMPLATES: ReadonlyMap<NotificationTemplate, NotificationTemplateName> = new Map([
  [NotificationTemplate.ORDER_ACCEPTED, "ORDER_ACCEPTED"],
  [NotificationTemplate.ACTION_REQUIRED, "ACTION_REQUIRED"],
  [NotificationTemplate.SHIPMENT_DISPATCHED, "SHIPMENT_DISPATCHED"],
  [NotificationTemplate.SHIPMENT_DELIVERED, "SHIPMENT_DELIVERED"],
  [NotificationTemplate.ORDER_CANCELLED, "ORDER_CANCELLED"],
  [NotificationTemplate.ORDER_COMPLETED, "ORDER_COMPLETED"],
  [NotificationTemplate.ORDER_FAILED, "ORDER_FAILED"],
]);

/**
 * Handlers of `notifications.v1.NotificationService` over a
 * {@link NotificationStore}. Send is deduplicated by idempotency key, so a
 * retried send never reaches the customer twice.
 */
export function createNotificationService(
  options: NotificationServiceOptions,
): ServiceImpl<typeof NotificationService> {
  const { store } = options;
  const idempotency = createIdempotencyStore(
    "notifications.v1.NotificationService",
    stateOf(store),
  );
  return {
    send(request) {
      return idempotency.run(
        request.idempotencyKey,
        requestFingerprint("Send", SendRequestSchema, request),
        () => {
          const template = TEMPLATES.get(request.template);
          if (template === undefined) {
            // Validation rejects these already; this keeps the handler total without it.
            throw createServiceError(
              Code.InvalidArgument,
              "notifications.v1.NotificationService",
              "UNKNOWN_TEMPLATE",
              `template ${request.template} is not a notification template`,
            );
          }
          const notification = store.send({
            idempotencyKey: request.idempotencyKey,
            customerId: request.customerId,
            orderId: request.orderId,
            template,
            data: { ...request.data },
          });
          return { notification: toNotification(notification) };
        },
      );
    },
    listSent(request) {
      return {
        notifications: store
          .list({ customerId: request.customerId, orderId: request.orderId })
          .map(toNotification),
      };
    },
  };
}

function toNotification(n: NotificationRecord): MessageInitShape<typeof NotificationSchema> {
  return {
    notificationId: n.notificationId,
    idempotencyKey: n.idempotencyKey,
    customerId: n.customerId,
    orderId: n.orderId,
    template: NotificationTemplate[n.template],
    data: n.data,
    sendTime: timestampFromDate(n.sendTime),
  };
}
