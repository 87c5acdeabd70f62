import { setTimeout as sleep } from "node:timers/promises";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type UnaryRequest,
} from "@connectrpc/connect";
import { createServiceError } from "../errors.js";

/** The reference services faults can be injected into. */
export const FAULT_TARGETS = ["inventory", "payments", "shipping", "notifications"] as const;
/** One of {@link FAULT_TARGETS}. */
export type FaultTarget = (typeof FAULT_TARGETS)[number];

/** Faults of one service; every field defaults to "no fault". */
export interface FaultConfig {
  /** Fraction of calls (0..1) that fail with UNAVAILABLE before doing any work. */
  errorRate?: number;
  /** Delay added before every call, in milliseconds. */
  addedLatencyMs?: number;
  /** When true every call fails with UNAVAILABLE at once. */
  outage?: boolean;
  /** Fraction of calls (0..1) that do their work, then fail with UNAVAILABLE. */
  loseResponseRate?: number;
  /**
   * Warehouses whose courier bookings (`BookShipment` with one of these
   * `warehouse_id`s) fail with FAILED_PRECONDITION / WAREHOUSE_REJECTED.
   */
  rejectWarehouseIds?: readonly string[];
}

/** A {@link FaultConfig} with every default filled in. */
export type Faults = Required<FaultConfig>;

/** What an injected failure was; sent as the `fault-injected` error metadata. */
export type InjectedFault = "outage" | "error-rate" | "lose-response";

/** The fault state of every target, shared by the interceptors and the fault admin service. */
export interface FaultRegistry {
  /** The faults now in force for `target`. */
  get(target: FaultTarget): Faults;
  /** Replaces the faults of `target` (fields left out mean "no fault") and returns them. */
  set(target: FaultTarget, faults: FaultConfig): Faults;
  /** Clears the faults of `target`, or of every target. */
  clear(target?: FaultTarget): void;
  /**
   * An interceptor that applies `target`'s faults, as they are when each call
   * starts, to the calls of the service it is installed on.
   */
  interceptor(target: FaultTarget): Interceptor;
}

/** Options of {@link createFaultRegistry}. */
export interface FaultRegistryOptions {
  /** Faults in force from the start; none by default. */
  initial?: Partial<Record<FaultTarget, FaultConfig>>;
  /**
   * Source of randomness in [0, 1) for error_rate and lose_response_rate;
   * `Math.random` by default. Pass `createSeededRandom(seed)` for repeatable tests.
   */
  random?: () => number;
}

/** No faults at all. */
export const NO_FAULTS: Readonly<Faults> = Object.freeze({
  errorRate: 0,
  addedLatencyMs: 0,
  outage: false,
  loseResponseRate: 0,
  rejectWarehouseIds: [],
});

/** Creates the fault state of all targets. */
export function createFaultRegistry(options: FaultRegistryOptions = {}): FaultRegistry {
  const random = options.random ?? Math.random;
  const state = new Map<FaultTarget, Faults>();
  for (const target of FAULT_TARGETS) {
    state.set(target, normalizeFaults(options.initial?.[target] ?? {}));
  }
  const get = (target: FaultTarget): Faults => state.get(target) ?? NO_FAULTS;

  return {
    get,
    set(target, faults) {
      const normalized = normalizeFaults(faults);
      state.set(target, normalized);
      return normalized;
    },
    clear(target) {
      for (const t of target === undefined ? FAULT_TARGETS : [target]) {
        state.set(t, NO_FAULTS);
      }
    },
    interceptor(target) {
      return (next) => async (request) => {
        // One snapshot per call, so that a change mid-call cannot apply half a fault.
        const faults = get(target);
        if (faults.outage) {
          throw injectedFailure(target, "outage");
        }
        if (faults.addedLatencyMs > 0) {
          await sleep(faults.addedLatencyMs, undefined, { signal: request.signal });
        }
        if (faults.errorRate > 0 && random() < faults.errorRate) {
          throw injectedFailure(target, "error-rate");
        }
        const warehouseId = bookingWarehouse(request);
        if (warehouseId !== undefined && faults.rejectWarehouseIds.includes(warehouseId)) {
          throw createServiceError(
            Code.FailedPrecondition,
            `${target}.v1`,
            "WAREHOUSE_REJECTED",
            `warehouse "${warehouseId}" rejected the fulfillment (injected)`,
            { warehouse_id: warehouseId },
          );
        }
        const response = await next(request);
        // The work is done (and remembered under its idempotency key); only the
        // caller does not learn of it, exactly like a response lost on the wire.
        if (faults.loseResponseRate > 0 && random() < faults.loseResponseRate) {
          throw injectedFailure(target, "lose-response");
        }
        return response;
      };
    },
  };
}

function normalizeFaults(config: FaultConfig): Faults {
  const faults: Faults = { ...NO_FAULTS, ...withoutUndefined(config) };
  for (const key of ["errorRate", "loseResponseRate"] as const) {
    const rate = faults[key];
    if (!(rate >= 0 && rate <= 1)) {
      throw new RangeError(`fault ${key} must be between 0 and 1, got ${rate}`);
    }
  }
  if (!(faults.addedLatencyMs >= 0 && Number.isFinite(faults.addedLatencyMs))) {
    throw new RangeError(`fault addedLatencyMs must be >= 0, got ${faults.addedLatencyMs}`);
  }
  return Object.freeze(faults);
}

/** The warehouse a BookShipment call books from; undefined for every other call. */
function bookingWarehouse(request: UnaryRequest | StreamRequest): string | undefined {
  if (request.method.name !== "BookShipment" || request.stream) return undefined;
  const warehouseId = (request.message as { warehouseId?: unknown }).warehouseId;
  return typeof warehouseId === "string" ? warehouseId : undefined;
}

function withoutUndefined(config: FaultConfig): FaultConfig {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
}

function injectedFailure(target: FaultTarget, fault: InjectedFault): ConnectError {
  const what =
    fault === "outage"
      ? "is down (injected outage)"
      : fault === "error-rate"
        ? "failed before doing the work (injected error)"
        : "did the work but the response was lost (injected)";
  return new ConnectError(`${target} service ${what}; retry later`, Code.Unavailable, {
    "fault-injected": fault,
  });
}
