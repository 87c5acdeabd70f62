/**
 * Connect clients for the services the OMS orchestrates. They belong to other
 * teams; the OMS knows them only by their protos and base URLs.
 */
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "../../gen/notifications/v1/notification_service_pb.js";
import { PaymentService } from "../../gen/payments/v1/payment_service_pb.js";
import { ShippingService } from "../../gen/shipping/v1/shipping_service_pb.js";
import type { DownstreamCredentials } from "./credentials.js";

export interface DownstreamUrls {
  inventory: string;
  payments: string;
  shipping: string;
  notifications: string;
}

export interface DownstreamClients {
  inventory: Client<typeof InventoryService>;
  payments: Client<typeof PaymentService>;
  shipping: Client<typeof ShippingService>;
  notifications: Client<typeof NotificationService>;
}

/**
 * One HTTP/2 transport per distinct base URL (services that share a host share
 * a connection). Calls time out after `timeoutMs` unless the caller passes a
 * shorter deadline; activities pass theirs.
 */
export function createDownstreamClients(
  urls: DownstreamUrls,
  timeoutMs: number,
  /** Around every call (metrics, traces), outermost first. */
  interceptors: Interceptor[] = [],
  /** The worker's own credentials (credentials.ts): a bearer token, a client certificate. */
  credentials: DownstreamCredentials = { interceptors: [], nodeOptions: {} },
): DownstreamClients {
  const transports = new Map<string, ReturnType<typeof createGrpcTransport>>();
  const transport = (baseUrl: string) => {
    let t = transports.get(baseUrl);
    if (t === undefined) {
      t = createGrpcTransport({
        baseUrl,
        defaultTimeoutMs: timeoutMs,
        interceptors: [...interceptors, ...credentials.interceptors],
        nodeOptions: credentials.nodeOptions,
      });
      transports.set(baseUrl, t);
    }
    return t;
  };
  return {
    inventory: createClient(InventoryService, transport(urls.inventory)),
    payments: createClient(PaymentService, transport(urls.payments)),
    shipping: createClient(ShippingService, transport(urls.shipping)),
    notifications: createClient(NotificationService, transport(urls.notifications)),
  };
}
