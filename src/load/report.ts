import { ORDER_KINDS } from "./mix.js";
import type { LoadProgress, LoadResult } from "./run.js";
import type { LatencySummary } from "./stats.js";

/** Milliseconds as "12 ms" or "15.2 s". */
export function formatMs(ms: number | null): string {
  if (ms === null) return "-";
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

const p50p99 = (s: LatencySummary) => `p50 ${formatMs(s.p50)}  p99 ${formatMs(s.p99)}`;

/** The human-readable report of a run. */
export function formatReport(r: LoadResult): string {
  const lines: string[] = [];
  lines.push(
    `oms load: ${r.orders} orders against ${r.address}, concurrency ${r.concurrency}, run ${r.runId}`,
    `  mix ${r.mix}`,
    "",
    "orders by final status",
  );
  for (const [status, n] of Object.entries(r.finalStatuses).sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${status.padEnd(24)} ${String(n).padStart(6)}`);
  }
  lines.push(
    "",
    `throughput       accepted ${r.acceptedPerSecond.toFixed(1)}/s, completed ${r.completedPerSecond.toFixed(1)}/s (wall clock ${formatMs(r.wallClockMs)})`,
    `accept latency   ${p50p99(r.acceptLatencyMs)}  (SubmitOrder)`,
    `end to end       ${p50p99(r.endToEndMs)}  (submit → terminal status)`,
  );
  for (const kind of ORDER_KINDS) {
    const k = r.kinds[kind];
    if (k === undefined) continue;
    lines.push(
      `  ${kind.padEnd(14)} ${String(k.orders).padStart(5)} orders, ${String(k.asExpected).padStart(5)} ${k.expected.padEnd(9)}  ${p50p99(k.endToEndMs)}`,
    );
  }
  lines.push("");
  if (r.errors.length === 0) {
    lines.push("errors           none");
  } else {
    lines.push("errors by gRPC code");
    for (const e of r.errors)
      lines.push(`  ${e.code.padEnd(20)} ${String(e.count).padStart(5)}  e.g. ${e.sample}`);
  }
  if (r.watchReconnects > 0) lines.push(`watch streams resumed: ${r.watchReconnects}`);
  if (r.unexpected.length > 0) {
    lines.push("", "orders that did not reach their expected status (up to 20)");
    for (const u of r.unexpected) {
      const last =
        u.lastStatus !== undefined && u.lastStatus !== u.final
          ? ` (last seen ${u.lastStatus})`
          : "";
      lines.push(`  ${u.orderId}: ${u.final}${last}, expected ${u.expected}`);
    }
  }
  lines.push(
    "",
    r.ok
      ? "OK: every order reached its expected status"
      : "FAILED: some orders did not reach their expected status, or calls failed",
  );
  return `${lines.join("\n")}\n`;
}

/** One line of progress for a terminal: `\r[#####.....]  40/100  accepted 9.8/s  completed 7.1/s`. */
export function formatProgress(p: LoadProgress, width = 30): string {
  const filled = p.total === 0 ? width : Math.round((p.done / p.total) * width);
  const seconds = p.elapsedMs / 1_000;
  const rate = (n: number) => (seconds > 0 ? (n / seconds).toFixed(1) : "0.0");
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(p.done).padStart(String(p.total).length)}/${p.total}  accepted ${rate(p.accepted)}/s  completed ${rate(p.done)}/s  ${seconds.toFixed(0)}s `;
}
