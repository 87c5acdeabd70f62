// The smallest useful workflow: started, one activity, done. The bench runs it
// to measure the Temporal dev server's own ceiling on this machine.
import { proxyActivities } from "@temporalio/workflow";

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: "10 seconds" });

export async function minimalWorkflow(): Promise<void> {
  await noop();
}
