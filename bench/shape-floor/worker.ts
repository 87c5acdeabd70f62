/**
 * The worker process of the bench's shape floor (workflow.ts): oms's own
 * worker factory (createOrderWorker: workflows in the main thread without the
 * SDK's promise hook or per-call time limit) and payload codec, with no-op
 * activities. Prints `booked <workflowId> <fulfillment>` for each booking, so
 * that the bench (the courier) reports it from another process, as oms's
 * courier does. Started by bench/run.ts with TEMPORAL_ADDRESS, the task queue
 * and the bench's keyring.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { NativeConnection } from "@temporalio/worker";
import type { Activities } from "../../src/activities/index.js";
import { payloadDataConverter } from "../../src/temporal/codec/data-converter.js";
import { readKeyringSetting } from "../../src/temporal/codec/keyring.js";
import { createOrderWorker } from "../../src/temporal/worker.js";
import { cachedWorkflowBundle } from "../../src/temporal/workflow-bundle.js";
import type { ShapeFloorActivities } from "./workflow.js";

const here = import.meta.dirname;
const address = process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233";
const taskQueue = process.env.BENCH_FLOOR_TASK_QUEUE ?? "bench-floor";

const activities: ShapeFloorActivities = {
  step: async (_name, payload) => payload.slice(0, 16),
  book: async (workflowId, fulfillment, payload) => {
    // After the activity's completion is on its way, as the reference courier reports.
    setImmediate(() => process.stdout.write(`booked ${workflowId} ${fulfillment}\n`));
    return payload.slice(0, 16);
  },
  save: async () => {},
};

const keys = process.env.OMS_PAYLOAD_KEYS;
if (keys === undefined) throw new Error("OMS_PAYLOAD_KEYS must be set (the bench's keyring)");
// As `oms worker` connects by default (OMS_WORKER_GRPC_COMPRESSION=none).
const connection = await NativeConnection.connect({ address, grpcCompression: { codec: "none" } });
const worker = await createOrderWorker({
  connection,
  namespace: "default",
  taskQueue,
  workflowBundlePath: await cachedWorkflowBundle({
    workflowsPath: path.join(here, "workflow.ts"),
    sourceDirs: [here],
    cacheDir: mkdtempSync(path.join(tmpdir(), "oms-floor-")),
    name: "shape-floor",
  }),
  activities: activities as unknown as Activities,
  dataConverter: payloadDataConverter(readKeyringSetting(keys)),
});
process.stdout.write("floor worker polling\n");
process.once("SIGTERM", () => worker.shutdown());
await worker.run();
await connection.close();
