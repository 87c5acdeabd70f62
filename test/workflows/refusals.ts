/**
 * Courier events the order's validators refuse, as one scenario run against
 * either server (the time-skipping test server and a real dev server keep
 * different traces of a refused Update, so each file asserts its own).
 */
import { WorkflowUpdateFailedError } from "@temporalio/client";
import { ApplicationFailure } from "@temporalio/common";
import type { TestWorkflowEnvironment } from "@temporalio/testing";
import { expect } from "vitest";
import type { Order } from "../../src/domain/order.js";
import {
  reportShipmentEventUpdate,
  type ShipmentEventReport,
  WorkflowFailureType,
} from "../../src/workflows/messages.js";
import {
  booked,
  DISPATCHED_AT,
  expectConsistentSnapshots,
  gate,
  type Mocks,
  mockActivities,
  notificationKinds,
  type OrderHandle,
  report,
  shipAndDeliver,
  withOrder,
} from "./harness.js";

export interface RefusalRun {
  mocks: Mocks;
  result: Order;
  /** The failure type of each refused Update, by update id. */
  refused: { updateId: string; type: string | undefined }[];
  /** The kinds of the history events written while the Updates were refused. */
  written: string[];
  /** Whether any event of the whole history mentions a refused update id. */
  mentioned: boolean;
}

type HistoryEvent = NonNullable<Awaited<ReturnType<OrderHandle["fetchHistory"]>>["events"]>[number];

/** "workflowTaskCompletedEventAttributes", … : which kind of event it is. */
function kindOf(event: HistoryEvent): string {
  const record = event as unknown as Record<string, unknown>;
  return Object.keys(record).find((k) => k.endsWith("EventAttributes") && record[k] != null) ?? "?";
}

/**
 * A two-warehouse order, both booked, east dispatched and its capture held (so
 * the workflow has nothing of its own to write): then DELIVERED before
 * DISPATCHED, an unknown fulfillment and a foreign shipment id are reported
 * and must be refused; afterwards the order completes normally.
 */
export async function refuseCourierEvents(env: TestWorkflowEnvironment): Promise<RefusalRun> {
  const capturing = gate();
  const mocks = mockActivities({
    async capturePayment() {
      await capturing.pass();
    },
  });
  const refused: RefusalRun["refused"] = [];
  const refuse = async (handle: OrderHandle, updateId: string, event: ShipmentEventReport) => {
    const err = await handle
      .executeUpdate(reportShipmentEventUpdate, { args: [event], updateId })
      .then(
        () => expect.fail(`${updateId} was accepted`),
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const cause = (err as WorkflowUpdateFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    refused.push({ updateId, type: (cause as ApplicationFailure).type ?? undefined });
  };

  let written: string[] = [];
  let mentioned = true;
  const result = await withOrder(env, mocks.activities, {}, async (handle, id) => {
    const [east, west] = [`${id}/1`, `${id}/2`];
    await mocks.saved(booked(east, west));
    expect((await report(handle, east, "DISPATCHED")).status).toBe("DISPATCHED");
    // The capture that follows is held: the workflow waits on it and on the
    // courier, with nothing to write, so its history stands still.
    await capturing.reached;
    const before = (await handle.fetchHistory()).events?.length ?? 0;

    const occurredAt = DISPATCHED_AT;
    await refuse(handle, "delivered-before-dispatched", {
      fulfillmentId: west,
      shipmentId: `ship-${west}`,
      event: "DELIVERED",
      occurredAt,
    });
    await refuse(handle, "unknown-fulfillment", {
      fulfillmentId: `${id}/9`,
      shipmentId: `ship-${id}/9`,
      event: "DISPATCHED",
      occurredAt,
    });
    await refuse(handle, "foreign-shipment", {
      fulfillmentId: west,
      shipmentId: "ship-of-another-order",
      event: "DISPATCHED",
      occurredAt,
    });
    const events = (await handle.fetchHistory()).events ?? [];
    written = events.slice(before).map(kindOf);

    // A repeat of an event already applied is accepted and changes nothing.
    expect((await report(handle, east, "DISPATCHED")).status).toBe("DISPATCHED");
    capturing.open();
    await shipAndDeliver(handle, mocks, west);
    expect((await report(handle, east, "DELIVERED")).status).toBe("DELIVERED");
    const done = await handle.result();
    const all = JSON.stringify((await handle.fetchHistory()).events);
    mentioned = refused.some((r) => all.includes(r.updateId));
    return done;
  });
  return { mocks, result, refused, written, mentioned };
}

/** What both servers agree on: the refusals, their types, and an order untouched by them. */
export function expectRefusals(run: RefusalRun): void {
  const { mocks, result } = run;
  expect(run.refused).toEqual([
    { updateId: "delivered-before-dispatched", type: WorkflowFailureType.ShipmentEventOutOfOrder },
    { updateId: "unknown-fulfillment", type: WorkflowFailureType.ShipmentNotFound },
    { updateId: "foreign-shipment", type: WorkflowFailureType.ShipmentNotFound },
  ]);
  // No Update event (admitted, accepted, rejected, completed) for any of them.
  expect(run.written.filter((k) => k.includes("Update"))).toEqual([]);
  expect(run.mentioned).toBe(false);
  expect(result.status).toBe("COMPLETED");
  // One dispatch, one capture and one delivery per fulfillment: the refusals changed nothing.
  expect(mocks.calls.filter((c) => c.name === "capturePayment")).toHaveLength(2);
  expect(notificationKinds(mocks).sort()).toEqual([
    "ORDER_ACCEPTED",
    "ORDER_COMPLETED",
    "SHIPMENT_DELIVERED",
    "SHIPMENT_DELIVERED",
    "SHIPMENT_DISPATCHED",
    "SHIPMENT_DISPATCHED",
  ]);
  expectConsistentSnapshots(mocks, result);
}
