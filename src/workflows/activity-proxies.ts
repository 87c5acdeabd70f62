/**
 * How the workflows call activities: one place for timeouts and retry
 * policies, chosen per kind of call.
 */
import { proxyActivities, proxyLocalActivities } from "@temporalio/workflow";
import type { Activities } from "../activities/index.js";

/**
 * Steps of the order (reserve, authorize, book, capture): transient errors are
 * retried with backoff for as long as it takes, so an outage delays an order
 * but never fails it; permanent errors arrive as non-retryable failures.
 */
export const activities = proxyActivities<Activities>({
  startToCloseTimeout: "30 seconds",
  retry: {
    initialInterval: "500 milliseconds",
    backoffCoefficient: 2,
    maximumInterval: "30 seconds",
  },
});

/** Compensation (void, refund, release, cancel booking) must finish: same policy, named apart for intent. */
export const compensations = activities;

/**
 * Read-model writes: local activities (a marker in history, no task round
 * trip), retried until the store answers, since a transition must be
 * recorded before the order moves on.
 */
export const readModel = proxyLocalActivities<Pick<Activities, "saveOrder">>({
  startToCloseTimeout: "10 seconds",
  retry: {
    initialInterval: "200 milliseconds",
    backoffCoefficient: 2,
    maximumInterval: "10 seconds",
  },
});
