/**
 * The bench's process plumbing: spawning the compiled `oms` commands, waiting
 * for them, and reading a process tree's CPU time and RSS from /proc (Linux).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/<pid>/stat after the command name: [0] is field 3 (state). */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * Every live process's children, from one pass over /proc: a pass reads the
 * stat file of every process on the machine, so a caller that needs several
 * trees at once (the RSS sampler) makes one pass and not one per tree.
 */
export function childrenByParent(): Map<number, number[]> {
  const byParent = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = Number(statFields(Number(name))?.[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = byParent.get(ppid) ?? [];
    list.push(Number(name));
    byParent.set(ppid, list);
  }
  return byParent;
}

/** Live processes whose parent is `pid`, recursively. */
export function descendants(pid: number, byParent = childrenByParent()): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of byParent.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/**
 * CPU seconds (user + system) used so far by `pid`, its reaped children
 * (cutime + cstime) and its live descendants.
 */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendants(pid)]) {
    const f = statFields(p);
    if (f === undefined) continue;
    // utime, stime, cutime, cstime: fields 14–17.
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLOCK_TICKS;
}

/** Resident set size in bytes of `pid` and its live descendants (VmRSS). */
export function treeRssBytes(pid: number, byParent = childrenByParent()): number {
  let kb = 0;
  for (const p of [pid, ...descendants(pid, byParent)]) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      kb += Number(m?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return kb * 1024;
}

/** The process's command line, arguments separated by spaces. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Samples the RSS of named processes every `intervalMs` and keeps each one's maximum. */
export function startRssSampler(pids: Record<string, number>, intervalMs = 200) {
  const max: Record<string, number> = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  // Synchronous, on the load generator's event loop: one pass over /proc per
  // sample (not one per process) keeps the stall it adds to the measured
  // calls short.
  const sample = () => {
    const byParent = childrenByParent();
    for (const [name, pid] of Object.entries(pids)) {
      max[name] = Math.max(max[name] ?? 0, treeRssBytes(pid, byParent));
    }
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop(): Record<string, number> {
      clearInterval(timer);
      sample();
      return max;
    },
  };
}

/** Calls `onLine` with each line of a process's output as it comes (node's readline joins cut lines). */
export function onLines(output: Readable, onLine: (line: string) => void): void {
  createInterface({ input: output, crlfDelay: Number.POSITIVE_INFINITY }).on("line", onLine);
}

/** A child process the bench started, with the tail of its output for error messages. */
export interface Spawned {
  name: string;
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves with the first stdout/stderr line that matches. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export function spawnProcess(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): Spawned {
  const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  const watchers: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let partial = "";
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    tail = (tail + text).slice(-8_000);
    if (watchers.length === 0) return;
    const lines = (partial + text).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      for (const w of [...watchers]) {
        if (w.pattern.test(line)) {
          watchers.splice(watchers.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", () => resolve(-1));
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}: ${command}`);
  return {
    name,
    child,
    pid: child.pid,
    output: () => tail,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${name} did not print ${pattern} within ${timeoutMs} ms:\n${tail}`));
        }, timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}) before it was ready:\n${tail}`));
        });
        watchers.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
