/**
 * Where an order's time went, from its history's own timestamps: the chain
 * of workflow tasks from the start to the close, and what each one waited
 * for. Every step of an order moves through workflow tasks (an activity's
 * completion, an Update, a timer schedules the next one), so the end-to-end
 * time is the sum, over the tasks, of
 *
 * - **waiting**: from the previous task's completion to this task being
 *   scheduled (an activity running, the courier's next report, a timer);
 * - **queue**: scheduled → started (the task waiting for a worker's poll);
 * - **worker**: started → completed (the worker's activation, plus the local
 *   activities, e.g. saveOrder, that ran inside the task);
 *
 * plus the close. The history's timestamps are the server's, so this holds
 * on a busy machine where wall-clock figures do not.
 *
 * `npm run bench:critical-path -- <history.json>...` prints it for histories
 * saved as JSON (test/fixtures/histories/*.json, `temporal workflow show
 * --output json`, or `historyToJSON`).
 */

/** The fields of a `temporal.api.history.v1.HistoryEvent` (decoded or JSON) read here. */
export interface TimedHistoryEvent {
  eventId?: unknown;
  eventTime?: unknown;
  workflowTaskScheduledEventAttributes?: unknown;
  workflowTaskStartedEventAttributes?: unknown;
  workflowTaskCompletedEventAttributes?: unknown;
  workflowTaskTimedOutEventAttributes?: unknown;
  workflowTaskFailedEventAttributes?: unknown;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskFailedEventAttributes?: { scheduledEventId?: unknown } | null;
  activityTaskTimedOutEventAttributes?: { scheduledEventId?: unknown } | null;
  timerFiredEventAttributes?: unknown;
  markerRecordedEventAttributes?: { markerName?: string | null } | null;
  workflowExecutionUpdateAcceptedEventAttributes?: unknown;
  workflowExecutionSignaledEventAttributes?: unknown;
}

/** One workflow task of the chain. */
export interface TaskOnPath {
  /** Milliseconds since the workflow started, when the task was scheduled. */
  scheduledAtMs: number;
  /** What this task was scheduled for (since the previous task completed). */
  waitedFor: string;
  waitingMs: number;
  queueMs: number;
  workerMs: number;
  /** Local-activity markers (read-model writes) and Updates accepted by the task. */
  localActivities: number;
  updates: number;
}

export interface CriticalPath {
  /** Workflow started → last event (the close, for a closed workflow). */
  totalMs: number;
  tasks: TaskOnPath[];
  /** Sums over the tasks; waiting + queue + worker + closeMs = totalMs. */
  waitingMs: number;
  queueMs: number;
  workerMs: number;
  /** Last task's completion → last event. */
  closeMs: number;
}

/** Milliseconds since the epoch of an event's time (a `Timestamp` or an RFC 3339 string). */
function timeOf(event: TimedHistoryEvent): number {
  const t = event.eventTime;
  if (typeof t === "string") {
    // Date keeps milliseconds only; the fraction's next digits are added by hand.
    const m = /\.(\d+)Z$/.exec(t);
    const fraction = m?.[1] ?? "";
    return Date.parse(t) + (Number(`0.${fraction.slice(3) || "0"}`) || 0);
  }
  if (t && typeof t === "object") {
    const { seconds, nanos } = t as { seconds?: unknown; nanos?: unknown };
    return Number(seconds ?? 0) * 1000 + Number(nanos ?? 0) / 1e6;
  }
  throw new Error("history event without eventTime");
}

/** The chain of workflow tasks of one workflow run's history, in order. */
export function criticalPath(events: readonly TimedHistoryEvent[]): CriticalPath {
  const first = events[0];
  const last = events.at(-1);
  if (first === undefined || last === undefined) throw new Error("empty history");
  const t0 = timeOf(first);
  const activityNames = new Map<string, string>();
  const tasks: TaskOnPath[] = [];
  let previousEnd = t0;
  let waitedFor: string[] = [];
  let current: { scheduled: number; started?: number; task: TaskOnPath } | undefined;
  let lastCompleted = t0;

  for (const e of events) {
    const t = timeOf(e);
    const scheduledActivity = e.activityTaskScheduledEventAttributes;
    if (scheduledActivity) {
      activityNames.set(String(e.eventId), scheduledActivity.activityType?.name ?? "activity");
    }
    const ended =
      e.activityTaskCompletedEventAttributes ??
      e.activityTaskFailedEventAttributes ??
      e.activityTaskTimedOutEventAttributes;
    if (ended) waitedFor.push(activityNames.get(String(ended.scheduledEventId)) ?? "activity");
    if (e.timerFiredEventAttributes) waitedFor.push("timer");
    if (e.workflowExecutionSignaledEventAttributes) waitedFor.push("signal");

    if (e.workflowTaskScheduledEventAttributes) {
      const task: TaskOnPath = {
        scheduledAtMs: t - t0,
        waitedFor: tasks.length === 0 ? "start" : describeWait(waitedFor),
        waitingMs: t - previousEnd,
        queueMs: 0,
        workerMs: 0,
        localActivities: 0,
        updates: 0,
      };
      current = { scheduled: t, task };
      waitedFor = [];
    } else if (e.workflowTaskStartedEventAttributes && current) {
      current.started = t;
      current.task.queueMs = t - current.scheduled;
    } else if (e.workflowTaskCompletedEventAttributes && current) {
      current.task.workerMs = t - (current.started ?? current.scheduled);
      tasks.push(current.task);
      previousEnd = t;
      lastCompleted = t;
      current = undefined;
    } else if (
      (e.workflowTaskTimedOutEventAttributes || e.workflowTaskFailedEventAttributes) &&
      current
    ) {
      // The task is tried again: its time so far counts as waiting for the retry.
      current = undefined;
      waitedFor.push("a failed or timed-out workflow task");
    }
    const latest = tasks.at(-1);
    if (latest !== undefined && current === undefined) {
      if (e.markerRecordedEventAttributes?.markerName === "core_local_activity") {
        latest.localActivities += 1;
      }
      if (e.workflowExecutionUpdateAcceptedEventAttributes) latest.updates += 1;
    }
  }
  const sum = (f: (t: TaskOnPath) => number) => tasks.reduce((a, t) => a + f(t), 0);
  const totalMs = timeOf(last) - t0;
  return {
    totalMs,
    tasks,
    waitingMs: sum((t) => t.waitingMs),
    queueMs: sum((t) => t.queueMs),
    workerMs: sum((t) => t.workerMs),
    closeMs: timeOf(last) - lastCompleted,
  };
}

/** "bookShipment ×2", "timer", "Update(s)" (a task scheduled for nothing in history is for an Update). */
function describeWait(what: string[]): string {
  if (what.length === 0) return "Update(s)";
  const counts = new Map<string, number>();
  for (const w of what) counts.set(w, (counts.get(w) ?? 0) + 1);
  return [...counts].map(([w, n]) => (n > 1 ? `${w} ×${n}` : w)).join(", ");
}

/** The path as a table, one line per workflow task. */
export function formatCriticalPath(path: CriticalPath): string {
  const ms = (v: number) => v.toFixed(1).padStart(7);
  const lines = [
    "task  at (ms)  waiting   queue  worker  LA  Upd  waited for",
    ...path.tasks.map(
      (t, i) =>
        `${String(i + 1).padStart(4)} ${ms(t.scheduledAtMs)} ${ms(t.waitingMs)} ${ms(t.queueMs)} ${ms(t.workerMs)} ${String(t.localActivities).padStart(3)} ${String(t.updates).padStart(4)}  ${t.waitedFor}`,
    ),
    `total ${path.totalMs.toFixed(1)} ms = waiting ${path.waitingMs.toFixed(1)} + queue ${path.queueMs.toFixed(1)} + worker ${path.workerMs.toFixed(1)} + close ${path.closeMs.toFixed(1)}; ${path.tasks.length} workflow tasks`,
  ];
  return lines.join("\n");
}
