/** The compiled `oms dev` (dist/) as a user runs it, for end-to-end tests. */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

export interface DevProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export function startOmsDev(env: Record<string, string>): Promise<DevProcess> {
  const child = spawn(process.execPath, ["dist/src/cmd/oms.js", "dev"], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("oms is ready")) resolve({ child, output: () => output, exited });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`oms dev exited with ${code} before it was ready:\n${output}`)),
    );
  });
}
