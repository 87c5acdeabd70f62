/** `oms load` run as a process, as users run it. */
import { execFile } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

/** Runs `oms load` with `args`; resolves with its exit code and output. */
export function omsLoad(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", "src/cmd/oms.ts", "load", ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? "", ...env }, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The same load shape for every test: 4 orders, 2 at a time, half completing, half declined. */
export function smallLoadArgs(address: string, runId: string): string[] {
  return [
    "--address",
    address,
    "--orders",
    "4",
    "--concurrency",
    "2",
    "--mix",
    "two-warehouse=1,declined=1",
    "--run-id",
    runId,
  ];
}
