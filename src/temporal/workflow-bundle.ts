import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundleWorkflowCode, type Logger as TemporalLogger } from "@temporalio/worker";
import type { Logger } from "pino";

const SRC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORKFLOWS_ENTRY = path.join(SRC_DIR, "workflows", "index.ts");
/** Everything the bundle can import besides the SDK: workflows and domain code. */
const BUNDLED_DIRS = [path.join(SRC_DIR, "workflows"), path.join(SRC_DIR, "domain")];

/**
 * Returns the path of the workflow bundle for the current sources, building
 * it only when no bundle for these exact sources exists in `cacheDir`.
 * Bundling (webpack + swc) takes seconds; starts and test runs reuse it.
 */
export async function ensureWorkflowBundle(cacheDir: string, logger?: Logger): Promise<string> {
  const file = path.join(cacheDir, `workflow-bundle-${sourceHash()}.js`);
  try {
    readFileSync(file, { flag: "r" });
    return file;
  } catch {
    // Not built yet for these sources.
  }
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_ENTRY,
    // webpack's statistics are noise at every start; keep only its warnings.
    logger: quietLogger(logger),
  });
  mkdirSync(cacheDir, { recursive: true });
  // Write then rename, so a concurrent reader never sees half a bundle.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  logger?.info({ file, ms: Date.now() - started }, "workflow bundle built");
  return file;
}

function quietLogger(logger: Logger | undefined): TemporalLogger {
  const drop = () => {};
  const warn = (message: string, meta?: Record<string, unknown>) =>
    logger?.warn(meta ?? {}, message);
  return { log: drop, trace: drop, debug: drop, info: drop, warn, error: warn };
}

function sourceHash(): string {
  const hash = createHash("sha256");
  for (const dir of BUNDLED_DIRS) {
    for (const file of listFiles(dir)) {
      hash.update(path.relative(SRC_DIR, file));
      hash.update(readFileSync(file));
    }
  }
  const sdk = JSON.parse(
    readFileSync(
      path.join(SRC_DIR, "..", "node_modules", "@temporalio", "workflow", "package.json"),
      "utf8",
    ),
  ) as { version: string };
  hash.update(sdk.version);
  return hash.digest("hex").slice(0, 16);
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}
