/**
 * The reference services as a process of their own (the compiled
 * `oms reference-services`, as a deployment runs it), for tests that SIGKILL
 * them and start them again on the same port and state file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

export interface ReferenceServicesProcess {
  child: ChildProcess;
  /** Resolves once the process listens; rejects if it exits first. */
  ready: Promise<void>;
}

/**
 * Starts `node dist/src/cmd/oms.js reference-services` (run `npm run build`
 * first) on `port`, keeping its state in `stateFile`, with the simulated
 * courier reporting to `omsApiUrl`; `env` adds or overrides settings.
 */
export function spawnReferenceServices(
  port: number,
  stateFile: string,
  omsApiUrl: string,
  env: Record<string, string> = {},
): ReferenceServicesProcess {
  const child = spawn(process.execPath, ["dist/src/cmd/oms.js", "reference-services"], {
    cwd: root,
    env: {
      ...process.env,
      OMS_REFERENCE_SERVICES_HOST: "127.0.0.1",
      OMS_REFERENCE_SERVICES_PORT: String(port),
      OMS_REFERENCE_STATE_FILE: stateFile,
      OMS_API_URL: omsApiUrl,
      OMS_SIMULATED_COURIER: "true",
      // Its "listening" line (info) tells when it is ready.
      OMS_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ready = new Promise<void>((resolve, reject) => {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("reference services listening")) resolve();
      // Only the tail is needed to find the line.
      output = output.slice(-200);
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`oms reference-services exited (${code ?? signal}) before listening`)),
    );
  });
  // A process killed before it listened is the test's doing, not a failure to report.
  ready.catch(() => {});
  return { child, ready };
}
