/**
 * The last resort against workflow code that never yields (an endless loop):
 * a small thread that kills the process when its main thread has not turned
 * its event loop for `limitMs`. The worker runs its workflows in the main
 * thread without the SDK's per-call time limit (see worker.ts), so without
 * this a loop would leave a process that holds its tasks and does nothing;
 * killed, it is restarted by its supervisor and Temporal hands its tasks to
 * other workers.
 */
import { Worker as Thread } from "node:worker_threads";

export interface StallGuard {
  stop(): Promise<void>;
}

const WATCHER = `
const { workerData } = require("node:worker_threads");
const { beat, limitMs, checkMs } = workerData;
let last = Atomics.load(beat, 0);
let since = Date.now();
setInterval(() => {
  const now = Atomics.load(beat, 0);
  if (now !== last) {
    last = now;
    since = Date.now();
  } else if (Date.now() - since >= limitMs) {
    const msg = "the main thread did not turn its event loop for " + limitMs +
      " ms (workflow code that never yields?): killing the process";
    require("node:fs").writeSync(2, JSON.stringify({ level: 60, time: Date.now(), pid: process.pid, msg }) + "\\n");
    process.kill(process.pid, "SIGKILL");
  }
}, checkMs);
`;

/** Starts the guard: the main thread beats every `limitMs / 10` (at most each second). */
export function startStallGuard(limitMs: number): StallGuard {
  if (!(Number.isFinite(limitMs) && limitMs > 0)) {
    throw new RangeError(`limitMs must be a positive number, got ${limitMs}`);
  }
  const beat = new Int32Array(new SharedArrayBuffer(4));
  const checkMs = Math.max(10, Math.min(1_000, limitMs / 10));
  const timer = setInterval(() => Atomics.add(beat, 0, 1), checkMs);
  timer.unref();
  const thread = new Thread(WATCHER, {
    eval: true,
    // Plain CommonJS, without the process's loaders and flags (tsx, --input-type).
    execArgv: [],
    workerData: { beat, limitMs, checkMs },
    // A few MB: the watcher allocates next to nothing.
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
  });
  thread.unref();
  return {
    async stop() {
      clearInterval(timer);
      await thread.terminate();
    },
  };
}
