import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { applyHeapGrowth } from "./heap-growth.js";

const root = path.resolve(import.meta.dirname, "../..");

/**
 * The factors V8 applied after full collections in a node process that runs
 * `script` (V8 prints "Limit: old size: …, new limit: … (factor)" for each).
 */
function growthFactors(script: string, nodeArgs: string[] = []): string[] {
  const out = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      "--expose-gc",
      "--trace-gc-verbose",
      ...nodeArgs,
      "--input-type=module",
      "-e",
      script,
    ],
    { cwd: root, encoding: "utf8" },
  );
  return [...out.matchAll(/\[HeapController\] Limit: .*\(([\d.]+)\)$/gm)].map((m) => m[1] ?? "");
}

describe("applyHeapGrowth", () => {
  it("fixes the factor of V8's next full collection", () => {
    const factors = growthFactors(
      `import { applyHeapGrowth } from "./src/cmd/heap-growth.ts";
       applyHeapGrowth(30); globalThis.gc(); globalThis.gc();`,
    );
    // The last ones come from the forced collections (start-up may have had its own before).
    expect(factors.slice(-2)).toEqual(["1.3", "1.3"]);
  });

  it("leaves V8's own choice at 0 and a flag on node's command line alone", () => {
    expect(applyHeapGrowth(0, [])).toEqual({ source: "V8" });
    expect(applyHeapGrowth(30, ["--heap-growing-percent=50"])).toEqual({
      source: "node command line",
      flag: "--heap-growing-percent=50",
    });
    const factors = growthFactors(
      `import { applyHeapGrowth } from "./src/cmd/heap-growth.ts";
       applyHeapGrowth(30); globalThis.gc(); globalThis.gc();`,
      ["--heap-growing-percent=50"],
    );
    expect(factors.slice(-2)).toEqual(["1.5", "1.5"]);
  });
});

describe("oms applies the heap growth at start", () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill("SIGKILL");
    child = undefined;
  });

  /** The heap growth `oms reference-services` reports in its start log. */
  async function reportedHeapGrowth(env: Record<string, string>, nodeArgs: string[] = []) {
    child = spawn(
      process.execPath,
      [...nodeArgs, "--import", "tsx", "src/cmd/oms.ts", "reference-services"],
      {
        cwd: root,
        env: {
          ...process.env,
          OMS_REFERENCE_SERVICES_HOST: "127.0.0.1",
          OMS_REFERENCE_SERVICES_PORT: "0",
          OMS_REFERENCE_STATE_FILE: ":memory:",
          OMS_LOG_LEVEL: "info",
          ...env,
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const running = child;
    return new Promise<unknown>((resolve, reject) => {
      let partial = "";
      running.stdout?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (line.includes('"V8 heap growth"')) resolve(JSON.parse(line).heapGrowth);
        }
      });
      running.once("exit", (code) => reject(new Error(`oms exited (${code}) before the line`)));
    });
  }

  it("sets 30 % by default", async () => {
    expect(await reportedHeapGrowth({})).toEqual({
      source: "OMS_HEAP_GROWING_PERCENT",
      percent: 30,
    });
  });

  it("honours OMS_HEAP_GROWING_PERCENT and node's own flag", async () => {
    expect(await reportedHeapGrowth({ OMS_HEAP_GROWING_PERCENT: "10" })).toEqual({
      source: "OMS_HEAP_GROWING_PERCENT",
      percent: 10,
    });
    child?.kill("SIGKILL");
    expect(await reportedHeapGrowth({ OMS_HEAP_GROWING_PERCENT: "0" })).toEqual({ source: "V8" });
    child?.kill("SIGKILL");
    expect(await reportedHeapGrowth({}, ["--heap-growing-percent=50"])).toEqual({
      source: "node command line",
      flag: "--heap-growing-percent=50",
    });
  });
});
