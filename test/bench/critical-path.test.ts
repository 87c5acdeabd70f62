import { readFileSync } from "node:fs";
import path from "node:path";
import { historyFromJSON } from "@temporalio/common/lib/proto-utils.js";
import { describe, expect, it } from "vitest";
import {
  criticalPath,
  formatCriticalPath,
  type TimedHistoryEvent,
} from "../../bench/critical-path.js";

const at = (ms: number) => `2026-11-30T00:00:00.${String(ms).padStart(3, "0")}000000Z`;

describe("criticalPath (an order's workflow tasks from its history's timestamps)", () => {
  it("splits the time into waiting, queue and worker per workflow task", () => {
    const events: TimedHistoryEvent[] = [
      { eventId: "1", eventTime: at(0) },
      { eventId: "2", eventTime: at(1), workflowTaskScheduledEventAttributes: {} },
      { eventId: "3", eventTime: at(5), workflowTaskStartedEventAttributes: {} },
      { eventId: "4", eventTime: at(25), workflowTaskCompletedEventAttributes: {} },
      {
        eventId: "5",
        eventTime: at(25),
        activityTaskScheduledEventAttributes: { activityType: { name: "reserveInventory" } },
      },
      {
        eventId: "6",
        eventTime: at(60),
        activityTaskCompletedEventAttributes: { scheduledEventId: "5" },
      },
      { eventId: "7", eventTime: at(60), workflowTaskScheduledEventAttributes: {} },
      { eventId: "8", eventTime: at(62), workflowTaskStartedEventAttributes: {} },
      { eventId: "9", eventTime: at(90), workflowTaskCompletedEventAttributes: {} },
      {
        eventId: "10",
        eventTime: at(90),
        markerRecordedEventAttributes: { markerName: "core_local_activity" },
      },
      // Nothing in history before this task: it was scheduled for an Update.
      { eventId: "11", eventTime: at(120), workflowTaskScheduledEventAttributes: {} },
      { eventId: "12", eventTime: at(121), workflowTaskStartedEventAttributes: {} },
      { eventId: "13", eventTime: at(140), workflowTaskCompletedEventAttributes: {} },
      { eventId: "14", eventTime: at(140), workflowExecutionUpdateAcceptedEventAttributes: {} },
      { eventId: "15", eventTime: at(141) },
    ];
    const p = criticalPath(events);
    expect(p.tasks).toEqual([
      {
        scheduledAtMs: 1,
        waitedFor: "start",
        waitingMs: 1,
        queueMs: 4,
        workerMs: 20,
        localActivities: 0,
        updates: 0,
      },
      {
        scheduledAtMs: 60,
        waitedFor: "reserveInventory",
        waitingMs: 35,
        queueMs: 2,
        workerMs: 28,
        localActivities: 1,
        updates: 0,
      },
      {
        scheduledAtMs: 120,
        waitedFor: "Update(s)",
        waitingMs: 30,
        queueMs: 1,
        workerMs: 19,
        localActivities: 0,
        updates: 1,
      },
    ]);
    expect(p.totalMs).toBe(141);
    expect(p.waitingMs + p.queueMs + p.workerMs + p.closeMs).toBeCloseTo(p.totalMs, 6);
    expect(formatCriticalPath(p)).toContain("3 workflow tasks");
  });

  it("accounts for every millisecond of a recorded order, read with historyFromJSON", () => {
    const file = path.resolve(
      import.meta.dirname,
      "../fixtures/histories/completed-two-warehouses.order.json",
    );
    const events = historyFromJSON(JSON.parse(readFileSync(file, "utf8"))).events ?? [];
    const p = criticalPath(events);
    expect(p.tasks).toHaveLength(
      events.filter((e) => e.workflowTaskCompletedEventAttributes).length,
    );
    expect(p.tasks[0]?.waitedFor).toBe("start");
    expect(p.tasks.map((t) => t.waitedFor)).toContain("reserveInventory");
    expect(p.tasks.reduce((a, t) => a + t.updates, 0)).toBe(4);
    expect(p.tasks.reduce((a, t) => a + t.localActivities, 0)).toBe(
      events.filter((e) => e.markerRecordedEventAttributes?.markerName === "core_local_activity")
        .length,
    );
    expect(p.waitingMs + p.queueMs + p.workerMs + p.closeMs).toBeCloseTo(p.totalMs, 6);
    expect(p.totalMs).toBeGreaterThan(0);
  });
});
