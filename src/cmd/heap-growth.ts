/**
 * V8's old-generation growth for the `oms` processes.
 *
 * After each full collection V8 sets the next one's trigger at what survived
 * times a factor it picks from its collection and allocation speeds: up to 4
 * on a large machine. A server that allocates fast and keeps little (the API
 * kept about 45 MB live) therefore holds 2–4 times its live heap as garbage
 * awaiting the next full collection, and that garbage is most of its resident
 * memory under load. V8's `--heap-growing-percent` fixes the factor; V8 reads
 * it at every full collection, so `oms` sets it on itself at start, which
 * needs no flag on the node command line (NODE_OPTIONS refuses this one).
 */
import v8 from "node:v8";

const FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/** Where the process's heap growth comes from: oms's setting, node's command line, or V8. */
export type HeapGrowth =
  | { source: "OMS_HEAP_GROWING_PERCENT"; percent: number }
  | { source: "node command line"; flag: string }
  | { source: "V8" };

/**
 * Sets V8's heap growth to `percent` (0: leaves V8's own choice), unless node
 * was started with `--heap-growing-percent`, which then wins.
 */
export function applyHeapGrowth(
  percent: number,
  execArgv: readonly string[] = process.execArgv,
): HeapGrowth {
  const flag = execArgv.find((arg) => FLAG.test(arg));
  if (flag !== undefined) return { source: "node command line", flag };
  if (percent === 0) return { source: "V8" };
  v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  return { source: "OMS_HEAP_GROWING_PERCENT", percent };
}
