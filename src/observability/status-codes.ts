import type { Code } from "@connectrpc/connect";

/** gRPC's canonical code names, indexed by code (connect-es's `Code` has the same numbers). */
const NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** "OK", "NOT_FOUND", …: the names gRPC tools and dashboards use. */
export function statusCodeName(code: Code | 0): string {
  return NAMES[code] ?? "UNKNOWN";
}
