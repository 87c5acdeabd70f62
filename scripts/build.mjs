#!/usr/bin/env node
/**
 * `npm run build`: compiles src/ and gen/ into dist/ so production processes
 * run plain JavaScript (`node dist/src/cmd/oms.js <command>`, or the `oms`
 * bin) instead of compiling TypeScript at start.
 *
 *   1. tsc -b tsconfig.build.json: emit only (type checking is
 *      `npm run typecheck`), incremental: skipped when dist/ is up to date
 *   2. the files src/ reads at run time next to itself (JSON catalogs), the
 *      generated protobuf JavaScript in gen/ and descriptors/oms.binpb,
 *      copied to the same relative places under dist/
 *   3. dist/workflow-bundle.js, bundled once from the compiled workflows
 *      (webpack + swc), so workers never bundle at start
 *
 * Prints nothing when dist/ was already up to date (so `npm run oms` can
 * build first), and its own lines on stderr.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
const started = Date.now();

// 1. TypeScript → JavaScript.
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
const compiled = spawnSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], {
  cwd: root,
  // Compiler errors on stderr too: stdout belongs to the command that runs after the build.
  stdio: ["ignore", 2, 2],
});
if (compiled.status !== 0) {
  console.error(`build: tsc failed (exit ${compiled.status ?? compiled.signal})`);
  process.exit(1);
}

// 2. Run-time files that are not TypeScript.
let copied = 0;
copyTree("src", (name) => !name.endsWith(".ts"));
copyTree("gen", (name) => name.endsWith(".js"));
copyFile("descriptors/oms.binpb");
chmodSync(path.join(dist, "src/cmd/oms.js"), 0o755);

// 3. The workflow bundle, from the compiled workflows.
const { buildPrebuiltWorkflowBundle } = await import(
  pathToFileURL(path.join(dist, "src/temporal/workflow-bundle.js")).href
);
const log = (meta, message) =>
  console.error(`build: ${message ?? ""} ${JSON.stringify(meta ?? {})}`);
const bundled = await buildPrebuiltWorkflowBundle({ info: log, warn: log });

if (bundled || copied > 0 || Date.now() - started > 5_000) {
  console.error(`build: dist/ ready in ${Date.now() - started} ms`);
}

function copyTree(dir, wanted) {
  for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && wanted(entry.name)) {
      copyFile(path.relative(root, path.join(entry.parentPath, entry.name)));
    }
  }
}

/** Copies root/file to dist/file unless the copy is already as new as the original. */
function copyFile(file) {
  const from = path.join(root, file);
  const to = path.join(dist, file);
  const source = statSync(from);
  const target = statSync(to, { throwIfNoEntry: false });
  if (target && target.mtimeMs >= source.mtimeMs && target.size === source.size) return;
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied++;
}
