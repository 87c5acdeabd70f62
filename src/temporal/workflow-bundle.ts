import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger as TemporalLogger } from "@temporalio/worker";
import type { Logger } from "pino";

const THIS_FILE = fileURLToPath(import.meta.url);
/** ".ts" when running from source (tsx, vitest), ".js" when compiled into dist/ by `npm run build`. */
const EXT = path.extname(THIS_FILE);
const SRC_DIR = path.resolve(path.dirname(THIS_FILE), "..");
const WORKFLOWS_ENTRY = path.join(SRC_DIR, "workflows", `index${EXT}`);
/** Everything the bundle can import besides the SDK: workflows and domain code. */
const BUNDLED_DIRS = [path.join(SRC_DIR, "workflows"), path.join(SRC_DIR, "domain")];

/**
 * The bundle `npm run build` writes next to the compiled code: dist/workflow-bundle.js,
 * with the hash of the compiled sources it was built from in a `.sha256` file beside it.
 */
export const PREBUILT_WORKFLOW_BUNDLE = path.resolve(SRC_DIR, "..", "workflow-bundle.js");

/**
 * The same workflows with OpenTelemetry's workflow interceptors bundled in
 * (their spans leave the sandbox through the worker's `exporter` sink). A
 * worker runs it only while tracing is on, so an untraced worker pays nothing
 * for tracing inside workflows.
 */
export const PREBUILT_TRACED_WORKFLOW_BUNDLE = path.resolve(
  SRC_DIR,
  "..",
  "workflow-bundle-traced.js",
);

/** The module that gives the traced bundle its workflow interceptors. */
const TRACING_INTERCEPTORS = createRequire(import.meta.url).resolve(
  "@temporalio/interceptors-opentelemetry/lib/workflow-interceptors",
);

export interface WorkflowBundleOptions {
  /** The bundle with tracing interceptors (see PREBUILT_TRACED_WORKFLOW_BUNDLE). */
  traced?: boolean;
}

/**
 * Returns the path of the workflow bundle for the current sources.
 *
 * Compiled (`npm run build`, then `node dist/...`): the prebuilt bundle, so a
 * production process never runs webpack and swc. From source (vitest, tsx):
 * builds it only when no bundle for these exact sources exists in `cacheDir`;
 * bundling takes seconds, so starts and test runs reuse it.
 */
export async function ensureWorkflowBundle(
  cacheDir: string,
  logger?: Logger,
  options: WorkflowBundleOptions = {},
): Promise<string> {
  const traced = options.traced === true;
  if (EXT === ".js") {
    const prebuilt = traced ? PREBUILT_TRACED_WORKFLOW_BUNDLE : PREBUILT_WORKFLOW_BUNDLE;
    if (!existsSync(prebuilt)) {
      throw new Error(`${prebuilt} is missing: run \`npm run build\``);
    }
    return prebuilt;
  }
  return cachedWorkflowBundle({
    workflowsPath: WORKFLOWS_ENTRY,
    sourceDirs: BUNDLED_DIRS,
    cacheDir,
    name: traced ? "workflow-bundle-traced" : "workflow-bundle",
    interceptorModules: traced ? [TRACING_INTERCEPTORS] : [],
    logger,
  });
}

/** Options of {@link cachedWorkflowBundle}. */
export interface CachedWorkflowBundleOptions {
  /** The bundle's entry: a module exporting the workflow functions. */
  workflowsPath: string;
  /** Every folder of source the entry can import besides the SDK; their files key the cache. */
  sourceDirs: readonly string[];
  cacheDir: string;
  /** The cached file is `<name>-<source hash>.js`. */
  name: string;
  /** Workflow interceptor modules bundled in (webpack's `workflowInterceptorModules`). */
  interceptorModules?: readonly string[];
  logger?: Logger | undefined;
}

/**
 * The path of a workflow bundle of `workflowsPath`, built now only when no
 * bundle of these exact sources (and SDK version) is in `cacheDir`. Tests
 * that replay variants of the workflow bundle them the same way.
 */
export async function cachedWorkflowBundle(options: CachedWorkflowBundleOptions): Promise<string> {
  const file = path.join(options.cacheDir, `${options.name}-${sourceHash(options.sourceDirs)}.js`);
  if (existsSync(file)) return file;
  await writeBundle(options.workflowsPath, file, options.interceptorModules ?? [], options.logger);
  return file;
}

/**
 * `npm run build`: writes PREBUILT_WORKFLOW_BUNDLE from the compiled
 * workflows unless it was already built from these exact sources.
 * Returns whether it built one.
 */
export async function buildPrebuiltWorkflowBundle(logger?: Logger): Promise<boolean> {
  const plain = await buildPrebuilt(PREBUILT_WORKFLOW_BUNDLE, [], logger);
  const traced = await buildPrebuilt(
    PREBUILT_TRACED_WORKFLOW_BUNDLE,
    [TRACING_INTERCEPTORS],
    logger,
  );
  return plain || traced;
}

async function buildPrebuilt(
  file: string,
  interceptorModules: readonly string[],
  logger: Logger | undefined,
): Promise<boolean> {
  const hashFile = `${file}.sha256`;
  const hash = sourceHash(BUNDLED_DIRS);
  if (existsSync(file) && existsSync(hashFile) && readFileSync(hashFile, "utf8").trim() === hash) {
    return false;
  }
  await writeBundle(WORKFLOWS_ENTRY, file, interceptorModules, logger);
  writeFileSync(hashFile, `${hash}\n`);
  return true;
}

async function writeBundle(
  workflowsPath: string,
  file: string,
  interceptorModules: readonly string[],
  logger: Logger | undefined,
): Promise<void> {
  const started = Date.now();
  // Imported only here: webpack and swc stay out of processes that do not bundle.
  const { bundleWorkflowCode } = await import("@temporalio/worker");
  const { code } = await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [...interceptorModules],
    // webpack's statistics are noise at every start; keep only its warnings.
    logger: quietLogger(logger),
  });
  mkdirSync(path.dirname(file), { recursive: true });
  // Write then rename, so a concurrent reader never sees half a bundle.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  logger?.info({ file, ms: Date.now() - started }, "workflow bundle built");
}

function quietLogger(logger: Logger | undefined): TemporalLogger {
  const drop = () => {};
  const warn = (message: string, meta?: Record<string, unknown>) =>
    logger?.warn(meta ?? {}, message);
  return { log: drop, trace: drop, debug: drop, info: drop, warn, error: warn };
}

function sourceHash(dirs: readonly string[]): string {
  const hash = createHash("sha256");
  for (const dir of dirs) {
    for (const file of listFiles(dir)) {
      hash.update(path.relative(SRC_DIR, file));
      hash.update(readFileSync(file));
    }
  }
  const sdkPackage = createRequire(import.meta.url).resolve("@temporalio/workflow/package.json");
  const sdk = JSON.parse(readFileSync(sdkPackage, "utf8")) as { version: string };
  hash.update(sdk.version);
  return hash.digest("hex").slice(0, 16);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(EXT) && !e.name.endsWith(`.test${EXT}`))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}
