/**
 * The core of `oms load`: submits orders of a mix of kinds to an OMS API
 * (any deployment; only the public OrderService is used), follows each one to
 * its terminal status and summarizes throughput, latency and errors.
 * In-process callers (the bench) use {@link runLoad} directly.
 */
import { setMaxListeners } from "node:events";
import { performance } from "node:perf_hooks";
import {
  type Client,
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService, Resolution } from "../../gen/oms/v1/order_service_pb.js";
import {
  EXPECTED_STATUS,
  formatMix,
  ORDER_KINDS,
  type OrderKind,
  type OrderMix,
  orderRequest,
  planKinds,
} from "./mix.js";
import { type LatencySummary, ratePerSecond, summarize } from "./stats.js";

export interface LoadOptions {
  /** Base URL of the OMS API, e.g. "http://localhost:50051". */
  address: string;
  /** How many orders to submit. */
  orders: number;
  /** Orders in flight at once (each with its own WatchOrder stream). */
  concurrency: number;
  /** Relative weights of the order kinds. */
  mix: OrderMix;
  /** Prefix of every order id (and customer id) of the run; at most 40 characters. */
  runId: string;
  /** Per order, from SubmitOrder to its terminal status. */
  timeoutMs: number;
  /** Stops the run: orders in flight end as ABORTED, the rest are not submitted. */
  signal?: AbortSignal;
  /** Called whenever an order is accepted or finishes. */
  onProgress?: (progress: LoadProgress) => void;
  /** Instead of a gRPC transport to `address`, e.g. an in-memory one. */
  transport?: Transport;
  /** Credentials for an API that authenticates: interceptors (a bearer token) and TLS material. */
  credentials?: {
    interceptors: Interceptor[];
    tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  };
}

export interface LoadProgress {
  total: number;
  accepted: number;
  /** Orders finished, whatever the outcome. */
  done: number;
  elapsedMs: number;
}

/**
 * How an order ended: a terminal order status (COMPLETED, CANCELLED, FAILED),
 * or NOT_ACCEPTED (SubmitOrder failed), ERROR (a later call failed),
 * TIMED_OUT (no terminal status within the timeout) or ABORTED (run stopped).
 */
export type FinalStatus = string;

export interface OrderOutcome {
  orderId: string;
  kind: OrderKind;
  expected: FinalStatus;
  final: FinalStatus;
  /** The last status seen (differs from `final` for TIMED_OUT, ERROR, ABORTED). */
  lastStatus: string | undefined;
  ok: boolean;
  /** SubmitOrder's duration, when it succeeded. */
  acceptMs?: number;
  /** Start of SubmitOrder to the terminal status, when one was reached. */
  endToEndMs?: number;
}

export interface KindResult {
  orders: number;
  expected: FinalStatus;
  asExpected: number;
  finalStatuses: Record<FinalStatus, number>;
  endToEndMs: LatencySummary;
}

export interface ErrorGroup {
  /** gRPC code name, e.g. "UNAVAILABLE", "RESOURCE_EXHAUSTED". */
  code: string;
  count: number;
  /** One of them: "<Rpc> <order id>: <message>". */
  sample: string;
}

export interface LoadResult {
  address: string;
  runId: string;
  orders: number;
  concurrency: number;
  mix: string;
  startedAt: string;
  /** From the first SubmitOrder to the last order's end. */
  wallClockMs: number;
  /** Every order reached its expected terminal status, without RPC errors. */
  ok: boolean;
  accepted: number;
  finalStatuses: Record<FinalStatus, number>;
  /** Accepted orders per second, over the span from the start to the last acceptance. */
  acceptedPerSecond: number;
  /** Orders that reached a terminal status per second, over the span from the start to the last one. */
  completedPerSecond: number;
  acceptLatencyMs: LatencySummary;
  endToEndMs: LatencySummary;
  kinds: Partial<Record<OrderKind, KindResult>>;
  errors: ErrorGroup[];
  /** WatchOrder streams resumed (with since_version) after the server ended them early. */
  watchReconnects: number;
  /** Up to 20 orders that did not reach their expected status. */
  unexpected: Pick<OrderOutcome, "orderId" | "kind" | "expected" | "final" | "lastStatus">[];
}

const TERMINAL = new Set([OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.FAILED]);
/** WatchOrder streams a single order may resume before it counts as an error. */
const MAX_RECONNECTS = 5;

/** The gRPC name of a code, e.g. "RESOURCE_EXHAUSTED". */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  const name = Code[code] ?? String(code);
  return name.replace(/[a-z][A-Z]/g, (pair) => `${pair[0]}_${pair[1]}`).toUpperCase();
}

const statusName = (status: OrderStatus): string => OrderStatus[status] ?? String(status);

/** Submits `options.orders` orders and follows each to its end; never throws for RPC errors. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  // A connection of the run's own, closed at its end (the bench runs in-process).
  const sessionManager =
    options.transport === undefined
      ? new Http2SessionManager(options.address, undefined, options.credentials?.tls)
      : undefined;
  try {
    const transport =
      options.transport ??
      createGrpcTransport({
        baseUrl: options.address,
        sessionManager,
        interceptors: options.credentials?.interceptors ?? [],
      });
    return await run(options, createClient(OrderService, transport));
  } finally {
    sessionManager?.abort();
  }
}

async function run(options: LoadOptions, client: Client<typeof OrderService>): Promise<LoadResult> {
  const kinds = planKinds(options.orders, options.mix);
  const outcomes: OrderOutcome[] = [];
  const errors = new Map<string, ErrorGroup>();
  let watchReconnects = 0;
  let accepted = 0;
  let lastAcceptedAt = 0;
  let lastTerminalAt = 0;
  let next = 0;
  const stop = options.signal ?? new AbortController().signal;
  // One listener per order in flight (AbortSignal.any) is expected, not a leak.
  setMaxListeners(0, stop);

  const startedAt = new Date();
  const start = performance.now();
  const progress = () =>
    options.onProgress?.({
      total: options.orders,
      accepted,
      done: outcomes.length,
      elapsedMs: performance.now() - start,
    });
  const recordError = (rpc: string, orderId: string, err: unknown) => {
    const e = ConnectError.from(err);
    const name = grpcCodeName(e.code);
    const group = errors.get(name) ?? {
      code: name,
      count: 0,
      sample: `${rpc} ${orderId}: ${e.rawMessage}`,
    };
    group.count += 1;
    errors.set(name, group);
  };

  async function runOrder(index: number, kind: OrderKind): Promise<OrderOutcome> {
    const request = orderRequest(kind, options.runId, index);
    const { orderId } = request;
    const expected = statusName(EXPECTED_STATUS[kind]);
    const outcome: OrderOutcome = {
      orderId,
      kind,
      expected,
      final: "NOT_ACCEPTED",
      lastStatus: undefined,
      ok: false,
    };
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = AbortSignal.any([stop, timeout]);
    const t0 = performance.now();
    let rpc = "SubmitOrder";
    try {
      const res = await client.submitOrder(request, { signal });
      outcome.acceptMs = performance.now() - t0;
      outcome.lastStatus = res.order ? statusName(res.order.status) : undefined;
      outcome.final = "ERROR";
      accepted += 1;
      lastAcceptedAt = performance.now();
      progress();
      if (kind === "cancel") {
        rpc = "CancelOrder";
        await client.cancelOrder({ orderId, reason: "oms load: cancel kind" }, { signal });
      }
      let sinceVersion = 0n;
      let resolved = false;
      let reconnects = 0;
      for (;;) {
        rpc = "WatchOrder";
        try {
          for await (const { order } of client.watchOrder({ orderId, sinceVersion }, { signal })) {
            if (order === undefined) continue;
            sinceVersion = order.version;
            outcome.lastStatus = statusName(order.status);
            if (TERMINAL.has(order.status)) {
              outcome.final = outcome.lastStatus;
              outcome.endToEndMs = performance.now() - t0;
              lastTerminalAt = performance.now();
              outcome.ok = outcome.final === expected;
              return outcome;
            }
            if (
              kind === "out-of-stock" &&
              order.status === OrderStatus.CUSTOMER_ACTION_REQUIRED &&
              !resolved
            ) {
              resolved = true;
              rpc = "ResolveUnavailableItems";
              await client.resolveUnavailableItems(
                { orderId, resolution: Resolution.PROCEED_WITHOUT_UNAVAILABLE },
                { signal },
              );
              rpc = "WatchOrder";
            }
          }
          // The stream ended before a terminal status (e.g. a draining server): resume.
        } catch (err) {
          const code = ConnectError.from(err).code;
          const resumable =
            rpc === "WatchOrder" &&
            !signal.aborted &&
            (code === Code.Unavailable || code === Code.Internal) &&
            reconnects < MAX_RECONNECTS;
          if (!resumable) throw err;
        }
        reconnects += 1;
        watchReconnects += 1;
        if (reconnects > MAX_RECONNECTS) {
          throw new ConnectError("the WatchOrder stream kept ending early", Code.Unavailable);
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * reconnects));
      }
    } catch (err) {
      if (timeout.aborted) {
        outcome.final = "TIMED_OUT";
      } else if (stop.aborted) {
        outcome.final = "ABORTED";
      } else {
        recordError(rpc, orderId, err);
      }
      return outcome;
    }
  }

  async function worker(): Promise<void> {
    while (!stop.aborted && next < kinds.length) {
      const index = next++;
      outcomes.push(await runOrder(index + 1, kinds[index] as OrderKind));
      progress();
    }
  }
  const workers = Math.max(1, Math.min(options.concurrency, kinds.length));
  await Promise.all(Array.from({ length: workers }, () => worker()));
  const wallClockMs = performance.now() - start;

  const count = (list: OrderOutcome[]) => {
    const byStatus: Record<string, number> = {};
    for (const o of list) byStatus[o.final] = (byStatus[o.final] ?? 0) + 1;
    return byStatus;
  };
  const e2e = (list: OrderOutcome[]) =>
    summarize(list.flatMap((o) => (o.endToEndMs === undefined ? [] : [o.endToEndMs])));
  const kindResults: Partial<Record<OrderKind, KindResult>> = {};
  for (const kind of ORDER_KINDS) {
    const list = outcomes.filter((o) => o.kind === kind);
    if (list.length === 0) continue;
    kindResults[kind] = {
      orders: list.length,
      expected: statusName(EXPECTED_STATUS[kind]),
      asExpected: list.filter((o) => o.ok).length,
      finalStatuses: count(list),
      endToEndMs: e2e(list),
    };
  }
  const reachedTerminal = outcomes.filter((o) => o.endToEndMs !== undefined).length;
  const failed = outcomes.filter((o) => !o.ok);
  return {
    address: options.address,
    runId: options.runId,
    orders: options.orders,
    concurrency: options.concurrency,
    mix: formatMix(options.mix),
    startedAt: startedAt.toISOString(),
    wallClockMs: Math.round(wallClockMs),
    ok: failed.length === 0 && errors.size === 0 && outcomes.length === options.orders,
    accepted,
    finalStatuses: count(outcomes),
    acceptedPerSecond: ratePerSecond(accepted, lastAcceptedAt - start),
    completedPerSecond: ratePerSecond(reachedTerminal, lastTerminalAt - start),
    acceptLatencyMs: summarize(
      outcomes.flatMap((o) => (o.acceptMs === undefined ? [] : [o.acceptMs])),
    ),
    endToEndMs: e2e(outcomes),
    kinds: kindResults,
    errors: [...errors.values()].sort((a, b) => b.count - a.count),
    watchReconnects,
    unexpected: failed.slice(0, 20).map(({ orderId, kind, expected, final, lastStatus }) => ({
      orderId,
      kind,
      expected,
      final,
      lastStatus,
    })),
  };
}
