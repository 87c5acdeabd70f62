/**
 * A `google.rpc.Status` in a message (e.g. one failed item of a batch call)
 * and the ConnectError it stands for, both ways: the same code, message and
 * details (ErrorInfo, BadRequest, …) that the error would carry as the status
 * of a call of its own.
 */

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Any, AnySchema, anyPack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Status, StatusSchema } from "../../gen/google/rpc/status_pb.js";

const TYPE_URL_PREFIX = "type.googleapis.com/";

/** The Status of `error`: its code, its message without the "[code]" prefix, its details. */
export function statusFromError(error: ConnectError): MessageInitShape<typeof StatusSchema> {
  return {
    code: error.code,
    message: error.rawMessage,
    details: error.details.map((detail): Any => {
      if ("desc" in detail) return anyPack(detail.desc, create(detail.desc, detail.value));
      return create(AnySchema, { typeUrl: TYPE_URL_PREFIX + detail.type, value: detail.value });
    }),
  };
}

/**
 * The ConnectError a Status stands for; a code outside google.rpc.Code (or OK,
 * which is no error) becomes UNKNOWN.
 */
export function errorFromStatus(status: Status): ConnectError {
  const code =
    status.code > 0 && status.code <= Code.Unauthenticated ? (status.code as Code) : Code.Unknown;
  const error = new ConnectError(status.message, code);
  for (const any of status.details) {
    const slash = any.typeUrl.lastIndexOf("/");
    error.details.push({ type: any.typeUrl.slice(slash + 1), value: any.value });
  }
  return error;
}
