/**
 * A typical next change to orderWorkflow, for test/replay/patching.test.ts
 * (see docs/workflow-changes.md): a fraud check, a new activity, before stock
 * is reserved. It is composed from the real workflow's steps
 * (src/workflows/order.ts), so only the change differs from production. Each
 * step of the rollout is its own bundle entry beside this file, exporting
 * `orderWorkflow` as src/workflows/index.ts does; none of it is ever in the
 * production bundle.
 */
import { proxyActivities } from "@temporalio/workflow";
import type { Order } from "../../../src/domain/order.js";
import type { OrderWorkflowInput } from "../../../src/workflows/messages.js";
import {
  complete,
  end,
  fulfillAll,
  reserve,
  settleUnavailableItems,
} from "../../../src/workflows/order.js";
import { installOrderHandlers } from "../../../src/workflows/order-handlers.js";
import { createOrderRun } from "../../../src/workflows/order-run.js";
import { startSlaClocks } from "../../../src/workflows/sla.js";

/** The patch id: what `patched()` records in history and in TemporalChangeVersion. */
export const FRAUD_CHECK_PATCH = "fraud-check";

export interface FraudCheckInput {
  orderId: string;
  customerId: string;
  totalMinor: number;
}

export interface FraudActivities {
  checkFraud(input: FraudCheckInput): Promise<{ approved: boolean; reason: string }>;
}

const fraud = proxyActivities<FraudActivities>({
  startToCloseTimeout: "30 seconds",
  retry: {
    initialInterval: "500 milliseconds",
    backoffCoefficient: 2,
    maximumInterval: "30 seconds",
  },
});

/**
 * orderWorkflow with the fraud check in front of the reservation, run when
 * `fraudCheck()` says so: `() => true` is the unguarded change, `() =>
 * patched(FRAUD_CHECK_PATCH)` the first deploy step, and so on.
 */
export function orderWorkflowWithFraudCheck(fraudCheck: () => boolean) {
  return async function orderWorkflow(input: OrderWorkflowInput): Promise<Order> {
    const run = createOrderRun(input);
    installOrderHandlers(run);
    startSlaClocks(run);

    if (fraudCheck()) {
      const verdict = await fraud.checkFraud({
        orderId: run.orderId,
        customerId: input.submission.customerId,
        totalMinor: run.recorder.order.amounts.totalMinor,
      });
      if (!verdict.approved) {
        run.recorder.transition("FAILED", `flagged by the fraud check: ${verdict.reason}`);
        run.recorder.notify("ORDER_FAILED");
        return end(run);
      }
    }

    const reservation = await reserve(run);
    if (reservation === null) return end(run);
    if (!(await settleUnavailableItems(run, reservation))) return end(run);
    await fulfillAll(run, reservation.allocations);
    complete(run);
    return end(run);
  };
}
