/**
 * The one workflow-level check the time-skipping test server cannot make: on
 * a real Temporal server (the run's dev server from global-setup.ts), an
 * Update refused by its validator writes nothing at all to history. The test
 * server keeps an empty workflow task per refusal instead (see
 * cancel-and-courier.test.ts, which runs the same scenario there).
 */
import { TestWorkflowEnvironment } from "@temporalio/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { expectRefusals, refuseCourierEvents } from "./refusals.js";

describe("refused courier events on a real Temporal server", () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await TestWorkflowEnvironment.createFromExistingServer({
      address: inject("temporalAddress"),
      namespace: process.env.OMS_TEST_TEMPORAL_NAMESPACE ?? "oms-test",
    });
  });
  afterAll(() => env?.teardown());

  it("writes no event for an Update its validator refuses", async () => {
    const run = await refuseCourierEvents(env);
    expectRefusals(run);
    expect(run.written).toEqual([]);
  });
});
