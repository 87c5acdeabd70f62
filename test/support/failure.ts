import { ConnectError } from "@connectrpc/connect";

/** Resolves with the ConnectError a call failed with; fails the test if it succeeded. */
export async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
