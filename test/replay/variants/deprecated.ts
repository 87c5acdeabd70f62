// Deploy step 2, once no run without the patch is left: the check always runs,
// and runs started under step 1 (whose histories carry the marker) still replay.
import { deprecatePatch } from "@temporalio/workflow";
import { FRAUD_CHECK_PATCH, orderWorkflowWithFraudCheck } from "./fraud-check.js";

export const orderWorkflow = orderWorkflowWithFraudCheck(() => {
  deprecatePatch(FRAUD_CHECK_PATCH);
  return true;
});
// The rest of the workflow bundle, unchanged.
export { orderReturnsWorkflow } from "../../../src/workflows/returns.js";
