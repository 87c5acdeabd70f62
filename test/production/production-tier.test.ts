/**
 * The production tier under fire: two `oms api` and two `oms worker`
 * processes (compiled, as deployed) against a real Temporal Server on
 * PostgreSQL, with the PostgreSQL read model and the reference downstream
 * services. 200 orders of mixed kinds go in through both APIs while one
 * worker and one API are SIGKILLed and restarted again and again.
 * Afterwards: no order lost (every accepted order is in the read model with
 * its expected end), none stuck (all reach a terminal status), and the
 * payments ledger shows one authorization and at most one capture or void
 * per fulfillment.
 *
 * Callers behave as real internal callers do: an RPC that fails because its
 * API process died is retried (with the same order id, which is the
 * idempotency key) against the other API.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  type Client as ConnectClient,
  ConnectError,
  createClient,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Connection, Client as TemporalClient } from "@temporalio/client";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FulfillmentStatus, type Order, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService, Resolution } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent, ShipmentService } from "../../gen/oms/v1/shipment_service_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { EXPECTED_STATUS, type OrderKind, orderRequest, planKinds } from "../../src/load/mix.js";
import {
  LOAD_CATALOG_FILE,
  type ReferenceServices,
  readCatalogFile,
  startReferenceServices,
} from "../../src/reference-services/index.js";
import { payloadDataConverter } from "../../src/temporal/codec/data-converter.js";
import { readKeyringSetting } from "../../src/temporal/codec/keyring.js";
import { freePort } from "../support/free-port.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import {
  ensureTemporalServerBuilt,
  type RunningTemporalServer,
  startTemporalServer,
} from "../support/temporal-server.js";

const root = path.resolve(import.meta.dirname, "../..");
const ORDERS = 200;
const CALLERS = 8;
const MIX = { "two-warehouse": 70, "out-of-stock": 10, cancel: 10, declined: 10 } as const;
/**
 * Codes a caller retries on the other API: the process it talked to went
 * away (a refused connection surfaces as UNAVAILABLE, a reset one as ABORTED,
 * a stream cut short as CANCELED).
 */
const PAYLOAD_KEYS = JSON.stringify({
  activeKeyId: "production-tier",
  keys: { "production-tier": randomBytes(32).toString("base64") },
});
const RETRYABLE = new Set([
  Code.Unavailable,
  Code.Aborted,
  Code.Canceled,
  Code.Internal,
  Code.Unknown,
  Code.DeadlineExceeded,
]);

type Role = "api" | "worker";

/** One `oms api` or `oms worker` process that the test kills and restarts. */
class OmsProcess {
  private child: ChildProcess | undefined;
  kills = 0;
  /** Exits the test did not cause, with the process's last log lines. */
  readonly crashes: string[] = [];
  constructor(
    readonly role: Role,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
  ) {}
  /** Starts the process; resolves once it logs that it serves (or fails if it exits). */
  async start(): Promise<void> {
    const offset = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const log = openSync(this.logFile, "a");
    const child = spawn(process.execPath, ["dist/src/cmd/oms.js", this.role], {
      cwd: root,
      env: { ...process.env, ...this.env },
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    const logSince = () => readFileSync(this.logFile, "utf8").slice(offset);
    child.once("exit", (code, signal) => {
      if (signal !== "SIGKILL") {
        this.crashes.push(
          `oms ${this.role} exited with ${code ?? signal}: ${logSince().slice(-3_000)}`,
        );
      }
    });
    this.child = child;
    const ready = this.role === "api" ? "API server listening" : "worker polling";
    const deadline = Date.now() + 60_000;
    while (!logSince().includes(ready)) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`oms ${this.role} did not start: ${logSince().slice(-3_000)}`);
      }
      await sleep(50);
    }
  }
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
    this.kills++;
  }
  async restart(): Promise<void> {
    await this.kill();
    await this.start();
  }
}

describe("production tier: 2 APIs and 2 workers on a Temporal Server with PostgreSQL", () => {
  let pg: TestPostgres;
  let temporal: RunningTemporalServer;
  let refs: ReferenceServices;
  let dataDir: string;
  const apis: OmsProcess[] = [];
  const workers: OmsProcess[] = [];
  const clients: ConnectClient<typeof OrderService>[] = [];
  const shipmentClients: ConnectClient<typeof ShipmentService>[] = [];
  const refusedCourierEvents: string[] = [];
  /** Every courier event the OMS accepted: "<fulfillment id> <event>", for failure messages. */
  const courierReports: string[] = [];
  /** Courier reports under way, with when they started: for failure messages. */
  const reportsInFlight = new Map<string, number>();
  const workerMetricsPorts: number[] = [];

  /** The workers' read-model write and workflow task latencies: for failure messages. */
  async function workerLatencies(): Promise<string> {
    const wanted =
      /^(oms_readmodel_write_duration_seconds_(count|sum)|temporal_workflow_task_execution_latency_(count|sum)|temporal_local_activity_execution_latency_(count|sum)|temporal_workflow_task_execution_failed)/;
    const lines: string[] = [];
    for (const [i, port] of workerMetricsPorts.entries()) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        lines.push(
          ...text
            .split("\n")
            .filter((l) => wanted.test(l))
            .map((l) => `worker ${i}: ${l}`),
        );
      } catch (error) {
        lines.push(`worker ${i}: metrics unavailable: ${String(error)}`);
      }
    }
    return lines.join("\n");
  }
  let next = 0;
  /** Set when the test is over: callers (the courier) stop retrying. */
  let closing = false;

  /** Calls `rpc` on one API, and on the other while the first is gone. */
  async function call<T>(
    what: string,
    rpc: (api: number) => Promise<T>,
    orderId?: string,
  ): Promise<T> {
    const started = Date.now();
    const seen: string[] = [];
    for (let attempt = 0; ; attempt++) {
      const api = (next++ + attempt) % 2;
      try {
        return await rpc(api);
      } catch (error) {
        const failure = ConnectError.from(error);
        if (!RETRYABLE.has(failure.code) || closing) throw error;
        seen.push(`api ${api}: ${failure.message}`);
        if (Date.now() - started > 120_000) {
          const workflow =
            orderId === undefined ? "" : `; workflow: ${await describeWorkflow(orderId)}`;
          throw new Error(
            `${what}: still failing after ${attempt + 1} attempts in ${Date.now() - started} ms; last: ${seen.slice(-5).join(" | ")}${workflow}`,
          );
        }
        // Backing off, as a well-behaved internal caller does: a storm of
        // retries would only add load to a system that is recovering.
        await sleep(Math.min(50 * 2 ** attempt, 2_000));
      }
    }
  }

  /** What Temporal says about an order's workflow: for failure messages. */
  async function describeWorkflow(orderId: string): Promise<string> {
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = new TemporalClient({
        connection,
        namespace: temporal.namespace,
        dataConverter: payloadDataConverter(readKeyringSetting(PAYLOAD_KEYS)),
      });
      const handle = client.workflow.getHandle(orderWorkflowId(orderId));
      const { raw, status } = await handle.describe();
      const history = await handle.fetchHistory();
      const lastEvents = (history.events ?? []).slice(-8).map((e) => {
        const type = String(e.eventType ?? "").replace("EVENT_TYPE_", "");
        const detail =
          e.activityTaskScheduledEventAttributes?.activityType?.name ??
          e.workflowExecutionSignaledEventAttributes?.signalName ??
          e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ??
          e.workflowTaskFailedEventAttributes?.failure?.message ??
          e.markerRecordedEventAttributes?.markerName ??
          "";
        return `${e.eventId} ${type} ${detail}`.trim();
      });
      return JSON.stringify({
        status: status.name,
        historyLength: raw.workflowExecutionInfo?.historyLength?.toString(),
        pendingWorkflowTask: raw.pendingWorkflowTask,
        pendingActivities: raw.pendingActivities?.map((a) => ({
          type: a.activityType?.name,
          attempt: a.attempt,
          lastFailure: a.lastFailure?.message,
        })),
        lastEvents,
      });
    } catch (error) {
      return `describe failed: ${String(error)}`;
    } finally {
      await connection.close();
    }
  }

  beforeAll(async () => {
    // Minutes on a fresh machine, once; then a no-op.
    ensureTemporalServerBuilt();
    execFileSync(process.execPath, ["scripts/build.mjs"], { cwd: root, stdio: "inherit" });
    pg = await startTestPostgres();
    temporal = await startTemporalServer(pg);
    const readModelUrl = await pg.createDatabase();
    dataDir = mkdtempSync(path.join(tmpdir(), "oms-production-"));
    // Below the ephemeral range: a port picked here is bound minutes later (and
    // again after every kill), and an ephemeral one can meanwhile become the
    // local end of some process's outgoing connection.
    const apiPorts = [await freePort(), await freePort()];
    refs = await startReferenceServices({
      // Enough stock for every order of the run.
      catalog: readCatalogFile(LOAD_CATALOG_FILE),
      logger: pino({ level: "silent" }),
      simulatedCourier: {
        dispatchDelayMs: 100,
        deliverDelayMs: 100,
        retryDelayMs: 100,
        maxReportAttempts: 10_000,
        reportEvent: async ({ shipmentId, fulfillmentId, event, occurredAt }) => {
          const key = `${fulfillmentId} ${event} #${reportsInFlight.size}-${Date.now()}`;
          reportsInFlight.set(key, Date.now());
          try {
            await call(`report ${event} ${fulfillmentId}`, (api) =>
              (shipmentClients[api] as ConnectClient<typeof ShipmentService>).reportShipmentEvent({
                shipmentId,
                fulfillmentId,
                event: event === "DISPATCHED" ? ShipmentEvent.DISPATCHED : ShipmentEvent.DELIVERED,
                occurredAt: timestampFromDate(occurredAt),
              }),
            );
            courierReports.push(`${fulfillmentId} ${event}`);
          } catch (error) {
            const code = ConnectError.from(error).code;
            if (code === Code.NotFound || code === Code.FailedPrecondition) {
              refusedCourierEvents.push(`${fulfillmentId} ${event}: ${String(error)}`);
            }
            throw error;
          } finally {
            reportsInFlight.delete(key);
          }
        },
      },
    });
    const common = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      OMS_TASK_QUEUE: "oms-production",
      OMS_DATABASE_URL: readModelUrl,
      OMS_DATA_DIR: dataDir,
      OMS_INVENTORY_URL: refs.url,
      OMS_PAYMENTS_URL: refs.url,
      OMS_SHIPPING_URL: refs.url,
      OMS_NOTIFICATIONS_URL: refs.url,
      OMS_AUTH: "none",
      // Customer data encrypted in Temporal, as in production.
      OMS_PAYLOAD_KEYS: PAYLOAD_KEYS,
      // Info, into each process's log file: the test waits for the line that says it serves.
      OMS_LOG_LEVEL: process.env.OMS_TEST_LOG_LEVEL ?? "info",
    };
    for (const [i, port] of apiPorts.entries()) {
      apis.push(
        new OmsProcess(
          "api",
          {
            ...common,
            OMS_API_HOST: "127.0.0.1",
            OMS_API_PORT: String(port),
            OMS_WATCH_POLL_INTERVAL_MS: "100",
          },
          path.join(dataDir, `api-${i}.log`),
        ),
      );
      const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
      clients.push(createClient(OrderService, transport));
      shipmentClients.push(createClient(ShipmentService, transport));
    }
    for (const i of [0, 1]) {
      const metricsPort = await freePort();
      workerMetricsPorts.push(metricsPort);
      workers.push(
        new OmsProcess(
          "worker",
          { ...common, OMS_METRICS_PORT: String(metricsPort) },
          path.join(dataDir, `worker-${i}.log`),
        ),
      );
    }
    await Promise.all([...apis, ...workers].map((p) => p.start()));
  }, 900_000);

  afterAll(async () => {
    closing = true;
    await Promise.all([...apis, ...workers].map((p) => p.kill()));
    await refs?.stop();
    await temporal?.stop();
    await pg?.stop();
    if (dataDir && !process.env.OMS_TEST_KEEP) rmSync(dataDir, { recursive: true, force: true });
  }, 120_000);

  async function getOrder(orderId: string): Promise<Order | undefined> {
    try {
      const { order } = await call(`get ${orderId}`, (api) =>
        (clients[api] as Client).getOrder({ orderId }),
      );
      return order;
    } catch (error) {
      if (ConnectError.from(error).code === Code.NotFound) return undefined;
      throw error;
    }
  }

  async function waitFor(
    orderId: string,
    done: (o: Order) => boolean,
    timeoutMs: number,
  ): Promise<Order | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const order = await getOrder(orderId);
      if (order !== undefined && done(order)) return order;
      if (Date.now() > deadline) return order;
      await sleep(200);
    }
  }

  /** One caller's part of an order of `kind`: what `oms load` does, with failover. */
  async function drive(kind: OrderKind, index: number): Promise<{ cancelRefused: boolean }> {
    const request = orderRequest(kind, "prod", index);
    await call(`submit ${request.orderId}`, (api) => (clients[api] as Client).submitOrder(request));
    if (kind === "cancel") {
      try {
        await call(
          `cancel ${request.orderId}`,
          (api) =>
            (clients[api] as Client).cancelOrder({ orderId: request.orderId, reason: "test" }),
          request.orderId,
        );
      } catch (error) {
        // Everything already dispatched: nothing left to cancel.
        if (ConnectError.from(error).code !== Code.FailedPrecondition) throw error;
        return { cancelRefused: true };
      }
    }
    if (kind === "out-of-stock") {
      const waiting = await waitFor(
        request.orderId,
        (o) => o.status === OrderStatus.CUSTOMER_ACTION_REQUIRED,
        300_000,
      );
      if (waiting?.status !== OrderStatus.CUSTOMER_ACTION_REQUIRED) {
        throw new Error(
          `${request.orderId} never asked for a decision: ${waiting ? OrderStatus[waiting.status] : "not found"}; workflow: ${await describeWorkflow(request.orderId)}`,
        );
      }
      // A careful caller: FAILED_PRECONDITION after a retry means its first
      // attempt went through, which the order then shows; before that, the
      // read model can show the question a moment before the order's history
      // has it, and the caller asks again.
      const resolveBy = Date.now() + 120_000;
      for (;;) {
        try {
          await call(
            `resolve ${request.orderId}`,
            (api) =>
              (clients[api] as Client).resolveUnavailableItems({
                orderId: request.orderId,
                resolution: Resolution.PROCEED_WITHOUT_UNAVAILABLE,
              }),
            request.orderId,
          );
          break;
        } catch (error) {
          if (ConnectError.from(error).code !== Code.FailedPrecondition) throw error;
          const now = await getOrder(request.orderId);
          if (now?.status !== OrderStatus.CUSTOMER_ACTION_REQUIRED) break;
          if (Date.now() > resolveBy) throw error;
          await sleep(500);
        }
      }
    }
    return { cancelRefused: false };
  }

  it("loses no order, leaves none stuck, and moves money once per fulfillment", {
    timeout: 900_000,
  }, async () => {
    const kinds = planKinds(ORDERS, MIX);
    const outcomes = new Map<number, { cancelRefused: boolean }>();

    // The chaos: SIGKILL a worker or an API (alternating, each pair member in
    // turn), start it again, and 4 s after it serves again kill the next.
    let chaos = true;
    const chaosFailures: string[] = [];
    const chaosLoop = (async () => {
      for (let round = 0; chaos; round++) {
        await sleep(4_000);
        if (!chaos) break;
        const pool = round % 2 === 0 ? workers : apis;
        try {
          await (pool[Math.floor(round / 2) % 2] as OmsProcess).restart();
        } catch (error) {
          chaosFailures.push(String(error));
        }
      }
    })();

    let cursor = 0;
    await Promise.all(
      Array.from({ length: CALLERS }, async () => {
        while (cursor < kinds.length) {
          const index = cursor++;
          outcomes.set(index, await drive(kinds[index] as OrderKind, index));
        }
      }),
    );
    // Keep killing while the accepted orders are in flight.
    await sleep(6_000);
    chaos = false;
    await chaosLoop;

    const problems: string[] = [];
    const ends = new Map<string, number>();
    // One bound for all: every order that can still end has this long to.
    const settleBy = Date.now() + 240_000;
    for (const [index, kind] of kinds.entries()) {
      const orderId = orderRequest(kind, "prod", index).orderId;
      const order = await waitFor(
        orderId,
        (o) =>
          o.status === OrderStatus.COMPLETED ||
          o.status === OrderStatus.CANCELLED ||
          o.status === OrderStatus.FAILED,
        Math.max(0, settleBy - Date.now()),
      );
      if (order === undefined) {
        problems.push(`${orderId}: lost (not in the read model)`);
        continue;
      }
      const expected =
        kind === "cancel" && outcomes.get(index)?.cancelRefused
          ? OrderStatus.COMPLETED
          : EXPECTED_STATUS[kind];
      if (order.status !== expected) {
        const shipments = refs.shipping
          .list({ orderId })
          .map((s) => `${s.fulfillmentId} ${s.shipmentId} ${s.status}`);
        problems.push(
          `${orderId}: ${OrderStatus[order.status]}, expected ${OrderStatus[expected]}; fulfillments ${order.fulfillments.map((f) => `${f.fulfillmentId} ${FulfillmentStatus[f.status]}`).join(", ")}; shipments ${shipments.join(", ")}; courier reports ${courierReports.filter((r) => r.startsWith(orderId)).join(", ")}; workflow: ${await describeWorkflow(orderId)}`,
        );
      }
      ends.set(OrderStatus[order.status], (ends.get(OrderStatus[order.status]) ?? 0) + 1);
      for (const fulfillment of order.fulfillments) {
        const ops = refs.payments
          .ledger({ orderId })
          .filter((e) => e.fulfillmentId === fulfillment.fulfillmentId)
          .map((e) => e.operation);
        const count = (op: string) => ops.filter((o) => o === op).length;
        const authorized = count("AUTHORIZE");
        // A fulfillment cancelled before its authorization has no entry at all.
        const once = authorized + count("DECLINE") <= 1;
        const settledOnce = count("CAPTURE") + count("VOID") <= authorized;
        const delivered =
          fulfillment.status !== FulfillmentStatus.DELIVERED ||
          (authorized === 1 && count("CAPTURE") === 1);
        if (!once || !settledOnce || !delivered) {
          problems.push(
            `${fulfillment.fulfillmentId} (${FulfillmentStatus[fulfillment.status]}): ledger ${ops.join(",")}`,
          );
        }
      }
    }
    if (problems.length > 0) {
      const now = Date.now();
      const stalled = [...reportsInFlight]
        .filter(([, since]) => now - since > 30_000)
        .map(([key, since]) => `${key.split(" #")[0]} for ${Math.round((now - since) / 1000)} s`);
      console.log(
        `courier reports under way for over 30 s: ${stalled.join("; ") || "none"}\n${await workerLatencies()}`,
      );
    }
    const kills = [...workers, ...apis].map((p) => `${p.role} ${p.kills}`).join(", ");
    console.log(
      `production tier: ends ${JSON.stringify(Object.fromEntries(ends))}; kills ${kills}`,
    );
    expect([...apis, ...workers].flatMap((p) => p.crashes)).toEqual([]);
    expect(chaosFailures).toEqual([]);
    // One assertion, so a failure shows the refused courier events next to the stuck orders.
    expect({ problems, refusedCourierEvents }).toEqual({ problems: [], refusedCourierEvents: [] });
    expect(workers.reduce((n, p) => n + p.kills, 0)).toBeGreaterThanOrEqual(2);
    expect(apis.reduce((n, p) => n + p.kills, 0)).toBeGreaterThanOrEqual(2);
  });
});

type Client = ConnectClient<typeof OrderService>;
