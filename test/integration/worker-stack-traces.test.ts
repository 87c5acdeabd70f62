/**
 * The worker runs its workflows without the SDK's per-promise stack capture
 * unless OMS_WORKER_WORKFLOW_STACK_TRACES is on (src/temporal/worker.ts):
 * orders run the same either way, and only the stack trace query differs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";

/** An order that waits for the customer's decision (OOS-1 is never in stock). */
async function waitingOrder(sys: TestSystem): Promise<string> {
  const req = orderRequest({
    items: [
      { sku: "SKU-200", quantity: 1, unitPriceMinor: 1000n },
      { sku: "OOS-1", quantity: 3, unitPriceMinor: 500n },
    ],
  });
  await sys.grpc.submitOrder(req);
  await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.CUSTOMER_ACTION_REQUIRED);
  return req.orderId;
}

describe.each([
  { stackTraces: false, env: {} as Record<string, string> },
  { stackTraces: true, env: { OMS_WORKER_WORKFLOW_STACK_TRACES: "true" } },
])("a worker with workflow stack traces $stackTraces", ({ stackTraces, env }) => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({ env });
  });
  afterAll(() => sys?.stop());

  it("runs the order, and answers the stack trace query only when they are on", async () => {
    const orderId = await waitingOrder(sys);
    const query = sys.temporal.workflow
      .getHandle(orderWorkflowId(orderId))
      .query<string>("__stack_trace");
    if (stackTraces) {
      // Where the order waits: the customer's decision, in the workflow's own sources.
      expect(await query).toMatch(/at .*(condition|Promise)/);
    } else {
      await expect(query).rejects.toThrow(/stack traces are not enabled/);
    }
  });
});
