import type { NotificationTemplate } from "../../gen/notifications/v1/notification_service_pb.js";
import type { DownstreamClients } from "../clients/downstream.js";
import { notificationSendRequest } from "../outbox/notification-request.js";
import { callDownstream } from "./failures.js";

export type NotificationKind = keyof typeof NotificationTemplate & string;

export interface NotificationInput {
  orderId: string;
  customerId: string;
  kind: Exclude<NotificationKind, "UNSPECIFIED">;
  /** Distinguishes notifications of one kind within an order (e.g. per fulfillment). */
  subject: string;
  data: Record<string, string>;
}

export function createNotificationActivities(clients: Pick<DownstreamClients, "notifications">) {
  return {
    /** Sends one notification, at most once per (order, kind, subject). */
    async sendNotification(input: NotificationInput): Promise<void> {
      await callDownstream("notifications", (opts) =>
        clients.notifications.send(notificationSendRequest(input), opts),
      );
    },
  };
}
