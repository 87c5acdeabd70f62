import { describe, expect, it } from "vitest";
import { type BillingHistoryEvent, billableActions } from "../../bench/actions.js";

const started = (parent?: object): BillingHistoryEvent => ({
  workflowExecutionStartedEventAttributes: { parentWorkflowExecution: parent ?? null },
});
const wtScheduled: BillingHistoryEvent = {};
const wtCompleted = (nonfirstLocalActivityExecutionAttempts = 0): BillingHistoryEvent => ({
  workflowTaskCompletedEventAttributes: {
    meteringMetadata: { nonfirstLocalActivityExecutionAttempts },
  },
});
const laMarker = (task: number): BillingHistoryEvent => ({
  markerRecordedEventAttributes: {
    markerName: "core_local_activity",
    workflowTaskCompletedEventId: task,
  },
});

describe("billableActions (Temporal Cloud Actions page)", () => {
  it("counts a started workflow, each scheduled activity and its retries", () => {
    const estimate = billableActions([
      started(),
      wtScheduled,
      wtCompleted(),
      { activityTaskScheduledEventAttributes: {} },
      { activityTaskStartedEventAttributes: { attempt: 1 } },
      { activityTaskScheduledEventAttributes: {} },
      // Two failed attempts before this one: two retries.
      { activityTaskStartedEventAttributes: { attempt: 3 } },
    ]);
    expect(estimate).toMatchObject({ workflowStarted: 1, activities: 2, activityRetries: 2 });
    expect(estimate.total).toBe(5);
  });

  it("counts all local-activity markers of one workflow task as one Action, plus LA retries", () => {
    const estimate = billableActions([
      started(),
      laMarker(4),
      laMarker(4),
      laMarker(4),
      wtCompleted(2),
      laMarker(9),
      // A patch marker is not a local activity.
      {
        markerRecordedEventAttributes: {
          markerName: "core_patch",
          workflowTaskCompletedEventId: 9,
        },
      },
      {
        markerRecordedEventAttributes: {
          markerName: "core_patch",
          workflowTaskCompletedEventId: 12,
        },
      },
    ]);
    expect(estimate).toMatchObject({ localActivities: 2, localActivityRetries: 2 });
    expect(estimate.total).toBe(5);
  });

  it("bills a child workflow as two Actions in its parent and none in the child", () => {
    const parent = billableActions([
      started(),
      { startChildWorkflowExecutionInitiatedEventAttributes: {} },
    ]);
    const child = billableActions([started({ workflowId: "parent" }), wtScheduled]);
    expect(parent.total).toBe(3);
    expect(child.total).toBe(0);
  });

  it("counts timers, received signals, accepted updates and search attribute upserts", () => {
    const estimate = billableActions([
      started(),
      { timerStartedEventAttributes: {} },
      { workflowExecutionSignaledEventAttributes: {} },
      { workflowExecutionSignaledEventAttributes: {} },
      { workflowExecutionUpdateAcceptedEventAttributes: {} },
      {
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: { indexedFields: { CustomerId: {} } },
        },
      },
      // Versioning's own search attribute is exempt.
      {
        upsertWorkflowSearchAttributesEventAttributes: {
          searchAttributes: { indexedFields: { TemporalChangeVersion: {} } },
        },
      },
    ]);
    expect(estimate).toMatchObject({
      workflowStarted: 1,
      timers: 1,
      signals: 2,
      updates: 1,
      searchAttributeUpserts: 1,
    });
    expect(estimate.total).toBe(6);
  });

  it("counts Signal-With-Start as one Action", () => {
    const estimate = billableActions([
      started(),
      { workflowExecutionSignaledEventAttributes: {} },
      wtScheduled,
    ]);
    expect(estimate.total).toBe(1);
  });

  it("counts a reset, options updates and Nexus operations; ignores the rest", () => {
    const estimate = billableActions([
      started(),
      { workflowTaskFailedEventAttributes: { cause: 20 } },
      { workflowTaskFailedEventAttributes: { cause: 1 } },
      { workflowExecutionOptionsUpdatedEventAttributes: {} },
      { nexusOperationScheduledEventAttributes: {} },
      { nexusOperationCancelRequestedEventAttributes: {} },
      wtScheduled,
      wtCompleted(),
    ]);
    expect(estimate.other).toBe(4);
    expect(estimate.total).toBe(5);
  });
});
