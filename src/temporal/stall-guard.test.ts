import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const guard = fileURLToPath(new URL("./stall-guard.ts", import.meta.url));

/** Runs `body` in a child process with a 300 ms stall guard; resolves with how it ended. */
function runGuarded(body: string) {
  const script = `const { startStallGuard } = await import(${JSON.stringify(guard)});
startStallGuard(300);
${body}`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.once("exit", (code, signal) => resolve({ code, signal, stderr })),
  );
}

describe("the stall guard", () => {
  it("kills a process whose main thread never yields, saying why", async () => {
    const end = await runGuarded("for (;;) {}");
    expect(end.signal).toBe("SIGKILL");
    expect(end.stderr).toMatch(/did not turn its event loop for 300 ms/);
  });

  it("leaves a process alone while its event loop turns, and does not keep it alive", async () => {
    // Busy for 100 ms at a time, well under the limit, for a second; then the process ends by itself.
    const end = await runGuarded(`
const until = Date.now() + 1000;
const step = () => { const t = Date.now() + 100; while (Date.now() < t) {} if (Date.now() < until) setTimeout(step, 0); };
step();`);
    expect(end).toMatchObject({ code: 0, signal: null });
  });
});
