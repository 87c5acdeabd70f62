#!/usr/bin/env node
// npm install's last step (package.json "postinstall"): sets up everything
// `npm start` needs, so that it starts at once after the install.
//   1. the Temporal CLI for the embedded dev server (scripts/setup.mjs --runtime)
//   2. dist/: the compiled code and workflow bundles (scripts/build.mjs)
//   3. grpcurl, only a developer's convenience: built in the background
// A tool that cannot be installed now (no Python, no network) is a warning,
// not a failed install: `npm start` tries again and then says what is wrong.
// An install without devDependencies (`npm ci --omit=dev`) skips the build:
// production images run `npm run build` where TypeScript is installed.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const node = (script, ...args) =>
  spawnSync(process.execPath, [path.join(root, "scripts", script), ...args], {
    cwd: root,
    stdio: "inherit",
  }).status;

if (node("setup.mjs", "--runtime") !== 0) {
  console.warn(
    "postinstall: the Temporal CLI could not be installed now; `npm start` will try again",
  );
}

let haveTypeScript = true;
try {
  createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  haveTypeScript = false;
}
if (haveTypeScript) {
  if (node("build.mjs") !== 0) process.exit(1);
} else {
  console.warn(
    "postinstall: no TypeScript (devDependencies omitted): run `npm run build` before starting",
  );
}

node("setup.mjs", "--grpcurl-background");
