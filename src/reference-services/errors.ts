import { type Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/**
 * A ConnectError with a `google.rpc.ErrorInfo` detail (AIP-193), so that the
 * OMS can tell causes apart by `reason` instead of parsing messages.
 *
 * @param domain the service raising it, e.g. "payments.v1.PaymentService"
 * @param reason stable UPPER_SNAKE cause, e.g. "ALREADY_CAPTURED"
 */
export function createServiceError(
  code: Code,
  domain: string,
  reason: string,
  message: string,
  metadata: Record<string, string> = {},
): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: { reason, domain, metadata } },
  ]);
}

/** The ErrorInfo reason of an error raised by a reference service, if any. */
export function errorReason(error: unknown): string | undefined {
  if (!(error instanceof ConnectError)) {
    return undefined;
  }
  return error.findDetails(ErrorInfoSchema)[0]?.reason;
}
