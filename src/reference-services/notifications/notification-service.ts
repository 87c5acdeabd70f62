import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createValidator, type Validator, violationsToProto } from "@bufbuild/protovalidate";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type NotificationSchema,
  type NotificationService,
  NotificationTemplate,
  type SendBatchResultSchema,
  type SendRequest,
  SendRequestSchema,
  type SendResponseSchema,
} from "../../../gen/notifications/v1/notification_service_pb.js";
import { statusFromError } from "../../net/rpc-status.js";
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
  /**
   * Validates each item of a SendBatch on its own (the call's validation
   * leaves the items alone, so that a bad one fails alone); a new one by default.
   */
  validator?: Validator;
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
 * retried send never reaches the customer twice; SendBatch sends each of its
 * items as Send would, under the same keys, in one state transaction.
 */
export function createNotificationService(
  options: NotificationServiceOptions,
): ServiceImpl<typeof NotificationService> {
  const { store } = options;
  const validator = options.validator ?? createValidator();
  const state = stateOf(store);
  const idempotency = createIdempotencyStore("notifications.v1.NotificationService", state);

  /**
   * Sends one notification, deduplicated by its key. `performed` tells
   * whether this call sent it (false: answered from the key's record).
   * Fails only before it changes anything, so a batch can go on after it.
   */
  const sendOne = (
    request: SendRequest,
  ): { response: MessageInitShape<typeof SendResponseSchema>; performed: boolean } => {
    let performed = false;
    const response = idempotency.run(
      request.idempotencyKey,
      // Send's fingerprint for a batch item too: an item and a Send with one key and content are one notification.
      requestFingerprint("Send", SendRequestSchema, request),
      (): MessageInitShape<typeof SendResponseSchema> => {
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
        performed = true;
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
    return { response, performed };
  };

  /** One item of a batch: validated as Send's request is, then sent as Send sends it. */
  const batchItem = (request: SendRequest): MessageInitShape<typeof SendBatchResultSchema> => {
    const verdict = validator.validate(SendRequestSchema, request);
    if (verdict.kind !== "valid") {
      // What the validate interceptor answers a Send with.
      const error = new ConnectError(verdict.error.message, Code.InvalidArgument);
      if (verdict.kind === "invalid") {
        const [value, desc] = violationsToProto(verdict.violations);
        error.details.push({ desc, value });
      }
      return { result: { case: "error", value: statusFromError(error) } };
    }
    try {
      const { response, performed } = sendOne(request);
      return {
        result: { case: performed ? "sent" : "duplicate", value: response.notification ?? {} },
      };
    } catch (err) {
      // A Send of this item alone would have failed with it (ALREADY_EXISTS:
      // the key was used for other content); nothing of the item was recorded.
      if (err instanceof ConnectError) {
        return { result: { case: "error", value: statusFromError(err) } };
      }
      // Anything else is a fault of the service: the call fails, and the
      // batch's transaction records nothing.
      throw err;
    }
  };

  return {
    send(request) {
      return sendOne(request).response;
    },
    sendBatch(request) {
      // One state transaction: every item sent, with its idempotency record,
      // is written in one commit (or, if that fails, none is).
      return { results: state.transaction(() => request.requests.map(batchItem)) };
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
