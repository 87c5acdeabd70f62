/**
 * npm run bench: every cost and speed target of the production topology,
 * measured side by side in one run on this machine.
 *
 * Topology (as in production, only on one machine): one Temporal dev server
 * (startDevServer: SQLite file, WAL, synchronous=normal,
 * transferProcessorMaxPollRPS=1000) and the compiled processes, started as
 * production starts them: `bin/oms reference-services | api | worker` (the
 * package's bin, on the dist/ that the `prebench` script builds). They share
 * the SQLite read model through OMS_DATA_DIR. The
 * reference services stock the load catalog and run an instant simulated
 * courier. This process is only the client: it drives the API with `runLoad`
 * (src/load) and its own loops, reads histories with the Temporal client, and
 * reads each process's CPU time and RSS from /proc.
 *
 * Phases: sequential orders (SubmitOrder, read-your-writes, end to end) →
 * throughput (BENCH_ORDERS two-warehouse orders at BENCH_CONCURRENCY callers;
 * CPU per order and max RSS per process) → cost per order from the histories
 * of BENCH_COST_ORDERS of them (events, tasks, estimated Temporal Cloud
 * Actions) → the dev server's ceiling (minimal workflows/s) → reads (GetOrder,
 * ListOrders) → GetOrder through `oms api` (Connect) vs a bare @grpc/grpc-js
 * server on the same read model → worker memory with BENCH_ORDERS orders in
 * flight at once (waiting for a customer decision). Then one table: figure, value, target,
 * reference OMS value, ✓/✗. `--json[=path]` or BENCH_JSON=1 also writes every
 * figure as JSON (default .oms/bench.json).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Client, Connection, WorkflowNotFoundError } from "@temporalio/client";
import { DefaultLogger, NativeConnection, Runtime, Worker } from "@temporalio/worker";
import { OrderStatus } from "../gen/oms/v1/order_pb.js";
import { OrderService } from "../gen/oms/v1/order_service_pb.js";
import { orderWorkflowId } from "../src/domain/ids.js";
import { orderRequest } from "../src/load/mix.js";
import { type LoadResult, runLoad } from "../src/load/run.js";
import { payloadDataConverter } from "../src/temporal/codec/data-converter.js";
import { readKeyringSetting } from "../src/temporal/codec/keyring.js";
import { type DevServer, startDevServer } from "../src/temporal/dev-server.js";
import { collectRpcDurations } from "./access-log.js";
import { type ActionEstimate, type BillingHistoryEvent, billableActions } from "./actions.js";
import { criticalPath } from "./critical-path.js";
import { getOrderClient } from "./grpc-get-order.js";
import {
  CLOCK_TICKS,
  commandLine,
  descendants,
  type Spawned,
  spawnProcess,
  startRssSampler,
  treeCpuSeconds,
  treeRssBytes,
} from "./procs.js";
import { measureShapeFloor } from "./shape-floor/measure.js";
import { fmtMs, median, percentiles, runConcurrently, timeEach } from "./stats.js";

const root = path.resolve(import.meta.dirname, "..");
const intEnv = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const ORDERS = intEnv("BENCH_ORDERS", 400);
const CONCURRENCY = intEnv("BENCH_CONCURRENCY", 16);
const SEQUENTIAL = intEnv("BENCH_SEQUENTIAL", 30);
const COST_ORDERS = Math.min(ORDERS, intEnv("BENCH_COST_ORDERS", 20));
const MINIMAL = intEnv("BENCH_MINIMAL", 200);
const READS = intEnv("BENCH_READS", 500);
/** Workflows of the shape floor's closed loop (bench/shape-floor). */
const FLOOR = intEnv("BENCH_FLOOR", 100);
/**
 * The API's WatchOrder poll (OMS_WATCH_POLL_INTERVAL_MS): production's default
 * unless BENCH_WATCH_POLL_MS is set. End-to-end times seen through WatchOrder
 * are rounded up by at most one poll.
 */
const WATCH_POLL_MS = intEnv("BENCH_WATCH_POLL_MS", 200);
/**
 * Extra environment for every oms process, `NAME=value` separated by spaces
 * (BENCH_PROCESS_ENV="OMS_HEAP_GROWING_PERCENT=0 MALLOC_ARENA_MAX=2"): to
 * measure a setting side by side with the defaults. The bench's own OMS_*
 * variables are not passed on; these are, and the table's header shows them.
 */
const PROCESS_ENV_EXTRA: Record<string, string> = Object.fromEntries(
  (process.env.BENCH_PROCESS_ENV ?? "")
    .split(/\s+/)
    .filter((kv) => kv.includes("="))
    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);

/** The targets, per two-fulfillment order where it applies (from our issue). */
const TARGET = {
  historyEvents: 83,
  workflowTasks: 15,
  workflows: 1,
  submitOrderSequentialP50Ms: 7,
  sequentialEndToEndP50Ms: 170,
  completedPerSecond: 7,
  submitOrderP99Ms: 100,
  cpuTotalSeconds: 0.25,
  cpuWorkerSeconds: 0.06,
  rssApiMb: 150,
  rssWorkerMb: 300,
} as const;

/**
 * The reference OMS: Temporal's Go reference application, measured on this
 * machine kind on 2026-11-29 with the same dev server flags (from our issue).
 * Constants, printed beside our figures; this bench does not measure them.
 */
const REFERENCE_OMS = {
  historyEvents: "170",
  workflowTasks: "31",
  workflows: "5",
  submitOrderSequentialP50: "5.5–6.2 ms",
  sequentialEndToEndP50: "330–343 ms",
  completedPerSecond: "3.4–3.6",
  cpuTotal: "0.48 s (0.42+0.04+0.02)",
  cpuServer: "0.42 s",
  cpuWorker: "0.04 s",
  cpuApi: "0.02 s",
  rssApi: "47 MB",
  rssWorker: "54 MB",
} as const;

const jsonFlag = process.argv.slice(2).find((a) => a === "--json" || a.startsWith("--json="));
const jsonPath =
  jsonFlag !== undefined || /^(1|true)$/i.test(process.env.BENCH_JSON ?? "")
    ? path.resolve(jsonFlag?.split("=")[1] || path.join(root, ".oms/bench.json"))
    : undefined;

// ---------------------------------------------------------------------------
// Processes, and cleaning them up whatever happens.

const dir = mkdtempSync(path.join(tmpdir(), "oms-bench-"));
const spawned: Spawned[] = [];
let temporal: DevServer | undefined;
let temporalPid: number | undefined;
let minimalWorker: Worker | undefined;
const abort = new AbortController();
let fatal: Error | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (minimalWorker?.getState() === "RUNNING") minimalWorker.shutdown();
    await Promise.all(spawned.map((s) => s.stop(5_000).catch(() => {})));
    await temporal?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
// Last resort (interrupted while starting, or an exception that skipped
// cleanup): nothing this process started outlives it.
process.on("exit", () => {
  for (const pid of descendants(process.pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});
for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping every process\n`);
    fatal ??= new Error(`interrupted (${signal})`);
    abort.abort();
    void cleanup().finally(() => process.exit(code));
  });
}

function check(): void {
  if (fatal) throw fatal;
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(OMS_|TEMPORAL_)/.test(k)) env[k] = v;
  }
  return {
    ...env,
    OMS_DATA_DIR: dir,
    OMS_CACHE_DIR: path.join(dir, "cache"),
    // The production shape: payloads encrypted; the bench's own clients hold no credentials.
    OMS_PAYLOAD_KEYS: BENCH_PAYLOAD_KEYS,
    OMS_AUTH: "none",
    // BENCH_SLA=off: orders without SLA clocks, to measure what the clocks cost.
    ...(process.env.BENCH_SLA === "off"
      ? {
          OMS_SLA_AUTHORIZED_WITHIN_MS: "0",
          OMS_SLA_DISPATCHED_WITHIN_MS: "0",
          OMS_SLA_DELIVERED_WITHIN_MS: "0",
        }
      : {}),
    ...extra,
    ...PROCESS_ENV_EXTRA,
  };
}

const BENCH_PAYLOAD_KEYS = JSON.stringify({
  activeKeyId: "bench",
  keys: { bench: randomBytes(32).toString("base64") },
});

/** Environment variables that change how node or glibc run a process, passed on to the oms processes. */
const PROCESS_ENV = ["NODE_OPTIONS", "MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "UV_THREADPOOL_SIZE"];

/**
 * What an oms process reports at start (src/cmd/oms.ts): its V8 heap growth,
 * and the flags and malloc arenas node was started with (bin/oms sets them
 * per command), as one short string.
 */
function startSettingsOf(s: Spawned): Promise<string> {
  return s.waitForLine(/"V8 heap growth"/, 60_000).then(
    (line) => {
      const logged = JSON.parse(line) as {
        heapGrowth: { source: string; percent?: number; flag?: string };
        nodeFlags?: string[];
        mallocArenaMax?: string | null;
      };
      const g = logged.heapGrowth;
      const flags = logged.nodeFlags?.length ? logged.nodeFlags.join(" ") : "none";
      return `heap growth ${g.percent !== undefined ? `${g.percent} %` : (g.flag ?? g.source)}, node flags ${flags}, MALLOC_ARENA_MAX ${logged.mallocArenaMax ?? "unset"}`;
    },
    () => "not reported",
  );
}

/** Processes stopped on purpose before the end (their exit is no failure). */
const retired = new Set<Spawned>();

/** Starts `oms <command>` as production does: through the package's bin (bin/oms). */
function startOms(command: string, env: Record<string, string>): Spawned {
  return start(`oms ${command}`, path.join(root, "bin/oms"), [command], env);
}

function start(name: string, file: string, args: string[], env: Record<string, string>): Spawned {
  const s = spawnProcess(name, file, args, childEnv(env), root);
  spawned.push(s);
  void s.exited.then((code) => {
    if (cleaning === undefined && fatal === undefined && !retired.has(s)) {
      fatal = new Error(`${name} exited unexpectedly (code ${code}):\n${s.output()}`);
      abort.abort();
    }
  });
  return s;
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve) => {
          const s = createServer().listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const t0 = performance.now();
const phase = (what: string) =>
  process.stderr.write(`bench: ${what} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);

// ---------------------------------------------------------------------------
// Measurements.

interface HistoryCost {
  events: number;
  workflowTasks: number;
  workflows: number;
  activities: number;
  localActivityMarkers: number;
  updates: number;
  signals: number;
  timers: number;
  actions: ActionEstimate;
}

/** Everything recorded in the histories of one order: its workflow and every child it started. */
async function historyCost(client: Client, orderId: string): Promise<HistoryCost> {
  const cost: HistoryCost = {
    events: 0,
    workflowTasks: 0,
    workflows: 0,
    activities: 0,
    localActivityMarkers: 0,
    updates: 0,
    signals: 0,
    timers: 0,
    actions: billableActions([]),
  };
  const queue = [orderWorkflowId(orderId)];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    const history = await client.workflow.getHandle(id).fetchHistory();
    const events = history.events ?? [];
    cost.workflows += 1;
    cost.events += events.length;
    for (const e of events) {
      if (e.workflowTaskCompletedEventAttributes) cost.workflowTasks += 1;
      if (e.activityTaskScheduledEventAttributes) cost.activities += 1;
      if (e.markerRecordedEventAttributes?.markerName === "core_local_activity") {
        cost.localActivityMarkers += 1;
      }
      if (e.workflowExecutionUpdateAcceptedEventAttributes) cost.updates += 1;
      if (e.workflowExecutionSignaledEventAttributes) cost.signals += 1;
      if (e.timerStartedEventAttributes) cost.timers += 1;
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) queue.push(child);
    }
    const actions = billableActions(events as BillingHistoryEvent[]);
    for (const key of Object.keys(actions) as (keyof ActionEstimate)[]) {
      cost.actions[key] += actions[key];
    }
  }
  return cost;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat), to see what else ran. */
function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const n = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (n[3] ?? 0) + (n[4] ?? 0);
  return (n.reduce((a, b) => a + b, 0) - idle) / CLOCK_TICKS;
}

// ---------------------------------------------------------------------------

interface Row {
  figure: string;
  value: string;
  target?: string;
  reference?: string;
  pass?: boolean;
}

async function main(): Promise<{ rows: Row[]; figures: Record<string, unknown> }> {
  Runtime.install({ logger: new DefaultLogger("ERROR") });
  const figures: Record<string, unknown> = {};
  const loadAtStart = loadavg();

  // 1. The topology.
  phase("starting the Temporal dev server");
  const [temporalPort, apiPort, refsPort] = (await freePorts(3)) as [number, number, number];
  temporal = await startDevServer({
    cliPath: process.env.OMS_TEMPORAL_CLI ?? path.join(root, ".tools/venv/bin/temporal"),
    port: temporalPort,
    dbFile: path.join(dir, "temporal.sqlite"),
  });
  temporalPid = descendants(process.pid).find((p) => {
    const cmd = commandLine(p);
    return cmd.includes("start-dev") && cmd.includes(`--port ${temporalPort}`);
  });
  if (temporalPid === undefined) throw new Error("cannot find the dev server's process");
  const serverCmd = commandLine(temporalPid);
  const wantedFlags = [
    "--db-filename",
    "journal_mode=wal",
    "synchronous=normal",
    "history.transferProcessorMaxPollRPS=1000",
  ];
  const missingFlags = wantedFlags.filter((f) => !serverCmd.includes(f));
  if (missingFlags.length > 0) {
    throw new Error(`the dev server lacks ${missingFlags.join(", ")}: ${serverCmd}`);
  }
  const address = temporal.address;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const refsUrl = `http://127.0.0.1:${refsPort}`;

  phase("starting oms reference-services, api, worker (dist/)");
  const refs = startOms("reference-services", {
    OMS_REFERENCE_SERVICES_HOST: "127.0.0.1",
    OMS_REFERENCE_SERVICES_PORT: String(refsPort),
    OMS_REFERENCE_CATALOG: path.join(
      root,
      "dist/src/reference-services/inventory/load-catalog.json",
    ),
    OMS_COURIER_DISPATCH_DELAY_MS: "0",
    OMS_COURIER_DELIVERY_DELAY_MS: "0",
    OMS_API_URL: apiUrl,
  });
  await refs.waitForLine(/reference services listening/, 30_000);
  const api = startOms("api", {
    TEMPORAL_ADDRESS: address,
    OMS_API_HOST: "127.0.0.1",
    OMS_API_PORT: String(apiPort),
    OMS_WATCH_POLL_INTERVAL_MS: String(WATCH_POLL_MS),
    // Only shortens the bench's own shutdown; no call is in flight by then.
    OMS_API_SHUTDOWN_GRACE_MS: "2000",
  });
  // SubmitOrder as the API itself timed it (its access log), beside the client's figures.
  if (api.child.stdout === null) throw new Error("oms api was started without a stdout pipe");
  const apiSubmits = collectRpcDurations(api.child.stdout, "/oms.v1.OrderService/SubmitOrder");
  const apiSettings = startSettingsOf(api);
  await api.waitForLine(/API server listening/, 30_000);
  let workerSettings: Promise<string> | undefined;
  const startWorker = async () => {
    const w = startOms("worker", {
      TEMPORAL_ADDRESS: address,
      OMS_INVENTORY_URL: refsUrl,
      OMS_PAYMENTS_URL: refsUrl,
      OMS_SHIPPING_URL: refsUrl,
      OMS_NOTIFICATIONS_URL: refsUrl,
    });
    workerSettings ??= startSettingsOf(w);
    await w.waitForLine(/worker polling/, 60_000);
    return w;
  };
  const worker = await startWorker();
  check();

  const connection = await Connection.connect({ address });
  // Decodes workflow results with the bench's keyring (the processes encrypt).
  const client = new Client({
    connection,
    dataConverter: payloadDataConverter(readKeyringSetting(BENCH_PAYLOAD_KEYS)),
  });
  const sessions = new Http2SessionManager(apiUrl);
  const orders = createClient(
    OrderService,
    createGrpcTransport({ baseUrl: apiUrl, sessionManager: sessions }),
  );
  const signal = abort.signal;

  // 2. Sequential orders: SubmitOrder, read-your-writes, end to end.
  phase(`sequential: ${SEQUENTIAL} orders one at a time (after 3 warm-up orders)`);
  const seqRun = `bench-seq-${Date.now().toString(36)}`;
  const sequentialOrder = async (i: number) => {
    const request = orderRequest("two-warehouse", seqRun, i);
    const { orderId } = request;
    const start = performance.now();
    await orders.submitOrder(request, { signal });
    const acceptMs = performance.now() - start;
    const read = await orders.getOrder({ orderId }, { signal }).then(
      (r) => r.order?.orderId === orderId,
      () => false,
    );
    // SubmitOrder answers before the workflow is started (in the
    // background): until it exists, result() finds nothing; look again.
    const closed = (async () => {
      for (;;) {
        try {
          await client.workflow.getHandle(orderWorkflowId(orderId)).result();
          return performance.now() - start;
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) return Number.NaN;
          await sleep(2);
        }
      }
    })();
    let completedMs = Number.NaN;
    for await (const { order } of orders.watchOrder({ orderId }, { signal })) {
      if (order?.status === OrderStatus.COMPLETED) completedMs = performance.now() - start;
    }
    if (Number.isNaN(completedMs)) throw new Error(`sequential order ${orderId} did not complete`);
    return { orderId, acceptMs, read, completedMs, closedMs: await closed };
  };
  for (let i = 1; i <= 3; i++) await sequentialOrder(1000 + i);
  const seq: Awaited<ReturnType<typeof sequentialOrder>>[] = [];
  const seqApiMark = apiSubmits.count();
  for (let i = 1; i <= SEQUENTIAL; i++) {
    check();
    seq.push(await sequentialOrder(i));
  }
  // What the API's accept cannot beat: a bare start of a workflow (same
  // server, same client library, no API, no read model), one at a time.
  const bareStarts: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const start = performance.now();
    await client.workflow.start("minimalWorkflow", {
      taskQueue: "bench-nobody",
      workflowId: `${seqRun}-bare-${i}`,
    });
    bareStarts.push(performance.now() - start);
  }
  const bareStart = percentiles(bareStarts);
  const seqAccept = percentiles(seq.map((s) => s.acceptMs));
  const seqAcceptInApi = percentiles(apiSubmits.since(seqApiMark));
  const seqE2e = percentiles(seq.map((s) => s.completedMs));
  const seqClosed = percentiles(seq.map((s) => s.closedMs));
  const readYourWrites = seq.filter((s) => s.read).length;
  // Where their time went, from their histories' own timestamps (bench/critical-path.ts).
  const paths = await Promise.all(
    seq.map(async (s) =>
      criticalPath(
        (await client.workflow.getHandle(orderWorkflowId(s.orderId)).fetchHistory()).events ?? [],
      ),
    ),
  );
  const seqPath = {
    totalMs: median(paths.map((p) => p.totalMs)),
    waitingMs: median(paths.map((p) => p.waitingMs)),
    queueMs: median(paths.map((p) => p.queueMs)),
    workerMs: median(paths.map((p) => p.workerMs)),
    workflowTasks: median(paths.map((p) => p.tasks.length)),
  };
  figures.sequential = {
    orders: SEQUENTIAL,
    submitOrderMs: seqAccept,
    /** The same calls as the API's access log timed them (handler start to answer). */
    submitOrderInApiMs: seqAcceptInApi,
    /** Submit → the order workflow closed COMPLETED (the target's figure). */
    endToEndMs: seqClosed,
    /** Submit → COMPLETED seen through WatchOrder (adds up to one API poll). */
    endToEndWatchOrderMs: seqE2e,
    readYourWrites,
    bareStartMs: bareStart,
    /** Medians over the orders of their histories' critical path (start → close). */
    criticalPath: seqPath,
  };

  // 3. Throughput, with CPU per order and max RSS per process.
  phase(`throughput: ${ORDERS} two-warehouse orders at ${CONCURRENCY} callers`);
  const pids = {
    server: temporalPid,
    worker: worker.pid,
    api: api.pid,
    referenceServices: refs.pid,
  };
  const cpuOf = () =>
    Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeCpuSeconds(pid)])) as Record<
      keyof typeof pids,
      number
    >;
  const benchCpuBefore = process.cpuUsage();
  const machineBefore = machineBusySeconds();
  const cpuBefore = cpuOf();
  const sampler = startRssSampler(pids);
  const loadApiMark = apiSubmits.count();
  const runId = `bench-${Date.now().toString(36)}`;
  const load: LoadResult = await runLoad({
    address: apiUrl,
    orders: ORDERS,
    concurrency: CONCURRENCY,
    mix: { "two-warehouse": 1 },
    runId,
    timeoutMs: 120_000,
    signal,
  });
  const maxRss = sampler.stop();
  const acceptInApi = percentiles(apiSubmits.since(loadApiMark));
  const cpuAfter = cpuOf();
  const machineBusy = machineBusySeconds() - machineBefore;
  const benchCpu = process.cpuUsage(benchCpuBefore);
  check();
  const completed = load.finalStatuses.COMPLETED ?? 0;
  if (!load.ok) {
    process.stderr.write(
      `bench: warning: not every order completed: ${JSON.stringify(load.finalStatuses)} ${JSON.stringify(load.errors)}\n`,
    );
  }
  const cpuPerOrder = Object.fromEntries(
    Object.keys(pids).map((k) => [
      k,
      (cpuAfter[k as keyof typeof pids] - cpuBefore[k as keyof typeof pids]) /
        Math.max(1, completed),
    ]),
  ) as Record<keyof typeof pids, number>;
  const cpuTotal = cpuPerOrder.server + cpuPerOrder.worker + cpuPerOrder.api;
  const ours =
    Object.keys(pids).reduce(
      (sum, k) => sum + cpuAfter[k as keyof typeof pids] - cpuBefore[k as keyof typeof pids],
      0,
    ) +
    (benchCpu.user + benchCpu.system) / 1e6;
  const otherLoad = Math.max(0, machineBusy - ours) / (load.wallClockMs / 1000);
  figures.throughput = {
    orders: ORDERS,
    concurrency: CONCURRENCY,
    completed,
    ok: load.ok,
    wallClockMs: load.wallClockMs,
    completedPerSecond: load.completedPerSecond,
    acceptedPerSecond: load.acceptedPerSecond,
    submitOrderMs: load.acceptLatencyMs,
    submitOrderInApiMs: acceptInApi,
    endToEndMs: load.endToEndMs,
    errors: load.errors,
    cpuSecondsPerOrder: { ...cpuPerOrder, serverWorkerApi: cpuTotal },
    maxRssBytes: maxRss,
    benchClientCpuSeconds: (benchCpu.user + benchCpu.system) / 1e6,
    otherProcessesCores: otherLoad,
  };

  // 4. Cost per order, from the recorded histories.
  phase(`cost: histories of ${COST_ORDERS} of those orders`);
  const costs: HistoryCost[] = [];
  for (let k = 0; k < COST_ORDERS; k++) {
    const index = 1 + Math.floor((k * ORDERS) / COST_ORDERS);
    costs.push(await historyCost(client, `${runId}-${index}-tw`));
  }
  const med = (f: (c: HistoryCost) => number) => median(costs.map(f));
  const actionKeys = Object.keys(costs[0]?.actions ?? {}) as (keyof ActionEstimate)[];
  const cost = {
    orders: costs.length,
    events: med((c) => c.events),
    workflowTasks: med((c) => c.workflowTasks),
    workflows: med((c) => c.workflows),
    activities: med((c) => c.activities),
    localActivityMarkers: med((c) => c.localActivityMarkers),
    updates: med((c) => c.updates),
    signals: med((c) => c.signals),
    timers: med((c) => c.timers),
    actions: Object.fromEntries(actionKeys.map((k) => [k, med((c) => c.actions[k])])) as Record<
      keyof ActionEstimate,
      number
    >,
    eventsRange: [Math.min(...costs.map((c) => c.events)), Math.max(...costs.map((c) => c.events))],
  };
  figures.costPerOrder = cost;

  // 5. The dev server's ceiling: minimal workflows/s.
  phase(`ceiling: ${MINIMAL} minimal workflows at concurrency 8`);
  const minimalConnection = await NativeConnection.connect({ address });
  minimalWorker = await Worker.create({
    connection: minimalConnection,
    taskQueue: "bench-minimal",
    workflowsPath: path.join(root, "bench/minimal-workflow.ts"),
    activities: { noop: async () => {} },
  });
  const minimalRunning = minimalWorker.run();
  const minimal = (i: number) =>
    client.workflow.execute("minimalWorkflow", {
      taskQueue: "bench-minimal",
      workflowId: `${runId}-minimal-${i}`,
    });
  await runConcurrently(16, 8, (i) => minimal(100_000 + i));
  const ceilingRun = await runConcurrently(MINIMAL, 8, minimal);
  const minimalPerSecond = (MINIMAL * 1000) / ceilingRun.wallMs;
  minimalWorker.shutdown();
  await minimalRunning.catch(() => {});
  await minimalConnection.close();
  figures.ceiling = {
    minimalWorkflows: MINIMAL,
    minimalPerSecond,
    ordersPerMinimal: load.completedPerSecond / minimalPerSecond,
  };
  check();

  // 5b. The floor of the order's shape: the same Temporal commands, every step
  // a no-op, in a worker process with oms's worker settings and codec. What
  // oms spends above it is oms's; what it spends below is the SDK's and the server's.
  phase(`floor: the order's Temporal shape with no-op steps, ${FLOOR} workflows`);
  const floorWorker = start(
    "shape floor worker",
    process.execPath,
    ["--import", "tsx", "bench/shape-floor/worker.ts"],
    { TEMPORAL_ADDRESS: address, BENCH_FLOOR_TASK_QUEUE: "bench-floor" },
  );
  await floorWorker.waitForLine(/floor worker polling/, 120_000);
  const floor = await measureShapeFloor({
    client,
    worker: floorWorker,
    taskQueue: "bench-floor",
    serverPid: temporalPid,
    sequential: SEQUENTIAL,
    workflows: FLOOR,
    concurrency: CONCURRENCY,
    runId,
  });
  retired.add(floorWorker);
  await floorWorker.stop();
  figures.shapeFloor = floor;
  check();

  // 6. Reads through the API.
  phase(`reads: ${READS} GetOrder, ${Math.ceil(READS / 3)} ListOrders`);
  const ids = Array.from({ length: ORDERS }, (_, i) => `${runId}-${i + 1}-tw`);
  const idAt = (i: number) => ids[i % ids.length] as string;
  await timeEach(50, (i) => orders.getOrder({ orderId: idAt(i) }));
  const getOrder = percentiles(await timeEach(READS, (i) => orders.getOrder({ orderId: idAt(i) })));
  const listOrders = percentiles(
    await timeEach(Math.ceil(READS / 3), () => orders.listOrders({ pageSize: 50 })),
  );
  figures.reads = { getOrderMs: getOrder, listOrdersPageOf50Ms: listOrders };

  // 7. Transport: Connect (oms api) vs a bare @grpc/grpc-js server, same client, same ids.
  phase("transport: GetOrder, oms api (Connect) vs bare @grpc/grpc-js");
  const bare = start(
    "bare grpc-js server",
    process.execPath,
    ["--import", "tsx", "bench/bare-grpc-server.ts"],
    {},
  );
  const barePort = Number(
    /listening (\d+)/.exec(await bare.waitForLine(/listening \d+/, 30_000))?.[1],
  );
  const viaApi = getOrderClient(`127.0.0.1:${apiPort}`);
  const viaBare = getOrderClient(`127.0.0.1:${barePort}`);
  const targets = [
    { name: "connect", client: viaApi, pid: api.pid },
    { name: "bare", client: viaBare, pid: bare.pid },
  ] as const;
  for (const t of targets) await timeEach(200, (i) => t.client.getOrder(idAt(i)));
  const seqSamples = { connect: [] as number[], bare: [] as number[] };
  const concSamples = { connect: [] as number[], bare: [] as number[] };
  const concWall = { connect: 0, bare: 0 };
  const concCpu = { connect: 0, bare: 0 };
  const concCalls = { connect: 0, bare: 0 };
  const rounds = 5;
  const perRound = Math.ceil(READS / 2);
  for (let r = 0; r < rounds; r++) {
    // Alternate, so that noise from other processes falls on both alike.
    for (const t of r % 2 === 0 ? targets : [...targets].reverse()) {
      seqSamples[t.name].push(...(await timeEach(perRound, (i) => t.client.getOrder(idAt(i)))));
      const cpu0 = treeCpuSeconds(t.pid);
      const run = await runConcurrently(perRound * 4, 16, (i) => t.client.getOrder(idAt(i)));
      concCpu[t.name] += treeCpuSeconds(t.pid) - cpu0;
      concSamples[t.name].push(...run.latencies);
      concWall[t.name] += run.wallMs;
      concCalls[t.name] += perRound * 4;
    }
    check();
  }
  viaApi.close();
  viaBare.close();
  const transport = {
    sequential: {
      connectMs: percentiles(seqSamples.connect),
      bareMs: percentiles(seqSamples.bare),
    },
    concurrent16: {
      connectMs: percentiles(concSamples.connect),
      bareMs: percentiles(concSamples.bare),
      connectCallsPerSecond: (concCalls.connect * 1000) / concWall.connect,
      bareCallsPerSecond: (concCalls.bare * 1000) / concWall.bare,
      connectServerCpuMsPerCall: (concCpu.connect * 1000) / concCalls.connect,
      bareServerCpuMsPerCall: (concCpu.bare * 1000) / concCalls.bare,
    },
  };
  const seqRatio = transport.sequential.connectMs.p50 / transport.sequential.bareMs.p50;
  const concRatio = transport.concurrent16.connectMs.p50 / transport.concurrent16.bareMs.p50;
  figures.transport = {
    ...transport,
    ratioSequentialP50: seqRatio,
    ratioConcurrent16P50: concRatio,
  };

  // 8. Memory with ORDERS orders in flight at once: out-of-stock orders wait in
  // CUSTOMER_ACTION_REQUIRED (a 24 h durable timer), each cached by the worker.
  // A fresh worker process, so that the figure is not the previous phases' high-water mark.
  phase(`in flight: a fresh worker, ${ORDERS} orders waiting for a customer decision`);
  retired.add(worker);
  await worker.stop();
  const freshWorker = await startWorker();
  await new Promise((r) => setTimeout(r, 1_000));
  const idleRss = treeRssBytes(freshWorker.pid);
  const inFlightSampler = startRssSampler({ worker: freshWorker.pid });
  const waitRun = `${runId}-wait`;
  await runConcurrently(ORDERS, CONCURRENCY, (i) =>
    orders.submitOrder(orderRequest("out-of-stock", waitRun, i + 1), { signal }),
  );
  let waiting = 0;
  const deadline = Date.now() + 120_000;
  for (let i = 1; i <= ORDERS && Date.now() < deadline; ) {
    check();
    const order = (
      await orders.getOrder({ orderId: orderRequest("out-of-stock", waitRun, i).orderId })
    ).order;
    if (order?.status === OrderStatus.CUSTOMER_ACTION_REQUIRED) {
      waiting += 1;
      i += 1;
    } else {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Let the last workflow tasks finish, then keep sampling for a moment.
  await new Promise((r) => setTimeout(r, 2_000));
  const inFlightRss = inFlightSampler.stop();
  const inFlight = {
    orders: ORDERS,
    waiting,
    idleWorkerRssBytes: idleRss,
    maxWorkerRssBytes: inFlightRss.worker ?? 0,
    perOrderBytes: ((inFlightRss.worker ?? 0) - idleRss) / ORDERS,
  };
  figures.inFlight = inFlight;

  sessions.abort();
  await connection.close();
  figures.machine = {
    cores: cpus().length,
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadavg(),
    clockTicks: CLOCK_TICKS,
    // What the oms processes ran with: as they logged it at start (oms's own
    // settings and bin/oms's), and what this environment passed on to them
    // (production runs without any of these unless its deployment sets them).
    processes: {
      node: process.version,
      started: { api: await apiSettings, worker: await workerSettings },
      env: {
        ...Object.fromEntries(PROCESS_ENV.map((k) => [k, process.env[k] ?? "unset"])),
        ...PROCESS_ENV_EXTRA,
      },
    },
  };

  // 9. The table.
  const MB = 1024 * 1024;
  const le = (v: number, limit: number) => Number.isFinite(v) && v <= limit;
  const ge = (v: number, limit: number) => Number.isFinite(v) && v >= limit;
  const cpuS = (v: number) => `${v.toFixed(3)} s`;
  const mb = (v: number) => `${(v / MB).toFixed(0)} MB`;
  const e2e = load.endToEndMs;
  const accept = load.acceptLatencyMs;
  const rows: Row[] = [
    { figure: `COST PER ORDER (median of ${cost.orders} two-fulfillment orders)`, value: "" },
    {
      figure: "history events",
      value: `${cost.events} (${cost.eventsRange[0]}–${cost.eventsRange[1]})`,
      target: `≤ ${TARGET.historyEvents}`,
      reference: REFERENCE_OMS.historyEvents,
      pass: le(cost.events, TARGET.historyEvents),
    },
    {
      figure: "workflow tasks (WorkflowTaskCompleted)",
      value: String(cost.workflowTasks),
      target: `≤ ${TARGET.workflowTasks}`,
      reference: REFERENCE_OMS.workflowTasks,
      pass: le(cost.workflowTasks, TARGET.workflowTasks),
    },
    {
      figure: "workflows (order + children)",
      value: String(cost.workflows),
      target: String(TARGET.workflows),
      reference: REFERENCE_OMS.workflows,
      pass: le(cost.workflows, TARGET.workflows),
    },
    { figure: "activities scheduled", value: String(cost.activities) },
    { figure: "local-activity markers", value: String(cost.localActivityMarkers) },
    { figure: "Updates accepted", value: String(cost.updates) },
    { figure: "signals / timers", value: `${cost.signals} / ${cost.timers}` },
    {
      figure: "est. Temporal Cloud billable Actions",
      value: `${cost.actions.total} (start ${cost.actions.workflowStarted + cost.actions.childWorkflowStarted}, act ${cost.actions.activities + cost.actions.activityRetries}, LA ${cost.actions.localActivities + cost.actions.localActivityRetries}, upd ${cost.actions.updates}, sig ${cost.actions.signals}, timer ${cost.actions.timers})`,
    },
    { figure: `SEQUENTIAL (${SEQUENTIAL} orders, one at a time)`, value: "" },
    {
      figure: "SubmitOrder p50, with read-your-writes",
      value: `${fmtMs(seqAccept.p50)} (RYW ${readYourWrites}/${SEQUENTIAL})`,
      target: `≤ ${TARGET.submitOrderSequentialP50Ms} ms`,
      reference: REFERENCE_OMS.submitOrderSequentialP50,
      pass: le(seqAccept.p50, TARGET.submitOrderSequentialP50Ms) && readYourWrites === SEQUENTIAL,
    },
    { figure: "SubmitOrder p99", value: fmtMs(seqAccept.p99) },
    {
      figure: "  inside the API (its access log) p50 / p99",
      value: `${fmtMs(seqAcceptInApi.p50)} / ${fmtMs(seqAcceptInApi.p99)}`,
    },
    {
      figure: "  bare client.workflow.start p50 / p99 (no API)",
      value: `${fmtMs(bareStart.p50)} / ${fmtMs(bareStart.p99)}`,
    },
    {
      figure: "GetOrder right after SubmitOrder finds it",
      value: `${readYourWrites}/${SEQUENTIAL}`,
      target: `${SEQUENTIAL}/${SEQUENTIAL}`,
      pass: readYourWrites === SEQUENTIAL,
    },
    {
      figure: "end to end p50 (submit → COMPLETED workflow closed)",
      value: fmtMs(seqClosed.p50),
      target: `≤ ${TARGET.sequentialEndToEndP50Ms} ms`,
      reference: REFERENCE_OMS.sequentialEndToEndP50,
      pass: le(seqClosed.p50, TARGET.sequentialEndToEndP50Ms),
    },
    { figure: "end to end p99", value: fmtMs(seqClosed.p99) },
    {
      figure: `  seen through WatchOrder (${WATCH_POLL_MS} ms poll) p50 / p99`,
      value: `${fmtMs(seqE2e.p50)} / ${fmtMs(seqE2e.p99)}`,
    },
    {
      figure: "  critical path (history), median: waiting/queue/worker",
      value: `${fmtMs(seqPath.totalMs)}: ${fmtMs(seqPath.waitingMs)} / ${fmtMs(seqPath.queueMs)} / ${fmtMs(seqPath.workerMs)} (${seqPath.workflowTasks} workflow tasks)`,
    },
    {
      figure: `THROUGHPUT (${ORDERS} orders, ${CONCURRENCY} callers, ${(load.wallClockMs / 1000).toFixed(1)} s)`,
      value: "",
    },
    {
      figure: "completed orders/s",
      value: `${load.completedPerSecond.toFixed(2)} (${completed}/${ORDERS} COMPLETED)`,
      target: `≥ ${TARGET.completedPerSecond}`,
      reference: REFERENCE_OMS.completedPerSecond,
      pass: ge(load.completedPerSecond, TARGET.completedPerSecond) && completed === ORDERS,
    },
    { figure: "accepted orders/s", value: load.acceptedPerSecond.toFixed(2) },
    { figure: "SubmitOrder p50", value: fmtMs(accept.p50 ?? Number.NaN) },
    {
      figure: "SubmitOrder p99",
      value: fmtMs(accept.p99 ?? Number.NaN),
      target: `≤ ${TARGET.submitOrderP99Ms} ms`,
      pass: le(accept.p99 ?? Number.NaN, TARGET.submitOrderP99Ms),
    },
    {
      figure: "  inside the API (its access log) p50 / p99",
      value: `${fmtMs(acceptInApi.p50)} / ${fmtMs(acceptInApi.p99)}`,
    },
    {
      figure: "end to end p50 / p99",
      value: `${fmtMs(e2e.p50 ?? Number.NaN)} / ${fmtMs(e2e.p99 ?? Number.NaN)}`,
    },
    {
      figure: "CPU-s per order: server + worker + API",
      value: cpuS(cpuTotal),
      target: `≤ ${TARGET.cpuTotalSeconds} s`,
      reference: REFERENCE_OMS.cpuTotal,
      pass: le(cpuTotal, TARGET.cpuTotalSeconds),
    },
    {
      figure: "  Temporal dev server",
      value: cpuS(cpuPerOrder.server),
      reference: REFERENCE_OMS.cpuServer,
    },
    {
      figure: "  worker",
      value: cpuS(cpuPerOrder.worker),
      target: `≤ ${TARGET.cpuWorkerSeconds} s`,
      reference: REFERENCE_OMS.cpuWorker,
      pass: le(cpuPerOrder.worker, TARGET.cpuWorkerSeconds),
    },
    { figure: "  API", value: cpuS(cpuPerOrder.api), reference: REFERENCE_OMS.cpuApi },
    {
      figure: "  reference services (not in the total)",
      value: cpuS(cpuPerOrder.referenceServices),
    },
    {
      figure: "  load generator, this process (not in the total)",
      value: cpuS((benchCpu.user + benchCpu.system) / 1e6 / Math.max(1, completed)),
    },
    {
      figure: "max RSS API",
      value: mb(maxRss.api ?? 0),
      target: `≤ ${TARGET.rssApiMb} MB`,
      reference: REFERENCE_OMS.rssApi,
      pass: le((maxRss.api ?? 0) / MB, TARGET.rssApiMb),
    },
    {
      figure: `max RSS worker (${ORDERS}-order run, ${CONCURRENCY} in flight at once)`,
      value: mb(maxRss.worker ?? 0),
      target: `≤ ${TARGET.rssWorkerMb} MB`,
      pass: le((maxRss.worker ?? 0) / MB, TARGET.rssWorkerMb),
    },
    {
      figure: `max RSS worker, ${inFlight.orders} orders in flight (fresh worker)`,
      value: `${mb(inFlight.maxWorkerRssBytes)} (idle ${mb(inFlight.idleWorkerRssBytes)}, +${(inFlight.perOrderBytes / 1024).toFixed(0)} KiB/order)${inFlight.waiting < inFlight.orders ? `, only ${inFlight.waiting} waiting` : ""}`,
      target: `≤ ${TARGET.rssWorkerMb} MB`,
      reference: REFERENCE_OMS.rssWorker,
      pass:
        le(inFlight.maxWorkerRssBytes / MB, TARGET.rssWorkerMb) &&
        inFlight.waiting === inFlight.orders,
    },
    {
      figure: "max RSS Temporal dev server / reference services",
      value: `${mb(maxRss.server ?? 0)} / ${mb(maxRss.referenceServices ?? 0)}`,
    },
    { figure: "CEILING (same dev server)", value: "" },
    {
      figure: "minimal workflows/s (start, 1 activity, done; 8 at once)",
      value: minimalPerSecond.toFixed(1),
    },
    {
      figure: "ratio completed orders/s ÷ minimal workflows/s",
      value: (load.completedPerSecond / minimalPerSecond).toFixed(3),
    },
    {
      figure: "FLOOR: the order's Temporal shape, every step a no-op (same dev server)",
      value: "",
    },
    {
      figure: "events / workflow tasks / local-activity markers",
      value: `${floor.events} / ${floor.workflowTasks} / ${floor.localActivityMarkers} (7 activities, 4 Updates)`,
    },
    {
      figure: "sequential end to end p50: oms / floor",
      value: `${fmtMs(seqClosed.p50)} / ${fmtMs(floor.sequentialMs.p50)} = ${(seqClosed.p50 / floor.sequentialMs.p50).toFixed(2)}x`,
    },
    {
      figure: `workflows/s at ${CONCURRENCY} callers: oms / floor`,
      value: `${load.completedPerSecond.toFixed(2)} / ${floor.perSecond.toFixed(2)}`,
    },
    {
      figure: "worker CPU-s per order: oms / floor",
      value: `${cpuS(cpuPerOrder.worker)} / ${cpuS(floor.cpuSecondsPerWorkflow.worker)} = ${(cpuPerOrder.worker / floor.cpuSecondsPerWorkflow.worker).toFixed(2)}x`,
    },
    {
      figure: "server CPU-s per order: oms / floor",
      value: `${cpuS(cpuPerOrder.server)} / ${cpuS(floor.cpuSecondsPerWorkflow.server)} = ${(cpuPerOrder.server / floor.cpuSecondsPerWorkflow.server).toFixed(2)}x`,
    },
    { figure: "READS (through the API)", value: "" },
    { figure: "GetOrder p50 / p99", value: `${fmtMs(getOrder.p50)} / ${fmtMs(getOrder.p99)}` },
    {
      figure: "ListOrders (page of 50) p50 / p99",
      value: `${fmtMs(listOrders.p50)} / ${fmtMs(listOrders.p99)}`,
    },
    {
      figure: "GetOrder p50 sequential: Connect / bare grpc-js",
      value: `${fmtMs(transport.sequential.connectMs.p50)} / ${fmtMs(transport.sequential.bareMs.p50)} = ${seqRatio.toFixed(2)}x`,
    },
    {
      figure: "GetOrder p50 at 16 concurrent: Connect / bare",
      value: `${fmtMs(transport.concurrent16.connectMs.p50)} / ${fmtMs(transport.concurrent16.bareMs.p50)} = ${concRatio.toFixed(2)}x`,
    },
    {
      figure: "  at 16: calls/s, server CPU per call",
      value: `${transport.concurrent16.connectCallsPerSecond.toFixed(0)} vs ${transport.concurrent16.bareCallsPerSecond.toFixed(0)}/s, ${transport.concurrent16.connectServerCpuMsPerCall.toFixed(3)} vs ${transport.concurrent16.bareServerCpuMsPerCall.toFixed(3)} ms`,
    },
  ];
  figures.targets = TARGET;
  figures.referenceOms = REFERENCE_OMS;
  figures.table = rows;
  return { rows, figures };
}

function printTable(rows: Row[], figures: Record<string, unknown>): void {
  const w = [58, 46, 9, 24];
  const line = (cells: string[]) =>
    `${cells.map((c, i) => (i < w.length ? c.padEnd(w[i] as number) : c)).join(" ")}`.trimEnd();
  const out: string[] = [""];
  const machine = figures.machine as {
    cores: number;
    loadAverageAtStart: number[];
    processes: { node: string; started: Record<string, string>; env: Record<string, string> };
  };
  const procs = machine.processes;
  const procEnv = Object.entries(procs.env).map(([k, v]) => `${k} ${v}`);
  const tput = figures.throughput as { otherProcessesCores: number };
  out.push(
    `oms bench: Temporal dev server (SQLite WAL, synchronous=normal, transferProcessorMaxPollRPS=1000) + bin/oms reference-services | api | worker (dist/)`,
    `  ${machine.cores} cores; load average at start ${machine.loadAverageAtStart.map((l) => l.toFixed(2)).join(" ")}; other processes used ${tput.otherProcessesCores.toFixed(2)} cores during the throughput run`,
    `  oms processes: node ${procs.node}; passed on from this environment: ${procEnv.join(", ")}`,
    `    api: ${procs.started.api}`,
    `    worker: ${procs.started.worker}`,
    `  API WatchOrder poll ${WATCH_POLL_MS} ms; reference OMS = Temporal's Go reference app on this machine kind, 2026-11-29, same flags (constants)`,
    "",
    line(["figure", "measured", "target", "reference OMS", ""]),
    line(["-".repeat(58), "-".repeat(46), "-".repeat(9), "-".repeat(24), "-"]),
  );
  for (const r of rows) {
    if (r.value === "" && r.target === undefined) {
      out.push("", r.figure);
      continue;
    }
    const mark = r.pass === undefined ? "" : r.pass ? "✓" : "✗";
    out.push(line([`  ${r.figure}`, r.value, r.target ?? "", r.reference ?? "", mark]));
  }
  const judged = rows.filter((r) => r.pass !== undefined);
  out.push("", `${judged.filter((r) => r.pass).length}/${judged.length} targets met`, "");
  process.stdout.write(out.join("\n"));
}

let exitCode = 0;
try {
  const { rows, figures } = await main();
  printTable(rows, figures);
  if (jsonPath !== undefined) {
    mkdirSync(path.dirname(jsonPath), { recursive: true });
    writeFileSync(
      jsonPath,
      `${JSON.stringify({ startedAt: new Date().toISOString(), ...figures }, null, 2)}\n`,
    );
    process.stdout.write(`figures written to ${path.relative(process.cwd(), jsonPath)}\n`);
  }
} catch (err) {
  process.stderr.write(
    `bench failed: ${err === fatal || !(err instanceof Error) ? String(err) : (err.stack ?? err.message)}\n`,
  );
  exitCode = 1;
}
phase("stopping");
await cleanup();
process.exit(exitCode);
