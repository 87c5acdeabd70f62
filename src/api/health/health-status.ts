import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** The name under which the server's overall health is kept, as the gRPC spec defines. */
export const OVERALL_SERVICE = "";

/** Options of {@link createHealthStatus}. */
export interface HealthStatusOptions {
  /**
   * Initial statuses by service name; `""` is the whole server. Without an
   * entry for `""` the server starts SERVING overall, like grpc-go and grpc-js.
   */
  initial?: Readonly<Record<string, ServingStatus>>;
}

/**
 * The serving status of each service, and of the server as a whole (`""`).
 * Only known services have an entry; `Check` answers NOT_FOUND for the others
 * and `Watch` reports SERVICE_UNKNOWN.
 */
export interface HealthStatus {
  /** The status of a service, or undefined when it is not known. */
  get(service: string): ServingStatus | undefined;
  /**
   * Set a service's status and tell its watchers. After {@link shutdown} this
   * is ignored, so a late "SERVING" cannot undo the drain.
   */
  set(service: string, status: ServingStatus): void;
  /** Forget a service: watchers see SERVICE_UNKNOWN. */
  clear(service: string): void;
  /** A snapshot of every known service and its status. */
  list(): Map<string, ServingStatus>;
  /**
   * Mark every known service NOT_SERVING and freeze statuses: call it when
   * the server starts to drain, so load balancers stop sending traffic.
   */
  shutdown(): void;
  /** True once {@link shutdown} has been called. */
  readonly isShutdown: boolean;
  /**
   * The service's status now (SERVICE_UNKNOWN if not known), then each change,
   * until `signal` aborts. A slow consumer only sees the latest status, never
   * a backlog: health is a level, not a log of events.
   */
  watch(service: string, signal: AbortSignal): AsyncIterable<ServingStatus>;
}

/** Create a health registry; pure state, no I/O. */
export function createHealthStatus(options: HealthStatusOptions = {}): HealthStatus {
  const statuses = new Map<string, ServingStatus>([[OVERALL_SERVICE, ServingStatus.SERVING]]);
  for (const [service, status] of Object.entries(options.initial ?? {})) {
    statuses.set(service, status);
  }
  const listeners = new Map<string, Set<() => void>>();
  let isShutdown = false;

  const notify = (service: string): void => {
    for (const listener of listeners.get(service) ?? []) listener();
  };
  const current = (service: string): ServingStatus =>
    statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;

  return {
    get: (service) => statuses.get(service),
    set(service, status) {
      if (isShutdown) return;
      statuses.set(service, status);
      notify(service);
    },
    clear(service) {
      if (isShutdown) return;
      statuses.delete(service);
      notify(service);
    },
    list: () => new Map(statuses),
    shutdown() {
      isShutdown = true;
      for (const service of statuses.keys()) {
        statuses.set(service, ServingStatus.NOT_SERVING);
        notify(service);
      }
    },
    get isShutdown() {
      return isShutdown;
    },
    watch(service, signal) {
      return {
        async *[Symbol.asyncIterator]() {
          // Subscribe before reading the first status, so no change is lost in between.
          let wake: (() => void) | undefined;
          let changed = false;
          const listener = (): void => {
            changed = true;
            wake?.();
          };
          const onAbort = (): void => wake?.();
          let set = listeners.get(service);
          if (set === undefined) {
            set = new Set();
            listeners.set(service, set);
          }
          set.add(listener);
          signal.addEventListener("abort", onAbort);
          try {
            let last: ServingStatus | undefined;
            while (!signal.aborted) {
              changed = false;
              const status = current(service);
              // Only real changes are sent, so set(SERVING) twice is one message.
              if (status !== last) {
                last = status;
                yield status;
                if (signal.aborted) break;
              }
              if (!changed) {
                await new Promise<void>((resolve) => {
                  wake = resolve;
                });
                wake = undefined;
              }
            }
          } finally {
            signal.removeEventListener("abort", onAbort);
            set.delete(listener);
            if (set.size === 0) listeners.delete(service);
          }
        },
      };
    },
  };
}
