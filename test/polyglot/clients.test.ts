/**
 * The example clients in clients/go (connect-go, gRPC protocol over h2c) and
 * clients/python (plain grpcio), built from proto/ by scripts/setup-polyglot.sh,
 * run against a real server. Each prints a JSON summary as its last line; this
 * test asserts on it. Missing Go or Python tooling fails the test (never skips):
 * the contract must stay usable from other languages.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSystem, type TestSystem } from "../support/system.js";

const root = path.resolve(import.meta.dirname, "../..");
const goClient = path.join(root, ".tools/bin/omsclient-go");
const python = path.join(root, ".tools/pyclient-venv/bin/python");
const pythonClient = path.join(root, "clients/python/omsclient.py");

interface Summary {
  submitted_status: string;
  got_status: string;
  cancelled: boolean;
  cancel_reason: string;
  not_found_code: string;
  not_found_reason: string;
  not_found_domain: string;
  invalid_code: string;
  invalid_reason: string;
  violations: string[];
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: root, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && !stderr ? String(err) : stderr });
      },
    );
  });
}

/** Runs a client and parses the JSON summary on the last line of its output. */
async function runClient(cmd: string, args: string[]): Promise<Summary> {
  const result = await run(cmd, args, 60_000);
  const output = `${cmd} ${args.join(" ")} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
  if (result.code !== 0) throw new Error(output);
  const last = result.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last) as Summary;
  } catch {
    throw new Error(`no JSON summary on the last line\n${output}`);
  }
}

function expectSummary(summary: Summary, cancelReason: string) {
  expect(summary).toMatchObject({
    submitted_status: "ORDER_STATUS_PENDING",
    got_status: "ORDER_STATUS_PENDING",
    cancelled: true,
    cancel_reason: cancelReason,
    not_found_code: "not_found",
    not_found_reason: "ORDER_NOT_FOUND",
    not_found_domain: "oms.example.com",
    invalid_code: "invalid_argument",
    invalid_reason: "INVALID_REQUEST",
  });
  expect(summary.violations).toContain("items");
}

describe("polyglot clients", () => {
  let sys: TestSystem | undefined;
  let setupError: unknown;

  /** The running system; rethrows a setup failure so every test FAILS with it (never skips). */
  function system(): TestSystem {
    if (setupError || !sys) throw setupError ?? new Error("setup did not run");
    return sys;
  }

  beforeAll(async () => {
    try {
      // Go, Python and their packages are part of this project's toolchain:
      // when they are missing, say so and fail rather than skip.
      const setup = await run("bash", [path.join(root, "scripts/setup-polyglot.sh")], 590_000);
      if (setup.code !== 0) {
        throw new Error(
          `scripts/setup-polyglot.sh failed (exit ${setup.code}); the Go and Python clients need ` +
            `go and python3 (with venv) on PATH and the Go module proxy and PyPI reachable.\n` +
            `${setup.stdout}\n${setup.stderr}`,
        );
      }
      for (const file of [goClient, python, pythonClient]) {
        if (!existsSync(file)) throw new Error(`${file} missing after setup-polyglot.sh`);
      }
      // Orders stay cancellable: fulfillment waits an hour.
      sys = await startTestSystem({ env: { OMS_FULFILLMENT_DELAY_MS: "3600000" } });
    } catch (err) {
      setupError = err;
    }
  }, 600_000);
  afterAll(async () => {
    await sys?.stop();
  });

  it("Go (connect-go, gRPC protocol over h2c) submits, gets, cancels and reads error details", async () => {
    const sys = system();
    const orderId = `go-${randomUUID()}`;
    const summary = await runClient(goClient, ["-url", sys.url, "-order-id", orderId]);
    expectSummary(summary, "omsclient-go");
    // What Go wrote is what every other client reads.
    const { order } = await sys.grpc.getOrder({ orderId });
    expect(order?.items.map((i) => i.sku)).toEqual(["SKU-GO-1"]);
    expect(order?.cancellation?.description).toBe("omsclient-go");
  });

  it("Python (grpcio) submits, gets, cancels and reads error details", async () => {
    const sys = system();
    const orderId = `py-${randomUUID()}`;
    const summary = await runClient(python, [
      pythonClient,
      "--target",
      `127.0.0.1:${sys.port}`,
      "--order-id",
      orderId,
    ]);
    expectSummary(summary, "omsclient-python");
    const { order } = await sys.grpc.getOrder({ orderId });
    expect(order?.items.map((i) => i.sku)).toEqual(["SKU-PY-1"]);
    expect(order?.cancellation?.description).toBe("omsclient-python");
  });
});
