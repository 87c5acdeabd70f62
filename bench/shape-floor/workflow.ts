/**
 * The order workflow's Temporal shape with every step a no-op: the floor of
 * what the SDK and the server cost for an order, whatever oms does in it.
 *
 * The same commands as a two-fulfillment order: one activity (reserve), two
 * concurrent ones (authorize), two more (book), then per fulfillment the
 * courier's DISPATCHED Update, an activity (capture) and its DELIVERED Update;
 * beside them the order's write, a local activity run by a background loop
 * after any activation that changed something (at most one per workflow task,
 * as the order recorder does), which every Update waits for before answering.
 * Inputs are order-sized payloads, so the payload codec does the same work.
 */
import {
  allHandlersFinished,
  condition,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from "@temporalio/workflow";

export interface ShapeFloorActivities {
  step(name: string, payload: string): Promise<string>;
  /** Books a no-op shipment; the worker process tells the bench (the courier). */
  book(workflowId: string, fulfillment: number, payload: string): Promise<string>;
  save(payload: string): Promise<void>;
}

const { step, book } = proxyActivities<ShapeFloorActivities>({ startToCloseTimeout: "30 seconds" });
const { save } = proxyLocalActivities<ShapeFloorActivities>({ startToCloseTimeout: "30 seconds" });

/** The courier's report: fulfillment 0 or 1, DISPATCHED or DELIVERED. */
export const reportShipment = defineUpdate<void, [number, "DISPATCHED" | "DELIVERED"]>(
  "reportShipment",
);

export async function shapeFloorWorkflow(payload: string): Promise<void> {
  const dispatched = [false, false];
  const delivered = [false, false];
  let dirty = false;
  let writing = false;
  const change = () => {
    dirty = true;
  };
  const flushed = () => condition(() => !dirty && !writing);
  void (async () => {
    for (;;) {
      await condition(() => dirty);
      dirty = false;
      writing = true;
      await save(payload);
      writing = false;
    }
  })();
  setHandler(reportShipment, async (fulfillment, event) => {
    (event === "DISPATCHED" ? dispatched : delivered)[fulfillment] = true;
    change();
    await flushed();
  });

  await step("reserve", payload);
  change();
  await Promise.all([0, 1].map(() => step("authorize", payload).then(change)));
  const { workflowId } = workflowInfo();
  await Promise.all([0, 1].map((f) => book(workflowId, f, payload).then(change)));
  await Promise.all(
    [0, 1].map(async (f) => {
      await condition(() => dispatched[f] === true);
      await step("capture", payload);
      change();
      await condition(() => delivered[f] === true);
    }),
  );
  await flushed();
  await condition(allHandlersFinished);
}
