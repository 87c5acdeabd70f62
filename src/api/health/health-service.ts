import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import type { HealthStatus } from "./health-status.js";

/** Options of {@link createHealthService}. */
export interface HealthServiceOptions {
  /**
   * Aborted when the server shuts down: every `Watch` stream then ends (with
   * OK; the spec tells clients to reconnect with backoff). Streams also end
   * when their client goes away, through the handler's own signal.
   */
  signal?: AbortSignal;
  /**
   * `List` fails with RESOURCE_EXHAUSTED above this many services, as the
   * spec allows, so one call cannot produce an unbounded response. Default 100
   * (grpc-go's limit).
   */
  maxListedServices?: number;
}

/** The `grpc.health.v1.Health` service over a {@link HealthStatus}. */
export interface HealthService {
  /** The handlers, e.g. for `createRouterTransport` in tests. */
  readonly implementation: ServiceImpl<typeof Health>;
  /** Register `grpc.health.v1.Health` on the router. */
  register(router: ConnectRouter): void;
}

/**
 * Create the standard gRPC health service (Check, Watch, List) answering from
 * `status`, which the application updates as its dependencies come and go.
 */
export function createHealthService(
  status: HealthStatus,
  options: HealthServiceOptions = {},
): HealthService {
  const maxListed = options.maxListedServices ?? 100;
  const implementation: ServiceImpl<typeof Health> = {
    check(request) {
      const current = status.get(request.service);
      if (current === undefined) {
        // The spec: an unknown service is NOT_FOUND for Check (but not for Watch).
        throw new ConnectError(`unknown service: ${request.service}`, Code.NotFound);
      }
      return { status: current };
    },
    async *watch(request, context) {
      const signal =
        options.signal === undefined
          ? context.signal
          : AbortSignal.any([context.signal, options.signal]);
      for await (const current of status.watch(request.service, signal)) {
        yield { status: current };
      }
    },
    list() {
      const statuses = status.list();
      if (statuses.size > maxListed) {
        throw new ConnectError(
          `too many services to list (${statuses.size} > ${maxListed})`,
          Code.ResourceExhausted,
        );
      }
      return {
        statuses: Object.fromEntries([...statuses].map(([name, s]) => [name, { status: s }])),
      };
    },
  };
  return {
    implementation,
    register(router) {
      router.service(Health, implementation);
    },
  };
}
