// Deploy step 1: new runs take the fraud check; runs started before it replay without it.
import { patched } from "@temporalio/workflow";
import { FRAUD_CHECK_PATCH, orderWorkflowWithFraudCheck } from "./fraud-check.js";

export const orderWorkflow = orderWorkflowWithFraudCheck(() => patched(FRAUD_CHECK_PATCH));
// The rest of the workflow bundle, unchanged.
export { orderReturnsWorkflow } from "../../../src/workflows/returns.js";
