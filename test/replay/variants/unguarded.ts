// The change as one would first write it: every run, replayed or new, calls the fraud check.
import { orderWorkflowWithFraudCheck } from "./fraud-check.js";

export const orderWorkflow = orderWorkflowWithFraudCheck(() => true);
// The rest of the workflow bundle, unchanged.
export { orderReturnsWorkflow } from "../../../src/workflows/returns.js";
