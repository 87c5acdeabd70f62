import { type Code, ConnectError } from "@connectrpc/connect";
import { type ErrorInfo, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** Resolves with the ConnectError a call failed with; fails the test if it succeeded. */
export async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** The `google.rpc.ErrorInfo` detail of an error, if it carries one. */
export function errorInfoOf(error: ConnectError): ErrorInfo | undefined {
  return error.findDetails(ErrorInfoSchema)[0];
}

/** The code and ErrorInfo reason a call failed with (`{ code, reason }`, handy for `toEqual`). */
export async function failureReason(
  call: Promise<unknown>,
): Promise<{ code: Code; reason?: string }> {
  const error = await failure(call);
  return { code: error.code, reason: errorInfoOf(error)?.reason };
}
