// The workflow bundle's entry point: every workflow type the worker registers.
export { fulfillmentWorkflow } from "./fulfillment.js";
export { orderWorkflow } from "./order.js";
