import { create, type DescMessage } from "@bufbuild/protobuf";
import { pathToString } from "@bufbuild/protobuf/reflect";
import {
  createValidator,
  type Validator,
  type Violation,
  violationsToProto,
} from "@bufbuild/protovalidate";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { errorInfo } from "./errors.js";

/**
 * Enforces the protovalidate rules written in the protos on every request
 * message (unary and streamed). A bad request fails with INVALID_ARGUMENT and
 * three details: google.rpc.BadRequest (field violations, readable by any gRPC
 * client), buf.validate.Violations (rule ids) and google.rpc.ErrorInfo.
 */
export function createValidationInterceptor(validator: Validator = createValidator()): Interceptor {
  const check = (schema: DescMessage, message: unknown) => {
    const result = validator.validate(schema, message as never);
    if (result.kind === "valid") return;
    if (result.kind === "error") {
      // A rule that cannot be evaluated is a bug in the contract, not the caller's fault.
      throw new ConnectError(
        "request validation failed",
        Code.Internal,
        undefined,
        undefined,
        result.error,
      );
    }
    throw invalidArgument(result.violations);
  };
  return (next) => async (req) => {
    if (!req.stream) {
      check(req.method.input, req.message);
      return next(req);
    }
    const messages = req.message;
    return next({
      ...req,
      message: (async function* () {
        for await (const m of messages) {
          check(req.method.input, m);
          yield m;
        }
      })(),
    });
  };
}

function invalidArgument(violations: Violation[]): ConnectError {
  const fieldViolations = violations.map((v) => ({
    field: pathToString(v.field),
    description: v.message,
  }));
  const summary = fieldViolations
    .map((v) => `${v.field || "request"}: ${v.description}`)
    .join("; ");
  const [violationsMsg, violationsSchema] = violationsToProto(violations);
  return new ConnectError(`invalid request: ${summary}`, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations }) },
    { desc: violationsSchema, value: violationsMsg },
    errorInfo("INVALID_REQUEST", { violations: String(violations.length) }),
  ]);
}
