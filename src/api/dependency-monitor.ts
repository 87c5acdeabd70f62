import type { Logger } from "pino";

/** A dependency the API needs to serve, with a cheap reachability probe. */
export interface DependencyCheck {
  name: string;
  /** Resolves when the dependency answers; rejects (or times out) otherwise. */
  probe(signal: AbortSignal): Promise<unknown>;
}

export interface DependencyMonitorOptions {
  checks: DependencyCheck[];
  intervalMs: number;
  /** A probe that takes longer than this counts as a failure. */
  timeoutMs: number;
  /** Called with the overall state at the first probe and on every change. */
  onChange(healthy: boolean, failing: string[]): void;
  logger: Logger;
}

export interface DependencyMonitor {
  /** Resolves after the first round of probes. */
  ready: Promise<void>;
  stop(): void;
}

/**
 * Probes every dependency on an interval and reports when the API can or
 * cannot serve, which grpc.health.v1 turns into SERVING / NOT_SERVING.
 */
export function startDependencyMonitor(options: DependencyMonitorOptions): DependencyMonitor {
  let last: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const round = async () => {
    const failing: string[] = [];
    await Promise.all(
      options.checks.map(async (check) => {
        try {
          await withTimeout(check.probe, options.timeoutMs);
        } catch (err) {
          failing.push(check.name);
          if (last === undefined || !last.includes(check.name)) {
            options.logger.warn({ err, dependency: check.name }, "dependency unreachable");
          }
        }
      }),
    );
    failing.sort();
    const key = failing.join(",");
    if (key !== last) {
      if (last !== undefined && failing.length === 0)
        options.logger.info("all dependencies reachable again");
      last = key;
      options.onChange(failing.length === 0, failing);
    }
  };

  const loop = async () => {
    await round();
    if (!stopped) timer = setTimeout(() => void loop(), options.intervalMs);
  };
  const ready = loop();
  return {
    ready,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs a probe with a deadline it cannot ignore: clients that retry
 * internally (the Temporal client retries UNAVAILABLE for many seconds) may
 * not give up when their signal aborts, and a dependency that does not answer
 * in time is not healthy.
 */
async function withTimeout(
  probe: (signal: AbortSignal) => Promise<unknown>,
  timeoutMs: number,
): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    await Promise.race([probe(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
