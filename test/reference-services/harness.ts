import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { FaultService } from "../../gen/faults/v1/fault_service_pb.js";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { NotificationService } from "../../gen/notifications/v1/notification_service_pb.js";
import { PaymentService } from "../../gen/payments/v1/payment_service_pb.js";
import { ShippingService } from "../../gen/shipping/v1/shipping_service_pb.js";
import {
  type ReferenceServices,
  type ReferenceServicesOptions,
  startReferenceServices,
} from "../../src/reference-services/server.js";

/** Reference services on a real port, with gRPC clients of every service. */
export interface Harness {
  services: ReferenceServices;
  inventory: Client<typeof InventoryService>;
  payments: Client<typeof PaymentService>;
  shipping: Client<typeof ShippingService>;
  notifications: Client<typeof NotificationService>;
  faults: Client<typeof FaultService>;
  stop(): Promise<void>;
}

/** Starts the reference services on port 0 and connects gRPC (HTTP/2) clients to them. */
export async function startHarness(options: ReferenceServicesOptions = {}): Promise<Harness> {
  const services = await startReferenceServices({ port: 0, ...options });
  const transport = createGrpcTransport({ baseUrl: services.url });
  return {
    services,
    inventory: createClient(InventoryService, transport),
    payments: createClient(PaymentService, transport),
    shipping: createClient(ShippingService, transport),
    notifications: createClient(NotificationService, transport),
    faults: createClient(FaultService, transport),
    stop: () => services.stop(),
  };
}

/** A fresh id for this run, so tests never share orders, keys or customers. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
