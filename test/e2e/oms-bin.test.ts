/**
 * The package's `oms` bin (bin/oms) starts node with the settings oms is
 * measured with: `oms api` gets a smaller young generation and at most two
 * malloc arenas on node's own command line (where they must be given), a
 * caller's own choice wins, and the other commands run with node's defaults.
 * Each process reports what node was started with in its "V8 heap growth"
 * start line, which is what these tests read.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../support/free-port.js";

const root = path.resolve(import.meta.dirname, "../..");

interface StartLine {
  nodeFlags: string[];
  mallocArenaMax: string | null;
}

describe("bin/oms", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "oms-bin-"));
  let child: ChildProcess | undefined;
  beforeAll(() => {
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
  }, 180_000);
  afterEach(() => {
    child?.kill("SIGKILL");
    child = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `file command` until its start line, then kills it. */
  function startLine(file: string, command: string, env: Record<string, string>) {
    const base = { ...process.env };
    delete base.MALLOC_ARENA_MAX;
    delete base.NODE_OPTIONS;
    child = spawn(file, [command], {
      cwd: root,
      env: { ...base, OMS_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const running = child;
    return new Promise<StartLine>((resolve, reject) => {
      let partial = "";
      running.stdout?.on("data", (chunk: Buffer) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (line.includes('"V8 heap growth"')) resolve(JSON.parse(line) as StartLine);
        }
      });
      running.once("exit", (code) => reject(new Error(`oms exited (${code}) before the line`)));
    });
  }

  const api = async (env: Record<string, string> = {}) =>
    startLine(path.join(root, "bin/oms"), "api", {
      TEMPORAL_ADDRESS: inject("temporalAddress"),
      OMS_API_HOST: "127.0.0.1",
      OMS_API_PORT: String(await freePort()),
      OMS_AUTH: "none",
      OMS_PAYLOAD_KEYS: "none",
      OMS_DATA_DIR: dir,
      ...env,
    });

  it("starts `oms api` with 8 MiB semi-spaces and two malloc arenas", async () => {
    const line = await api();
    expect(line.nodeFlags).toEqual(["--max-semi-space-size=8"]);
    expect(line.mallocArenaMax).toBe("2");
  });

  it("leaves the settings to a caller that chose them", async () => {
    const line = await api({
      NODE_OPTIONS: "--max-semi-space-size=16",
      MALLOC_ARENA_MAX: "4",
    });
    expect(line.nodeFlags).toEqual([]);
    expect(line.mallocArenaMax).toBe("4");
  });

  it("runs the other commands with node's defaults, also through a link as npm installs it", async () => {
    const link = path.join(dir, "oms");
    symlinkSync(path.join(root, "bin/oms"), link);
    const line = await startLine(link, "reference-services", {
      OMS_REFERENCE_SERVICES_HOST: "127.0.0.1",
      OMS_REFERENCE_SERVICES_PORT: "0",
      OMS_REFERENCE_STATE_FILE: ":memory:",
    });
    expect(line.nodeFlags).toEqual([]);
    expect(line.mallocArenaMax).toBeNull();
  });
});
