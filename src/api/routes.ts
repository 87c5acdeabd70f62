import { readFileSync } from "node:fs";
import { createFileRegistry, type DescService, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { createHealthService } from "./health/health-service.js";
import type { HealthStatus } from "./health/health-status.js";
import { createOrderServiceHandlers, type OrderServiceDependencies } from "./order-service.js";
import { createReflectionService } from "./reflection/reflection-service.js";
import { createShipmentServiceHandlers } from "./shipment-service.js";

/** The services callers use; health reports on each of them. */
export const BUSINESS_SERVICES: readonly DescService[] = [OrderService, ShipmentService];

/**
 * A `buf build` image of proto/oms (npm run generate). Generated code carries
 * no comments; serving this image lets grpcurl `describe` show them.
 */
const DESCRIPTOR_IMAGE = new URL("../../descriptors/oms.binpb", import.meta.url);

export interface RouteDependencies extends OrderServiceDependencies {
  /** Serve grpc.health.v1 from this status (omit to not serve health). */
  health?: { status: HealthStatus; signal: AbortSignal };
  /** Serve gRPC server reflection. */
  reflection: boolean;
}

/** Every service the API port serves. */
export function createRoutes(deps: RouteDependencies): (router: ConnectRouter) => void {
  const served: DescService[] = [...BUSINESS_SERVICES];
  if (deps.health) served.push(Health);
  const reflection = deps.reflection
    ? createReflectionService({ services: served, files: [loadDescriptorImage()] })
    : undefined;
  const health = deps.health
    ? createHealthService(deps.health.status, { signal: deps.health.signal })
    : undefined;
  return (router) => {
    router.service(OrderService, createOrderServiceHandlers(deps));
    router.service(ShipmentService, createShipmentServiceHandlers(deps.commands));
    health?.register(router);
    reflection?.register(router);
  };
}

function loadDescriptorImage() {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTOR_IMAGE)));
}
