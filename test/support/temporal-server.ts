/**
 * A real Temporal Server for the production-tier tests: the four services in
 * one process, persisting to PostgreSQL (scripts/install-temporal-server.mjs
 * builds it into .tools/temporal-server), with its own databases on the
 * given test PostgreSQL, on free loopback ports, and one namespace.
 *
 * It is configured as a small production cluster would be, not as the dev
 * server: four history shards, the SQL persistence plugin, visibility in
 * PostgreSQL. Only the version check (offline here) is switched off, and
 * task queues get one partition so a backlog drains in order.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Client, Connection } from "@temporalio/client";
import { msToTs } from "@temporalio/common/lib/time.js";
import { freePort } from "./free-port.js";
import type { TestPostgres } from "./postgres.js";

const root = path.resolve(import.meta.dirname, "../..");
const home = path.join(root, ".tools/temporal-server");

export interface RunningTemporalServer {
  /** host:port of the frontend. */
  address: string;
  namespace: string;
  /** Stops the server (SIGTERM, then SIGKILL) and deletes its folder. */
  stop(): Promise<void>;
}

/** Builds the server when missing (minutes, once per machine). */
export function ensureTemporalServerBuilt(): void {
  execFileSync(process.execPath, [path.join(root, "scripts/install-temporal-server.mjs")], {
    cwd: root,
    stdio: "inherit",
  });
}

export async function startTemporalServer(
  pg: TestPostgres,
  namespace = "oms-production",
): Promise<RunningTemporalServer> {
  const admin = new URL(pg.adminUrl);
  const databases = {
    temporal: databaseName(await pg.createDatabase()),
    visibility: databaseName(await pg.createDatabase()),
  };
  for (const [store, db] of Object.entries(databases)) {
    const sql = (...args: string[]) =>
      execFileSync(
        path.join(home, "bin/sql"),
        [
          "--plugin",
          "postgres12",
          "--ep",
          admin.hostname,
          "--port",
          admin.port,
          "--user",
          admin.username,
          "--db",
          db,
          ...args,
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
    sql("setup-schema", "-v", "0.0");
    sql("update-schema", "-d", path.join(home, "schema", store, "versioned"));
  }

  const dir = mkdtempSync(path.join(tmpdir(), "oms-temporal-"));
  const ports = {
    frontend: await freePort(),
    frontendHttp: await freePort(),
    frontendMembership: await freePort(),
    history: await freePort(),
    historyMembership: await freePort(),
    matching: await freePort(),
    matchingMembership: await freePort(),
    worker: await freePort(),
    workerMembership: await freePort(),
  };
  const datastore = (db: string, maxConns: number) => ({
    sql: {
      pluginName: "postgres12",
      databaseName: db,
      connectAddr: `${admin.hostname}:${admin.port}`,
      connectProtocol: "tcp",
      user: admin.username,
      password: "",
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: "1h",
    },
  });
  const service = (grpcPort: number, membershipPort: number, httpPort?: number) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...(httpPort ? { httpPort } : {}) },
  });
  // JSON is YAML: the server reads this file with its YAML loader.
  const config = {
    log: { stdout: true, level: "warn" },
    persistence: {
      defaultStore: "default",
      visibilityStore: "visibility",
      numHistoryShards: 4,
      datastores: {
        default: datastore(databases.temporal, 20),
        visibility: datastore(databases.visibility, 4),
      },
    },
    global: { membership: { maxJoinDuration: "30s", broadcastAddress: "127.0.0.1" } },
    services: {
      frontend: service(ports.frontend, ports.frontendMembership, ports.frontendHttp),
      history: service(ports.history, ports.historyMembership),
      matching: service(ports.matching, ports.matchingMembership),
      worker: service(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: "active",
      currentClusterName: "active",
      clusterInformation: {
        active: {
          enabled: true,
          initialFailoverVersion: 1,
          rpcName: "frontend",
          rpcAddress: `127.0.0.1:${ports.frontend}`,
        },
      },
    },
    dcRedirectionPolicy: { policy: "noop" },
    dynamicConfigClient: { filepath: path.join(dir, "dynamic.yaml"), pollInterval: "10s" },
  };
  writeFileSync(path.join(dir, "server.yaml"), JSON.stringify(config, null, 2));
  const dynamic = {
    "frontend.enableServerVersionCheck": [{ value: false }],
    "matching.numTaskqueueReadPartitions": [{ value: 1 }],
    "matching.numTaskqueueWritePartitions": [{ value: 1 }],
    "history.transferProcessorMaxPollRPS": [{ value: 1000 }],
  };
  writeFileSync(path.join(dir, "dynamic.yaml"), JSON.stringify(dynamic, null, 2));

  const child = spawn(
    path.join(home, "bin/server"),
    ["--config-file", path.join(dir, "server.yaml"), "--allow-no-auth", "start"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8_000);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const address = `127.0.0.1:${ports.frontend}`;
  try {
    await registerNamespace(address, namespace, child);
  } catch (error) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Temporal Server did not start: ${(error as Error).message}\n${output}`);
  }
  return {
    address,
    namespace,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function databaseName(url: string): string {
  return new URL(url).pathname.slice(1);
}

/** Waits for the frontend, registers the namespace, and waits until it answers. */
async function registerNamespace(
  address: string,
  namespace: string,
  child: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  let connection: Connection | undefined;
  while (connection === undefined) {
    if (exited) throw new Error("the server process exited");
    try {
      connection = await Connection.connect({ address, connectTimeout: 1_000 });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(200);
    }
  }
  try {
    for (;;) {
      try {
        await connection.workflowService.registerNamespace({
          namespace,
          workflowExecutionRetentionPeriod: msToTs("1 day"),
        });
        break;
      } catch (error) {
        // ALREADY_EXISTS after a retry whose first attempt did register it.
        if ((error as { code?: number }).code === 6) break;
        if (exited || Date.now() > deadline) throw error;
        await sleep(200);
      }
    }
    // A new namespace reaches each service's cache asynchronously (up to
    // its refresh interval): ready once a workflow can be started in it.
    const client = new Client({ connection, namespace });
    for (;;) {
      try {
        const probe = await client.workflow.start("readinessProbe", {
          taskQueue: "readiness-probe",
          workflowId: `readiness-probe-${Date.now()}`,
        });
        await probe.terminate("readiness probe");
        return;
      } catch (error) {
        if (exited || Date.now() > deadline) throw error;
        await sleep(250);
      }
    }
  } finally {
    await connection.close();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
