/**
 * Measures the shape floor (workflow.ts) the way the bench measures orders:
 * sequential runs end to end, then a closed loop of `concurrency` callers with
 * the CPU-seconds per workflow of its worker process and of the Temporal dev
 * server, and the history cost of a few. The bench process is the courier: it
 * reads the worker's `booked` lines and reports DISPATCHED, then DELIVERED,
 * as Updates, as oms's courier does through the API.
 */
import type { Client } from "@temporalio/client";
import { onLines, type Spawned, treeCpuSeconds } from "../procs.js";
import { median, percentiles, runConcurrently, timeEach } from "../stats.js";
import { reportShipment } from "./workflow.js";

export interface ShapeFloor {
  sequentialMs: ReturnType<typeof percentiles>;
  perSecond: number;
  cpuSecondsPerWorkflow: { worker: number; server: number };
  events: number;
  workflowTasks: number;
  localActivityMarkers: number;
}

/** About the size of an order's saved state: the payload codec does the same work. */
const PAYLOAD = "x".repeat(2_000);

export async function measureShapeFloor(options: {
  client: Client;
  /** The running floor worker (worker.ts). */
  worker: Spawned;
  taskQueue: string;
  serverPid: number;
  sequential: number;
  workflows: number;
  concurrency: number;
  runId: string;
}): Promise<ShapeFloor> {
  const { client, worker, taskQueue, runId } = options;
  const stdout = worker.child.stdout;
  if (stdout === null) throw new Error("the floor worker was started without a stdout pipe");
  const reports: Promise<unknown>[] = [];
  onLines(stdout, (line) => {
    const booked = /^booked (\S+) ([01])$/.exec(line);
    if (booked === null) return;
    const handle = client.workflow.getHandle(booked[1] as string);
    const fulfillment = Number(booked[2]);
    reports.push(
      handle
        .executeUpdate(reportShipment, { args: [fulfillment, "DISPATCHED"] })
        .then(() => handle.executeUpdate(reportShipment, { args: [fulfillment, "DELIVERED"] })),
    );
  });
  const run = (i: number) =>
    client.workflow.execute("shapeFloorWorkflow", {
      taskQueue,
      workflowId: `${runId}-floor-${i}`,
      args: [PAYLOAD],
    });

  await timeEach(5, (i) => run(100_000 + i));
  const sequentialMs = percentiles(await timeEach(options.sequential, run));
  await runConcurrently(options.concurrency, options.concurrency, (i) => run(200_000 + i));
  const before = { worker: treeCpuSeconds(worker.pid), server: treeCpuSeconds(options.serverPid) };
  const loop = await runConcurrently(options.workflows, options.concurrency, (i) =>
    run(300_000 + i),
  );
  const cpuSecondsPerWorkflow = {
    worker: (treeCpuSeconds(worker.pid) - before.worker) / options.workflows,
    server: (treeCpuSeconds(options.serverPid) - before.server) / options.workflows,
  };
  await Promise.all(reports);

  const costs = await Promise.all(
    Array.from({ length: Math.min(5, options.sequential) }, async (_, i) => {
      const history = await client.workflow.getHandle(`${runId}-floor-${i}`).fetchHistory();
      const events = history.events ?? [];
      return {
        events: events.length,
        tasks: events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
        markers: events.filter(
          (e) => e.markerRecordedEventAttributes?.markerName === "core_local_activity",
        ).length,
      };
    }),
  );
  return {
    sequentialMs,
    perSecond: (options.workflows * 1000) / loop.wallMs,
    cpuSecondsPerWorkflow,
    events: median(costs.map((c) => c.events)),
    workflowTasks: median(costs.map((c) => c.tasks)),
    localActivityMarkers: median(costs.map((c) => c.markers)),
  };
}
