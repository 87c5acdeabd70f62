/**
 * `oms load`: a load generator to point at any OMS deployment. A client only:
 * it needs no configuration besides its flags and starts nothing.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Interceptor } from "@connectrpc/connect";
import { staticBearer, tokenFileBearer } from "../clients/credentials.js";
import { DEFAULT_MIX, parseMix } from "./mix.js";
import { formatProgress, formatReport } from "./report.js";
import { type LoadOptions, type LoadProgress, type LoadResult, runLoad } from "./run.js";

export const LOAD_USAGE = `usage: oms load [flags]
  --address URL       OMS API, http://host:port or host:port (default http://localhost:50051)
  --orders N          orders to submit (default 100)
  --concurrency C     orders in flight at once (default 16)
  --sequential        the same as --concurrency 1
  --mix SPEC          weights of the order kinds
                      (default two-warehouse=80,out-of-stock=5,cancel=10,declined=5)
  --run-id ID         prefix of the order ids (default load-<random>)
  --timeout T         per order, submit to terminal status: 90s, 2m, 500ms (default 120s)
  --token TOKEN       bearer token for an API that authenticates (orders.write and
                      orders.read, or admin); or OMS_LOAD_TOKEN
  --token-file PATH   the same, read from a file (read again when it changes)
  --cacert PATH       CA that signed an https API's certificate
  --cert PATH         client certificate for an mTLS API (with --key)
  --key PATH          its private key
  --json              print the result as JSON on stdout
  -h, --help          this text
`;

export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses `--timeout` values: "90s", "2m", "500ms", or a bare number of seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null)
    throw new UsageError(`--timeout: expected e.g. 90s, 2m or 500ms, got "${text}"`);
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  const ms = unit === "ms" ? value : unit === "m" ? value * 60_000 : value * 1_000;
  if (ms <= 0) throw new UsageError("--timeout must be more than 0");
  return ms;
}

/** `host:port` → `http://host:port`; URLs are kept. */
export function normalizeAddress(text: string): string {
  const value = text.trim();
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--address: expected http://host:port or host:port, got "${text}"`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`--address: only http:// (h2c) and https:// are supported, got "${text}"`);
  }
  return url.replace(/\/+$/, "");
}

function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${flag}: expected a whole number >= 1, got "${text}"`);
  }
  return n;
}

export interface LoadCommand {
  options: Omit<LoadOptions, "signal" | "onProgress" | "transport" | "credentials">;
  /** Where the credentials come from (files are read when the run starts). */
  credentials: {
    token: string | undefined;
    tokenFile: string | undefined;
    caFile: string | undefined;
    certFile: string | undefined;
    keyFile: string | undefined;
  };
  json: boolean;
  help: boolean;
}

/** Parses the flags of `oms load` (without the command name); throws UsageError. */
export function parseLoadArgs(
  args: string[],
  env: Record<string, string | undefined> = {},
): LoadCommand {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(args).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const runId = values["run-id"] ?? `load-${randomBytes(4).toString("hex")}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$/.test(runId)) {
    throw new UsageError(
      `--run-id: up to 40 letters, digits, ".", "_", ":" or "-", starting with a letter or digit; got "${runId}"`,
    );
  }
  let mix = { ...DEFAULT_MIX };
  if (values.mix !== undefined) {
    try {
      mix = parseMix(values.mix);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const token = values.token ?? env.OMS_LOAD_TOKEN;
  if (token !== undefined && values["token-file"] !== undefined) {
    throw new UsageError("--token and --token-file: give one or the other");
  }
  if ((values.cert === undefined) !== (values.key === undefined)) {
    throw new UsageError("--cert and --key go together");
  }
  const address = normalizeAddress(values.address ?? "http://localhost:50051");
  if (
    (values.cacert !== undefined || values.cert !== undefined) &&
    !address.startsWith("https://")
  ) {
    throw new UsageError("--cacert, --cert and --key need an https:// --address");
  }
  const concurrency = positiveInt("--concurrency", values.concurrency, 16);
  if (values.sequential && values.concurrency !== undefined && concurrency !== 1) {
    throw new UsageError("--sequential is --concurrency 1: give one or the other");
  }
  return {
    options: {
      address,
      orders: positiveInt("--orders", values.orders, 100),
      concurrency: values.sequential ? 1 : concurrency,
      mix,
      runId,
      timeoutMs: values.timeout === undefined ? 120_000 : parseDuration(values.timeout),
    },
    credentials: {
      token,
      tokenFile: values["token-file"],
      caFile: values.cacert,
      certFile: values.cert,
      keyFile: values.key,
    },
    json: values.json ?? false,
    help: values.help ?? false,
  };
}

/** The run's credentials from the flags: a bearer token (fixed or from a file) and TLS files. */
function loadCredentials(from: LoadCommand["credentials"]): LoadOptions["credentials"] {
  const { token, tokenFile, caFile, certFile, keyFile } = from;
  const interceptors: Interceptor[] = [];
  if (token !== undefined) interceptors.push(staticBearer(token));
  if (tokenFile !== undefined) {
    readFileSync(tokenFile); // fails now, as a usage error, if it cannot be read
    interceptors.push(tokenFileBearer(tokenFile));
  }
  return {
    interceptors,
    tls: {
      ...(caFile !== undefined ? { ca: readFileSync(caFile) } : {}),
      ...(certFile !== undefined && keyFile !== undefined
        ? { cert: readFileSync(certFile), key: readFileSync(keyFile) }
        : {}),
    },
  };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      address: { type: "string" },
      orders: { type: "string" },
      concurrency: { type: "string" },
      sequential: { type: "boolean" },
      mix: { type: "string" },
      "run-id": { type: "string" },
      timeout: { type: "string" },
      token: { type: "string" },
      "token-file": { type: "string" },
      cacert: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

export interface LoadCommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Ctrl-C: stop submitting and report what was done. */
  signal?: AbortSignal;
  /** Where OMS_LOAD_TOKEN is read; process.env by default. */
  env?: Record<string, string | undefined>;
}

/** Runs `oms load` with its flags; resolves with the process exit code. */
export async function runLoadCommand(
  args: string[],
  io: LoadCommandIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let command: LoadCommand;
  let credentials: LoadOptions["credentials"];
  try {
    command = parseLoadArgs(args, io.env ?? process.env);
    credentials = loadCredentials(command.credentials);
  } catch (err) {
    if (!(err instanceof UsageError) && (err as NodeJS.ErrnoException).code === undefined)
      throw err;
    io.stderr.write(`oms load: ${(err as Error).message}\n\n${LOAD_USAGE}`);
    return 2;
  }
  if (command.help) {
    io.stdout.write(LOAD_USAGE);
    return 0;
  }
  const { options } = command;
  const tty = io.stderr.isTTY === true;
  if (tty) {
    io.stderr.write(
      `oms load: ${options.orders} orders against ${options.address}, concurrency ${options.concurrency}, run ${options.runId}\n`,
    );
  }
  // The bar is redrawn on a timer (rates keep moving while orders are in flight), and at the end.
  const start = Date.now();
  let latest: LoadProgress = { total: options.orders, accepted: 0, done: 0, elapsedMs: 0 };
  const draw = () => io.stderr.write(formatProgress({ ...latest, elapsedMs: Date.now() - start }));
  const timer = tty ? setInterval(draw, 250) : undefined;
  let result: LoadResult;
  try {
    result = await runLoad({
      ...options,
      credentials,
      signal: io.signal,
      onProgress: (p) => {
        latest = p;
      },
    });
  } finally {
    clearInterval(timer);
  }
  if (tty) io.stderr.write(`${formatProgress(latest)}\n`);
  io.stdout.write(command.json ? `${JSON.stringify(result, null, 2)}\n` : formatReport(result));
  return result.ok ? 0 : 1;
}
