import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  type FaultService,
  type Faults as FaultsMessage,
  type FaultsSchema,
  TargetService,
} from "../../../gen/faults/v1/fault_service_pb.js";
import { createServiceError } from "../errors.js";
import type { FaultConfig, FaultRegistry, Faults, FaultTarget } from "./fault-registry.js";

const DOMAIN = "faults.v1.FaultService";

const TARGETS: ReadonlyMap<TargetService, FaultTarget> = new Map([
  [TargetService.INVENTORY, "inventory"],
  [TargetService.PAYMENTS, "payments"],
  [TargetService.SHIPPING, "shipping"],
  [TargetService.NOTIFICATIONS, "notifications"],
]);

/** Options of {@link createFaultService}. */
export interface FaultServiceOptions {
  /** The fault state the service reads and replaces. */
  registry: FaultRegistry;
}

/**
 * Handlers of `faults.v1.FaultService`: read and replace the faults of the
 * other reference services at run time. Never install fault interceptors on
 * this service itself, or an outage could not be switched off again.
 */
export function createFaultService(options: FaultServiceOptions): ServiceImpl<typeof FaultService> {
  const { registry } = options;
  return {
    setFaults(request) {
      const target = toTarget(request.target);
      const faults = registry.set(target, fromMessage(request.faults));
      return { target: request.target, faults: toMessage(faults) };
    },
    getFaults(request) {
      const target = toTarget(request.target);
      return { target: request.target, faults: toMessage(registry.get(target)) };
    },
  };
}

function toTarget(target: TargetService): FaultTarget {
  const found = TARGETS.get(target);
  if (found === undefined) {
    // Validation rejects these already; this keeps the handler total without it.
    throw createServiceError(
      Code.InvalidArgument,
      DOMAIN,
      "UNKNOWN_TARGET",
      `target ${target} is not a service faults can be injected into`,
    );
  }
  return found;
}

function fromMessage(faults: FaultsMessage | undefined): FaultConfig {
  return {
    errorRate: faults?.errorRate ?? 0,
    addedLatencyMs: faults?.addedLatency ? durationMs(faults.addedLatency) : 0,
    outage: faults?.outage ?? false,
    loseResponseRate: faults?.loseResponseRate ?? 0,
    rejectWarehouseIds: [...(faults?.rejectWarehouseIds ?? [])],
  };
}

function toMessage(faults: Faults): MessageInitShape<typeof FaultsSchema> {
  return {
    errorRate: faults.errorRate,
    addedLatency: faults.addedLatencyMs > 0 ? durationFromMs(faults.addedLatencyMs) : undefined,
    outage: faults.outage,
    loseResponseRate: faults.loseResponseRate,
    rejectWarehouseIds: [...faults.rejectWarehouseIds],
  };
}
