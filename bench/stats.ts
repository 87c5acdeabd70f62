import { percentile } from "../src/load/stats.js";

/** p50 and p99 (nearest rank, as `oms load`) of durations in ms; NaN without samples. */
export function percentiles(samples: readonly number[]): {
  count: number;
  p50: number;
  p99: number;
} {
  return {
    count: samples.length,
    p50: percentile(samples, 50) ?? Number.NaN,
    p99: percentile(samples, 99) ?? Number.NaN,
  };
}

/** The median (lower middle, nearest rank) of values; NaN without values. */
export const median = (values: readonly number[]) => percentile(values, 50) ?? Number.NaN;

/** Calls `fn` for 0..n-1 one at a time; returns each call's duration in ms. */
export async function timeEach(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn(i);
    out.push(performance.now() - start);
  }
  return out;
}

/**
 * Calls `fn` for 0..n-1 with at most `concurrency` in flight (a closed loop);
 * returns the wall time and each call's duration in ms.
 */
export async function runConcurrently(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ wallMs: number; latencies: number[] }> {
  let next = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        const i = next++;
        const t0 = performance.now();
        await fn(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { wallMs: performance.now() - start, latencies };
}

/** 5.8 ms, 1.23 s */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "–";
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
}
