/**
 * npm run bench:operations: what each order path costs in Temporal, from
 * the replay fixtures (test/fixtures/histories/*.order.json: histories of
 * real orders on the dev server, recorded by the end-to-end tests with
 * `npm run record-histories`). One row per path: history events, workflow
 * tasks, activities, local-activity markers (read-model writes), timers,
 * Updates and estimated Temporal Cloud Actions (bench/actions.ts). The order
 * operations' paths (holds, edits, item cancellation) print next to the
 * common path they add to. Reads files only; starts nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import { type BillingHistoryEvent, billableActions } from "./actions.js";

const fixtures = path.resolve(import.meta.dirname, "../test/fixtures/histories");

/** The paths of the order operations and what each shows. */
const OPERATIONS: Record<string, string> = {
  "hold-released":
    "two-warehouse order, delivered: 2 holds placed and released before authorization (4 Updates besides the 4 courier events)",
  "hold-expired-cancel":
    "one-warehouse order: PAYMENT_REVIEW hold, its deadline timer fires, the order is cancelled",
  "fraud-review-released":
    "two-warehouse order, delivered: automatic FRAUD_REVIEW, released (1 Update), one re-authorization",
  "address-updated":
    "two-warehouse order, delivered: hold + UpdateShippingAddress + release (3 Updates); refused edits write nothing",
  "items-cancelled":
    "two-warehouse order, delivered: hold + CancelOrderItems (partial, 1 stock release) + release (3 Updates)",
  "completed-expiring-authorizations":
    "two-warehouse order, delivered, authorizations expiring in 7 days: the common path with the renewal timer (started, cancelled at dispatch)",
  "resourced-warehouse-rejected":
    "one-warehouse order, delivered: wh-east rejects the booking, the lines are re-sourced to wh-west (reserve, void + release, a new fulfillment)",
  reauthorized:
    "two-warehouse order, delivered: courier late by two authorization lifetimes, 2 renewals per fulfillment (authorize + void each), lost responses",
  "items-edited":
    "two-warehouse order, one fulfillment delivered: hold + UpdateOrderItems before authorization (a line raised, one added: 1 reserve; one removed: its fulfillment withdrawn) + release (3 Updates)",
  "items-edited-reauthorized":
    "two-warehouse order, delivered: hold + UpdateOrderItems after authorization (a line raised: 1 reserve, authorize the new total, void the old) + release (3 Updates)",
};

interface Row {
  path: string;
  events: number;
  workflowTasks: number;
  activities: number;
  localActivityMarkers: number;
  timers: number;
  updates: number;
  actions: number;
}

function costOf(name: string, file: string): Row {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(fixtures, file), "utf8")));
  const events = history.events ?? [];
  const count = (has: (e: (typeof events)[number]) => unknown) => events.filter(has).length;
  return {
    path: name,
    events: events.length,
    workflowTasks: count((e) => e.workflowTaskCompletedEventAttributes),
    activities: count((e) => e.activityTaskScheduledEventAttributes),
    localActivityMarkers: count(
      (e) => e.markerRecordedEventAttributes?.markerName === "core_local_activity",
    ),
    timers: count((e) => e.timerStartedEventAttributes),
    updates: count((e) => e.workflowExecutionUpdateAcceptedEventAttributes),
    actions: billableActions(events as BillingHistoryEvent[]).total,
  };
}

const files = readdirSync(fixtures).filter((f) => f.endsWith(".order.json"));
const rows = files.map((f) => costOf(f.replace(/\.order\.json$/, ""), f));
const columns: (keyof Row)[] = [
  "path",
  "events",
  "workflowTasks",
  "activities",
  "localActivityMarkers",
  "timers",
  "updates",
  "actions",
];
const print = (title: string, selected: Row[]) => {
  process.stdout.write(`\n${title}\n`);
  const widths = columns.map((c) =>
    Math.max(c.length, ...selected.map((r) => String(r[c]).length)),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |\n`;
  process.stdout.write(line(columns));
  process.stdout.write(line(widths.map((w) => "-".repeat(w))));
  for (const r of selected) process.stdout.write(line(columns.map((c) => String(r[c]))));
};
print(
  "Common and existing paths (per order, one workflow each):",
  rows.filter((r) => !(r.path in OPERATIONS)),
);
print(
  "Order operations (per order):",
  rows.filter((r) => r.path in OPERATIONS),
);
for (const [name, what] of Object.entries(OPERATIONS)) {
  process.stdout.write(`  ${name}: ${what}\n`);
}
