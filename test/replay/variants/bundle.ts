/**
 * Workflow bundles of the variants beside this file, built like the
 * production bundle (src/temporal/workflow-bundle.ts) and cached in
 * .oms/cache under a hash of everything they can import, so only the first
 * test run after a change to the workflows pays for webpack.
 */
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
import { bundleWorkflowCode } from "@temporalio/worker";

export type Variant = "unguarded" | "patched" | "deprecated";

const root = path.resolve(import.meta.dirname, "../../..");
const cacheDir = path.join(root, ".oms/cache");
const sources = [
  import.meta.dirname,
  path.join(root, "src/workflows"),
  path.join(root, "src/domain"),
];

/** The path of the variant's bundle, built now unless one for these exact sources exists. */
export async function variantBundle(variant: Variant): Promise<string> {
  const file = path.join(cacheDir, `variant-${variant}-${sourceHash()}.js`);
  if (existsSync(file)) return file;
  const drop = () => {};
  const { code } = await bundleWorkflowCode({
    workflowsPath: path.join(import.meta.dirname, `${variant}.ts`),
    logger: { log: drop, trace: drop, debug: drop, info: drop, warn: drop, error: console.error },
  });
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  return file;
}

function sourceHash(): string {
  const hash = createHash("sha256");
  for (const dir of sources) {
    const files = readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts"))
      .map((e) => path.join(e.parentPath, e.name))
      .sort();
    for (const file of files) {
      hash.update(path.relative(root, file));
      hash.update(readFileSync(file));
    }
  }
  const sdk = createRequire(import.meta.url).resolve("@temporalio/workflow/package.json");
  hash.update((JSON.parse(readFileSync(sdk, "utf8")) as { version: string }).version);
  return hash.digest("hex").slice(0, 16);
}
