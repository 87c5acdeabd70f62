import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

/** Path of grpcurl (installed by scripts/setup.mjs); fails loudly when missing. */
export function grpcurlPath(): string {
  const bin = process.env.GRPCURL ?? path.join(root, ".tools/bin/grpcurl");
  if (!existsSync(bin)) {
    throw new Error(
      `grpcurl not found at ${bin}: run "npm run setup" (installs it from the Go module proxy)`,
    );
  }
  return bin;
}

export interface GrpcurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs grpcurl with the given arguments; never throws on a non-zero exit. */
export function grpcurl(args: string[], timeoutMs = 30_000): Promise<GrpcurlResult> {
  return new Promise((resolve) => {
    execFile(grpcurlPath(), args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
