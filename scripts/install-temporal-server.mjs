#!/usr/bin/env node
// Builds a real Temporal Server (the production tier: frontend, history,
// matching and worker services in one process, persisting to PostgreSQL) and
// its SQL schema tool from the Go module proxy, pinned, into the git-ignored
// .tools/temporal-server/ folder, and copies the PostgreSQL schema next to
// them. test/production/ runs oms against it.
//
// The build takes about 5 minutes and 2.5 GB of memory on 2 cores, so it runs
// only when the binaries are missing or at another version; `.ci/run` calls
// it during set-up, and the production-tier test calls it too so that
// `npm test` alone works on a fresh machine.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// 1.32.1 is the newest release that builds with the Go these machines have
// (later patch releases need a newer Go toolchain).
export const TEMPORAL_SERVER_VERSION = "v1.32.1";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const home = path.join(root, ".tools", "temporal-server");
const bin = path.join(home, "bin");
const stampFile = path.join(home, "version");

function go(args, env = {}) {
  const result = spawnSync("go", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  if (result.error) throw new Error(`go is needed to build the Temporal Server: ${result.error}`);
  if (result.status !== 0) throw new Error(`go ${args.join(" ")} failed (exit ${result.status})`);
  return result.stdout.trim();
}

const ready =
  existsSync(path.join(bin, "server")) &&
  existsSync(path.join(bin, "sql")) &&
  existsSync(path.join(home, "schema")) &&
  existsSync(stampFile) &&
  readFileSync(stampFile, "utf8").trim() === TEMPORAL_SERVER_VERSION;

if (!ready) {
  console.log(
    `setup: building Temporal Server ${TEMPORAL_SERVER_VERSION} and its SQL tool (Go module proxy) into .tools/temporal-server; this takes a few minutes once`,
  );
  rmSync(home, { recursive: true, force: true });
  mkdirSync(bin, { recursive: true });
  go(
    [
      "install",
      `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`,
      `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`,
    ],
    { GOBIN: bin },
  );
  // The versioned schema ships in the module, not in the binaries.
  const moduleDir = path.join(
    go(["env", "GOMODCACHE"]),
    `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`,
  );
  cpSync(path.join(moduleDir, "schema", "postgresql", "v12"), path.join(home, "schema"), {
    recursive: true,
  });
  writeFileSync(stampFile, `${TEMPORAL_SERVER_VERSION}\n`);
}
console.log(`setup: Temporal Server ${TEMPORAL_SERVER_VERSION} in .tools/temporal-server`);
