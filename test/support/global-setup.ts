/**
 * Once per test run: one Temporal dev server (in memory, headless, on a free
 * port), one NATS server with JetStream (free port, temporary storage) and
 * one workflow bundle. Every test file attaches to them with its own
 * task queue and ids (see system.ts).
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startNatsServer } from "../../src/events/nats-server.js";
import { startDevServer } from "../../src/temporal/dev-server.js";
import { ensureWorkflowBundle } from "../../src/temporal/workflow-bundle.js";
import { freePort } from "./free-port.js";

declare module "vitest" {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
    /** A NATS server with JetStream (nats://host:port), for the order event tests. */
    natsUrl: string;
  }
}

const root = path.resolve(import.meta.dirname, "../..");

export default async function setup(project: TestProject) {
  const external = process.env.OMS_TEST_TEMPORAL_ADDRESS;
  const natsDir = mkdtempSync(path.join(tmpdir(), "oms-test-nats-"));
  const [server, bundle, nats] = await Promise.all([
    external
      ? Promise.resolve(undefined)
      : freePort().then((port) =>
          startDevServer({
            cliPath: path.join(root, ".tools/venv/bin/temporal"),
            port,
            // A namespace of its own proves nothing depends on "default".
            namespaces: ["oms-test"],
          }),
        ),
    ensureWorkflowBundle(path.join(root, ".oms/cache")),
    freePort().then((port) =>
      startNatsServer({
        binPath: path.join(root, ".tools/bin/nats-server"),
        port,
        storeDir: natsDir,
      }),
    ),
  ]);
  project.provide("temporalAddress", external ?? (server?.address as string));
  project.provide("workflowBundlePath", bundle);
  project.provide("natsUrl", nats.url);
  return async () => {
    await Promise.all([server?.stop(), nats.stop()]);
    rmSync(natsDir, { recursive: true, force: true });
  };
}
