/**
 * Estimated Temporal Cloud billable Actions of workflow histories.
 *
 * The mapping of history events to Actions follows Temporal's "Temporal Cloud
 * Actions" page, https://docs.temporal.io/cloud/actions (source:
 * temporalio/documentation, docs/evaluate/cloud/actions.mdx):
 *
 * - Workflow started (client start, Continue-As-New, Child Workflow start): 1
 *   per WorkflowExecutionStarted; a child's start is billed in its parent, as
 *   StartChildWorkflowExecutionInitiated = 2 Actions (the recorded intent and
 *   the start attempt), so a child's own WorkflowExecutionStarted counts 0.
 *   Signal-With-Start is one Action in total (Started directly followed by
 *   Signaled counts 1).
 * - Activity started or retried: 1 per ActivityTaskScheduled, plus
 *   `attempt - 1` of its ActivityTaskStarted (the intermediate retries write no
 *   events of their own).
 * - Local Activities: all local-activity markers (MarkerRecorded) of one
 *   workflow task count as 1 Action, plus the task's
 *   `meteringMetadata.nonfirstLocalActivityExecutionAttempts` (LA retries).
 *   Other markers (SDK version / patch markers) are not local activities and
 *   are not counted.
 * - Timer started: 1 per TimerStarted.
 * - Signal sent: 1 per WorkflowExecutionSignaled, counted where it is
 *   received (SignalExternalWorkflowExecutionInitiated in the sender counts 0,
 *   as in Temporal Cloud's UI).
 * - Update received by the worker: 1 per WorkflowExecutionUpdateAccepted.
 *   Rejected Updates are billed too but never written to history: invisible here.
 * - Upsert Search Attributes: 1 per UpsertWorkflowSearchAttributes, except one
 *   that only sets TemporalChangeVersion (versioning is exempt).
 * - Workflow Execution Options updated: 1; workflow reset: 1 (WorkflowTaskFailed
 *   with cause RESET_WORKFLOW); Nexus operation scheduled / cancel requested: 1.
 *
 * Not visible in a history, so not counted: Queries, rejected Updates,
 * workflow-task heartbeats of long local activities, activity heartbeats,
 * schedules, export. The result is therefore an estimate (a lower bound for
 * workflows that use those), like the page's own "Billable Actions" column.
 */

/** The subset of a `temporal.api.history.v1.HistoryEvent` (decoded or JSON) that billing reads. */
export interface BillingHistoryEvent {
  eventId?: unknown;
  workflowExecutionStartedEventAttributes?: {
    parentWorkflowExecution?: unknown;
  } | null;
  workflowExecutionSignaledEventAttributes?: object | null;
  workflowTaskCompletedEventAttributes?: {
    meteringMetadata?: { nonfirstLocalActivityExecutionAttempts?: number | null } | null;
  } | null;
  workflowTaskFailedEventAttributes?: { cause?: unknown } | null;
  activityTaskScheduledEventAttributes?: object | null;
  activityTaskStartedEventAttributes?: { attempt?: number | null } | null;
  markerRecordedEventAttributes?: {
    markerName?: string | null;
    workflowTaskCompletedEventId?: unknown;
  } | null;
  timerStartedEventAttributes?: object | null;
  workflowExecutionUpdateAcceptedEventAttributes?: object | null;
  startChildWorkflowExecutionInitiatedEventAttributes?: object | null;
  upsertWorkflowSearchAttributesEventAttributes?: {
    searchAttributes?: { indexedFields?: Record<string, unknown> | null } | null;
  } | null;
  workflowExecutionOptionsUpdatedEventAttributes?: object | null;
  nexusOperationScheduledEventAttributes?: object | null;
  nexusOperationCancelRequestedEventAttributes?: object | null;
}

/** Billable Actions by the page's categories. */
export interface ActionBreakdown {
  workflowStarted: number;
  childWorkflowStarted: number;
  activities: number;
  activityRetries: number;
  localActivities: number;
  localActivityRetries: number;
  timers: number;
  signals: number;
  updates: number;
  searchAttributeUpserts: number;
  other: number;
}

export interface ActionEstimate extends ActionBreakdown {
  total: number;
}

/** Marker names of local activities: TypeScript/Python/.NET (sdk-core) and Go/Java. */
const LOCAL_ACTIVITY_MARKERS = new Set(["core_local_activity", "LocalActivity"]);
const RESET_WORKFLOW_CAUSE = 20; // WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
const present = (value: unknown) => value !== undefined && value !== null;

/** Estimated billable Actions of one workflow execution's history (see the module comment). */
export function billableActions(events: readonly BillingHistoryEvent[]): ActionEstimate {
  const b: ActionBreakdown = {
    workflowStarted: 0,
    childWorkflowStarted: 0,
    activities: 0,
    activityRetries: 0,
    localActivities: 0,
    localActivityRetries: 0,
    timers: 0,
    signals: 0,
    updates: 0,
    searchAttributeUpserts: 0,
    other: 0,
  };
  // Workflow tasks that recorded at least one local-activity marker.
  const localActivityTasks = new Set<string>();
  events.forEach((event, i) => {
    const started = event.workflowExecutionStartedEventAttributes;
    if (present(started)) {
      if (!present(started?.parentWorkflowExecution)) b.workflowStarted += 1;
      return;
    }
    if (present(event.workflowExecutionSignaledEventAttributes)) {
      // Signal-With-Start: the signal lands right after the start, one Action for both.
      const previous = events[i - 1];
      const withStart =
        previous !== undefined &&
        present(previous.workflowExecutionStartedEventAttributes) &&
        !present(previous.workflowExecutionStartedEventAttributes?.parentWorkflowExecution);
      if (!withStart) b.signals += 1;
      return;
    }
    if (present(event.startChildWorkflowExecutionInitiatedEventAttributes)) {
      b.childWorkflowStarted += 2;
      return;
    }
    if (present(event.activityTaskScheduledEventAttributes)) {
      b.activities += 1;
      return;
    }
    const activityStarted = event.activityTaskStartedEventAttributes;
    if (present(activityStarted)) {
      b.activityRetries += Math.max(0, (activityStarted?.attempt ?? 1) - 1);
      return;
    }
    const marker = event.markerRecordedEventAttributes;
    if (present(marker)) {
      if (LOCAL_ACTIVITY_MARKERS.has(marker?.markerName ?? "")) {
        localActivityTasks.add(String(marker?.workflowTaskCompletedEventId ?? `event-${i}`));
      }
      return;
    }
    const taskCompleted = event.workflowTaskCompletedEventAttributes;
    if (present(taskCompleted)) {
      b.localActivityRetries +=
        taskCompleted?.meteringMetadata?.nonfirstLocalActivityExecutionAttempts ?? 0;
      return;
    }
    if (present(event.timerStartedEventAttributes)) {
      b.timers += 1;
      return;
    }
    if (present(event.workflowExecutionUpdateAcceptedEventAttributes)) {
      b.updates += 1;
      return;
    }
    const upsert = event.upsertWorkflowSearchAttributesEventAttributes;
    if (present(upsert)) {
      const names = Object.keys(upsert?.searchAttributes?.indexedFields ?? {});
      if (!(names.length > 0 && names.every((n) => n === "TemporalChangeVersion"))) {
        b.searchAttributeUpserts += 1;
      }
      return;
    }
    const cause = event.workflowTaskFailedEventAttributes?.cause;
    if (cause === RESET_WORKFLOW_CAUSE || cause === "WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW") {
      b.other += 1;
      return;
    }
    if (
      present(event.workflowExecutionOptionsUpdatedEventAttributes) ||
      present(event.nexusOperationScheduledEventAttributes) ||
      present(event.nexusOperationCancelRequestedEventAttributes)
    ) {
      b.other += 1;
    }
  });
  b.localActivities = localActivityTasks.size;
  const total = Object.values(b).reduce((sum, n) => sum + n, 0);
  return { ...b, total };
}
