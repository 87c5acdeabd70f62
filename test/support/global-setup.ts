/**
 * Once per test run: one Temporal dev server (in memory, headless, on a free
 * port) and one workflow bundle. Every test file attaches to them with its own
 * task queue and ids (see system.ts).
 */
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startDevServer } from "../../src/temporal/dev-server.js";
import { ensureWorkflowBundle } from "../../src/temporal/workflow-bundle.js";
import { freePort } from "./free-port.js";

declare module "vitest" {
  export interface ProvidedContext {
    temporalAddress: string;
    workflowBundlePath: string;
  }
}

const root = path.resolve(import.meta.dirname, "../..");

export default async function setup(project: TestProject) {
  const external = process.env.OMS_TEST_TEMPORAL_ADDRESS;
  const [server, bundle] = await Promise.all([
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
  ]);
  project.provide("temporalAddress", external ?? (server?.address as string));
  project.provide("workflowBundlePath", bundle);
  return async () => {
    await server?.stop();
  };
}
