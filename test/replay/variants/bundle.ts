/**
 * Workflow bundles of the variants beside this file, built and cached in
 * .oms/cache exactly like the production bundle (src/temporal/workflow-bundle.ts),
 * so only the first test run after a change to the workflows pays for webpack.
 */
import path from "node:path";
import { cachedWorkflowBundle } from "../../../src/temporal/workflow-bundle.js";

export type Variant = "unguarded" | "patched" | "deprecated";

const root = path.resolve(import.meta.dirname, "../../..");

/** The path of the variant's bundle, built now unless one for these exact sources exists. */
export function variantBundle(variant: Variant): Promise<string> {
  return cachedWorkflowBundle({
    workflowsPath: path.join(import.meta.dirname, `${variant}.ts`),
    sourceDirs: [
      import.meta.dirname,
      path.join(root, "src/workflows"),
      path.join(root, "src/domain"),
    ],
    cacheDir: path.join(root, ".oms/cache"),
    name: `variant-${variant}`,
  });
}
