import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

type ConnectErrorDetail = ConstructorParameters<typeof ConnectError>[3] extends
  | (infer T)[]
  | undefined
  ? T
  : never;

import type { Logger } from "pino";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  DependencyUnavailableError,
  DomainError,
  HoldNotFoundError,
  InvalidFieldError,
  LimitExceededError,
  OrderConflictError,
  OrderNotFoundError,
  OrderStateError,
  ReturnNotFoundError,
  ShipmentNotFoundError,
  upperSnake,
  VersionMismatchError,
} from "../domain/errors.js";

/** google.rpc.ErrorInfo.domain of every error this service raises. */
export const ERROR_DOMAIN = "oms.example.com";

/** The one place where domain outcomes become gRPC status codes (table: docs/errors.md). */
function codeOf(err: DomainError): Code {
  if (
    err instanceof OrderNotFoundError ||
    err instanceof ShipmentNotFoundError ||
    err instanceof ReturnNotFoundError ||
    err instanceof HoldNotFoundError
  )
    return Code.NotFound;
  if (err instanceof InvalidFieldError) return Code.InvalidArgument;
  if (err instanceof LimitExceededError) return Code.ResourceExhausted;
  if (err instanceof OrderConflictError) return Code.AlreadyExists;
  if (err instanceof OrderStateError) return Code.FailedPrecondition;
  if (err instanceof VersionMismatchError) return Code.Aborted;
  if (err instanceof DependencyUnavailableError) return Code.Unavailable;
  return Code.Internal;
}

/** An ErrorInfo detail for a ConnectError. */
export function errorInfo(reason: string, metadata: Record<string, string> = {}) {
  return {
    desc: ErrorInfoSchema,
    value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }),
  };
}

/**
 * Turns anything a handler threw into a ConnectError that is safe to send:
 * the right code, an actionable message and an ErrorInfo. Unexpected errors
 * are logged with their cause and reach the caller as a bare INTERNAL.
 */
export function toConnectError(err: unknown, logger: Logger): ConnectError {
  if (err instanceof ConnectError) {
    // Raised on purpose (validation, limits, deadlines): give it an ErrorInfo if it has none.
    if (
      !err.details.some((d) =>
        "desc" in d
          ? d.desc.typeName === ErrorInfoSchema.typeName
          : d.type === ErrorInfoSchema.typeName,
      )
    ) {
      err.details.push(errorInfo(upperSnake(Code[err.code])));
    }
    return err;
  }
  if (err instanceof DomainError) {
    if (err instanceof DependencyUnavailableError)
      logger.warn({ err: err.cause ?? err }, err.message);
    const details: ConnectErrorDetail[] = [errorInfo(err.reason, err.metadata)];
    if (err instanceof InvalidFieldError) {
      const fieldViolations = [{ field: err.field, description: err.message }];
      details.unshift({
        desc: BadRequestSchema,
        value: create(BadRequestSchema, { fieldViolations }),
      });
    }
    return new ConnectError(err.message, codeOf(err), undefined, details);
  }
  logger.error({ err }, "unexpected error in handler");
  return new ConnectError("internal error", Code.Internal, undefined, [errorInfo("INTERNAL")]);
}
