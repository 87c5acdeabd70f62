import { Code, ConnectError } from "@connectrpc/connect";
import { Context } from "@temporalio/activity";
import { ApplicationFailure } from "@temporalio/common";
import { upperSnake } from "../domain/errors.js";

/**
 * Downstream codes that retrying cannot fix: the activity fails with a
 * non-retryable ApplicationFailure whose type names the code, and the workflow
 * decides what that means for the order. Everything else (UNAVAILABLE,
 * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNKNOWN, a
 * connection refused) is thrown as is and retried by the activity's policy.
 * UNAUTHENTICATED is retried too: it refuses the worker's own credentials
 * (an expired or not yet rotated token, a wrong certificate), which an
 * operator fixes; an order must not fail for it.
 */
const PERMANENT = new Set<Code>([
  Code.InvalidArgument,
  Code.NotFound,
  Code.AlreadyExists,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.Unimplemented,
]);

/**
 * Whether a downstream error is one that retrying cannot fix (see the list
 * above); anything that is not a ConnectError counts as transient.
 */
export function isPermanentDownstreamError(err: unknown): boolean {
  return err instanceof ConnectError && PERMANENT.has(err.code);
}

/** `DOWNSTREAM_NOT_FOUND`, … : the failure type a permanent downstream error becomes. */
export function permanentFailureType(code: Code): string {
  return `DOWNSTREAM_${upperSnake(Code[code])}`;
}

/** Runs one downstream call with the activity's cancellation, classifying its failure. */
export async function callDownstream<T>(
  service: string,
  call: (options: { signal: AbortSignal }) => Promise<T>,
): Promise<T> {
  try {
    return await call({ signal: Context.current().cancellationSignal });
  } catch (err) {
    // Already classified by the call itself (e.g. a booking the warehouse rejected).
    if (err instanceof ApplicationFailure) throw err;
    const error = ConnectError.from(err);
    if (PERMANENT.has(error.code)) {
      throw ApplicationFailure.create({
        type: permanentFailureType(error.code),
        message: `${service}: ${error.rawMessage}`,
        nonRetryable: true,
      });
    }
    throw error;
  }
}
