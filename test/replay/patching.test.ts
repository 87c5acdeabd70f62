/**
 * How a change to orderWorkflow is deployed without breaking running orders
 * (docs/workflow-changes.md), shown on a typical change: a fraud-check
 * activity before the reservation (variants/fraud-check.ts, built from the
 * real workflow's steps).
 *
 * - Unguarded, the change breaks every recorded order: replay fails with a
 *   DeterminismViolationError.
 * - Behind `patched("fraud-check")` every recorded order replays.
 * - A deploy on the shared dev server: an order started by the production
 *   bundle waits for its courier while the workers are replaced by the
 *   patched ones; it finishes without the check, a new order runs it, and a
 *   visibility query tells the two kinds apart.
 * - What the new order's history allows: no rollback to the old code, and
 *   `deprecatePatch` (step 2) only once no run of the old shape is left.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Client, Connection, type WorkflowHandle } from "@temporalio/client";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import type { temporal } from "@temporalio/proto";
import { NativeConnection, type ReplayResult, Worker } from "@temporalio/worker";
import { DeterminismViolationError } from "@temporalio/workflow";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Activities } from "../../src/activities/index.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import type { Order } from "../../src/domain/order.js";
import { DEFAULT_PRICING } from "../../src/domain/pricing.js";
import {
  getOrderQuery,
  ORDER_WORKFLOW_TYPE,
  type OrderWorkflowInput,
  reportShipmentEventUpdate,
} from "../../src/workflows/messages.js";
import { type Variant, variantBundle } from "./variants/bundle.js";
import { FRAUD_CHECK_PATCH, type FraudActivities } from "./variants/fraud-check.js";

type History = temporal.api.history.v1.IHistory;

const fixtures = path.resolve(import.meta.dirname, "../fixtures/histories");
const fixtureFiles = readdirSync(fixtures).filter((f) => f.endsWith(".json"));
const fixture = (file: string): History =>
  historyFromJSON(JSON.parse(readFileSync(path.join(fixtures, file), "utf8")));

/** Replays each history against a bundle; one result per history, in order. */
async function replay(bundlePath: string, histories: Record<string, History>) {
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { codePath: bundlePath } },
    Object.entries(histories).map(([workflowId, history]) => ({ workflowId, history })),
  )) {
    results.push(result);
  }
  return results;
}

describe("a change to orderWorkflow behind patched()", () => {
  const bundles = {} as Record<Variant | "production", string>;

  beforeAll(async () => {
    bundles.production = inject("workflowBundlePath");
    const variants = ["unguarded", "patched", "deprecated"] as const;
    const paths = await Promise.all(variants.map(variantBundle));
    variants.forEach((v, i) => {
      bundles[v] = paths[i] as string;
    });
  }, 120_000);

  it("unguarded, breaks a recorded order: DeterminismViolationError", async () => {
    const [result] = await replay(bundles.unguarded, {
      "completed-two-warehouses": fixture("completed-two-warehouses.order.json"),
    });
    expect(result?.error).toBeInstanceOf(DeterminismViolationError);
    // The recorded first command (reserveInventory) is not the one the code now gives first.
    expect(result?.error?.message).toMatch(/\[TMPRL1100\].*'reserveInventory'.*'checkFraud'/s);
  });

  it("behind patched(), replays every recorded order", async () => {
    const results = await replay(
      bundles.patched,
      Object.fromEntries(fixtureFiles.map((f) => [f, fixture(f)])),
    );
    expect(results).toHaveLength(fixtureFiles.length);
    for (const result of results) expect(result.error, result.workflowId).toBeUndefined();
  });

  describe("deployed over a running order", () => {
    const namespace = process.env.OMS_TEST_TEMPORAL_NAMESPACE ?? "oms-test";
    const taskQueue = `patching-${randomUUID()}`;
    /** Activity calls as `<activity> <orderId>`, in the order they happened. */
    const calls: string[] = [];
    let connection: NativeConnection;
    let clientConnection: Connection;
    let client: Client;
    /** Stops every worker started here (again), whatever the test got to. */
    const workers: (() => Promise<void>)[] = [];

    const activities = {
      async checkFraud(input) {
        calls.push(`checkFraud ${input.orderId}`);
        return { approved: true, reason: "" };
      },
      async reserveInventory(input) {
        calls.push(`reserveInventory ${input.orderId}`);
        return { allocations: [{ warehouseId: "wh-test", items: input.items }], unavailable: [] };
      },
      async authorizePayment(input) {
        return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
      },
      async bookShipment(input) {
        return { shipmentId: `ship-${input.fulfillmentId}`, courierReference: "ref-1" };
      },
      async capturePayment() {},
      async voidPayment() {},
      async releaseInventory() {},
      async cancelShipment() {
        return true;
      },
      async saveOrder() {},
    } satisfies Partial<Activities & FraudActivities>;

    const startWorker = async (bundlePath: string, options: { maxCachedWorkflows?: number }) => {
      const worker = await Worker.create({
        connection,
        namespace,
        taskQueue,
        workflowBundle: { codePath: bundlePath },
        activities,
        ...options,
      });
      const running = worker.run();
      let stopped: Promise<void> | undefined;
      const stop = () => {
        stopped ??= (async () => {
          worker.shutdown();
          await running;
        })();
        return stopped;
      };
      workers.push(stop);
      return stop;
    };

    const startOrder = async (): Promise<WorkflowHandle> => {
      const orderId = `patching-${randomUUID()}`;
      const input: OrderWorkflowInput = {
        submission: {
          orderId,
          customerId: "customer-1",
          currencyCode: "USD",
          items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1250 }],
          shippingAddress: {
            name: "Ada",
            line1: "1 Main St",
            line2: "",
            city: "Springfield",
            region: "",
            postalCode: "",
            countryCode: "US",
          },
        },
        acceptTime: new Date().toISOString(),
        submittedBy: "test",
        pricing: DEFAULT_PRICING,
        customerActionTimeoutMs: 60_000,
      };
      return client.workflow.start(ORDER_WORKFLOW_TYPE, {
        taskQueue,
        workflowId: orderWorkflowId(orderId),
        args: [input],
      });
    };

    /** Until the order's one shipment is booked: it waits for the courier (for days, in life). */
    const waitForCourier = async (handle: WorkflowHandle) => {
      await expect
        .poll(async () => (await handle.query(getOrderQuery)).fulfillments[0]?.shipment.status, {
          timeout: 15_000,
          interval: 100,
        })
        .toBe("BOOKED");
    };

    const deliver = async (handle: WorkflowHandle): Promise<Order> => {
      const fulfillmentId = `${handle.workflowId.replace(/^order\//, "")}/1`;
      for (const event of ["DISPATCHED", "DELIVERED"] as const) {
        await handle.executeUpdate(reportShipmentEventUpdate, {
          args: [
            {
              fulfillmentId,
              shipmentId: `ship-${fulfillmentId}`,
              event,
              occurredAt: new Date().toISOString(),
            },
          ],
        });
      }
      return (await handle.result()) as Order;
    };

    /** Workflow ids that a visibility query finds on this test's task queue. */
    const visible = async (query: string) => {
      const ids: string[] = [];
      for await (const wf of client.workflow.list({
        query: `TaskQueue = "${taskQueue}" AND ${query}`,
      })) {
        ids.push(wf.workflowId);
      }
      return ids.sort();
    };

    beforeAll(async () => {
      const address = inject("temporalAddress");
      connection = await NativeConnection.connect({ address });
      clientConnection = await Connection.connect({ address });
      client = new Client({ connection: clientConnection, namespace });
    });

    afterAll(async () => {
      await Promise.all(workers.map((stop) => stop()));
      await clientConnection?.close();
      await connection?.close();
    });

    it("an old order finishes without the check, a new one runs it", async () => {
      // Before the deploy: the production code. No workflow cache, so that the
      // next worker gets the order's tasks at once (no sticky queue to time out).
      const stopOld = await startWorker(bundles.production, { maxCachedWorkflows: 0 });
      const old = await startOrder();
      await waitForCourier(old);

      // The query that tells whether runs of the old shape remain.
      // (TemporalChangeVersion is the list of patch ids a run has passed.)
      const oldShape = `ExecutionStatus = "Running" AND (TemporalChangeVersion IS NULL OR TemporalChangeVersion != "${FRAUD_CHECK_PATCH}")`;
      await expect.poll(() => visible(oldShape), { timeout: 10_000 }).toEqual([old.workflowId]);

      // The deploy: the production workers go, the patched ones come.
      await stopOld();
      await startWorker(bundles.patched, {});

      const fresh = await startOrder();
      await waitForCourier(fresh);
      await expect
        .poll(() => visible(`TemporalChangeVersion = "${FRAUD_CHECK_PATCH}"`), {
          timeout: 10_000,
        })
        .toEqual([fresh.workflowId]);
      expect(await visible(oldShape)).toEqual([old.workflowId]);

      const [oldOrder, freshOrder] = await Promise.all([deliver(old), deliver(fresh)]);
      expect(oldOrder.status).toBe("COMPLETED");
      expect(freshOrder.status).toBe("COMPLETED");
      const oldId = oldOrder.orderId;
      const freshId = freshOrder.orderId;
      expect(calls.filter((c) => c.endsWith(oldId))).toEqual([`reserveInventory ${oldId}`]);
      expect(calls.filter((c) => c.endsWith(freshId))).toEqual([
        `checkFraud ${freshId}`,
        `reserveInventory ${freshId}`,
      ]);
      // Nothing of the old shape is left: the condition for deploy step 2.
      await expect.poll(() => visible(oldShape), { timeout: 10_000 }).toEqual([]);

      const histories = {
        old: (await old.fetchHistory()) as History,
        fresh: (await fresh.fetchHistory()) as History,
      };
      // Markers of this patch (the production code has patches of its own).
      const markers = (h: History) =>
        (h.events ?? []).filter((e) => {
          const marker = e.markerRecordedEventAttributes;
          const data = marker?.details?.["patch-data"]?.payloads?.[0]?.data;
          return (
            marker?.markerName === "core_patch" &&
            data != null &&
            Buffer.from(data).toString().includes(`"${FRAUD_CHECK_PATCH}"`)
          );
        }).length;
      expect(markers(histories.old)).toBe(0);
      expect(markers(histories.fresh)).toBe(1);

      // Rolling back to the previous code would break the new order.
      const [oldOnProd, freshOnProd] = await replay(bundles.production, histories);
      expect(oldOnProd?.error).toBeUndefined();
      expect(freshOnProd?.error).toBeInstanceOf(DeterminismViolationError);

      // Step 2 (deprecatePatch, the check unconditional) replays the new
      // order but not the old one: deploy it only once the query is empty.
      const [oldOnStep2, freshOnStep2] = await replay(bundles.deprecated, histories);
      expect(oldOnStep2?.error).toBeInstanceOf(DeterminismViolationError);
      expect(freshOnStep2?.error).toBeUndefined();
    });
  });
});
