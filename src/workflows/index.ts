// The workflow bundle's entry point: every workflow type the worker registers.
export { orderWorkflow } from "./order.js";
export { orderReturnsWorkflow } from "./returns.js";
