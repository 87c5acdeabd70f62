/**
 * The API's own view of an RPC's latency, from its access log (one JSON line
 * per call, `"msg":"rpc"`, with `rpc` and `ms`: src/observability/rpc-interceptor.ts):
 * set beside what the bench's client measured, it tells the API's time from
 * the client's (the load generator runs on the same cores, and its own waits
 * are in every latency it measures).
 */
import type { Readable } from "node:stream";
import { onLines } from "./procs.js";

export interface RpcDurations {
  /** How many durations have been read so far: a mark for {@link RpcDurations.since}. */
  count(): number;
  /** The durations (ms) read after `mark`, in log order. */
  since(mark: number): number[];
}

/**
 * Reads the access-log lines of `rpc` (its full name,
 * "/oms.v1.OrderService/SubmitOrder") from a process's output as they come.
 */
export function collectRpcDurations(output: Readable, rpc: string): RpcDurations {
  const durations: number[] = [];
  const needle = `"rpc":${JSON.stringify(rpc)}`;
  onLines(output, (line) => {
    // Only this RPC's lines are parsed: the bench's own CPU is in every figure it measures.
    if (!line.includes(needle)) return;
    try {
      const ms = (JSON.parse(line) as { ms?: unknown }).ms;
      if (typeof ms === "number" && Number.isFinite(ms)) durations.push(ms);
    } catch {
      // not a log line (or one cut by a crash): nothing to read
    }
  });
  return {
    count: () => durations.length,
    since: (mark) => durations.slice(mark),
  };
}
