import { clone, create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
  SourceCodeInfoSchema,
} from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { file_oms_v1_order } from "../../../gen/oms/v1/order_pb.js";
import { file_oms_v1_order_service, OrderService } from "../../../gen/oms/v1/order_service_pb.js";
import { createReflectionIndex, type ReflectionAnswer } from "./reflection-index.js";

const index = createReflectionIndex({
  sources: [[file_oms_v1_order_service]],
  services: [OrderService.typeName],
});

/** The file names of a file_descriptor_response, in order; fails on anything else. */
function fileNames(answer: ReflectionAnswer): string[] {
  return decode(answer).map((file) => file.name);
}

function decode(answer: ReflectionAnswer): FileDescriptorProto[] {
  if (answer.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${JSON.stringify(answer)}`);
  }
  return answer.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes),
  );
}

function symbol(name: string): ReflectionAnswer {
  return index.answer({ case: "fileContainingSymbol", value: name });
}

describe("createReflectionIndex", () => {
  it("lists the given services, sorted", () => {
    expect(index.answer({ case: "listServices", value: "*" })).toEqual({
      case: "listServicesResponse",
      value: { service: [{ name: "oms.v1.OrderService" }] },
    });
  });

  it("serves a file by name with its transitive dependencies, the file first, each once", () => {
    const names = fileNames(
      index.answer({ case: "fileByFilename", value: "oms/v1/order_service.proto" }),
    );
    expect(names[0]).toBe("oms/v1/order_service.proto");
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([
      "buf/validate/validate.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/field_mask.proto",
      "google/protobuf/timestamp.proto",
      "oms/v1/access.proto",
      "oms/v1/order.proto",
      "oms/v1/order_events.proto",
      "oms/v1/order_operations.proto",
      "oms/v1/order_service.proto",
      "oms/v1/return_requests.proto",
      "oms/v1/returns.proto",
      "oms/v1/sla.proto",
    ]);
    expect(index.fileNames).toEqual([...names].sort());
  });

  it("serves descriptors that name their dependencies", () => {
    const [file] = decode(index.answer({ case: "fileByFilename", value: "oms/v1/order.proto" }));
    expect(file?.dependency).toEqual([
      "buf/validate/validate.proto",
      "google/protobuf/timestamp.proto",
      "oms/v1/returns.proto",
      "oms/v1/order_operations.proto",
      "oms/v1/sla.proto",
    ]);
    expect(file?.messageType.map((m) => m.name)).toContain("Order");
  });

  it.each([
    ["a service", "oms.v1.OrderService", "oms/v1/order_service.proto"],
    ["a method", "oms.v1.OrderService.GetOrder", "oms/v1/order_service.proto"],
    ["a message", "oms.v1.Order", "oms/v1/order.proto"],
    ["a field", "oms.v1.Order.order_id", "oms/v1/order.proto"],
    ["an enum", "oms.v1.OrderStatus", "oms/v1/order.proto"],
    [
      "a top-level enum value (scoped beside its enum)",
      "oms.v1.ORDER_STATUS_PENDING",
      "oms/v1/order.proto",
    ],
    ["a name with a leading dot", ".oms.v1.Order", "oms/v1/order.proto"],
    ["an extension", "buf.validate.field", "buf/validate/validate.proto"],
    ["a oneof", "buf.validate.FieldRules.type", "buf/validate/validate.proto"],
    [
      "a nested message",
      "google.protobuf.DescriptorProto.ExtensionRange",
      "google/protobuf/descriptor.proto",
    ],
    [
      "a nested enum",
      "google.protobuf.FieldDescriptorProto.Type",
      "google/protobuf/descriptor.proto",
    ],
    [
      "a nested enum value",
      "google.protobuf.FieldDescriptorProto.TYPE_STRING",
      "google/protobuf/descriptor.proto",
    ],
    [
      "a field of a nested message",
      "google.protobuf.DescriptorProto.ExtensionRange.start",
      "google/protobuf/descriptor.proto",
    ],
    ["a dependency-only type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
  ])("finds the file containing %s", (_what, name, file) => {
    expect(fileNames(symbol(name))[0]).toBe(file);
  });

  it.each(["oms.v1.Nope", "oms.v1.OrderService.Nope", "oms.v1.Order.nope", "oms.v1", ""])(
    "answers NOT_FOUND for the unknown symbol %j",
    (name) => {
      expect(symbol(name)).toEqual({
        case: "errorResponse",
        value: { errorCode: 5, errorMessage: `symbol not found: ${name}` },
      });
    },
  );

  it("answers NOT_FOUND for an unknown file", () => {
    const answer = index.answer({ case: "fileByFilename", value: "oms/v1/nope.proto" });
    expect(answer).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  });

  it("finds the file declaring an extension by extendee and number", () => {
    const answer = index.answer({
      case: "fileContainingExtension",
      value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1159 },
    });
    expect(fileNames(answer)[0]).toBe("buf/validate/validate.proto");
    const unknown = index.answer({
      case: "fileContainingExtension",
      value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1 },
    });
    expect(unknown).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
  });

  it("lists all extension numbers of a message type", () => {
    expect(
      index.answer({ case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" }),
    ).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "google.protobuf.FieldOptions", extensionNumber: [1159, 1160] },
    });
    expect(index.answer({ case: "allExtensionNumbersOfType", value: "oms.v1.Order" })).toEqual({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "oms.v1.Order", extensionNumber: [] },
    });
  });

  it("answers NOT_FOUND for extension numbers of a non-message or unknown type", () => {
    for (const value of ["oms.v1.Nope", "oms.v1.OrderStatus", "oms.v1.OrderService"]) {
      expect(index.answer({ case: "allExtensionNumbersOfType", value })).toMatchObject({
        case: "errorResponse",
        value: { errorCode: 5 },
      });
    }
  });

  it("answers INVALID_ARGUMENT for a request with no message_request", () => {
    expect(index.answer({ case: undefined })).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 3 },
    });
  });

  it("refuses to list a service that no served file declares", () => {
    expect(() =>
      createReflectionIndex({ sources: [[file_oms_v1_order]], services: ["oms.v1.OrderService"] }),
    ).toThrow(/oms\.v1\.OrderService/);
  });

  it("accepts a registry as a source", () => {
    const registry = createFileRegistry(file_oms_v1_order_service.proto, (name) =>
      [file_oms_v1_order, ...file_oms_v1_order_service.dependencies].find(
        (f) => f.proto.name === name,
      ),
    );
    const fromRegistry = createReflectionIndex({ sources: [registry], services: [] });
    expect(fromRegistry.fileNames).toEqual(index.fileNames);
  });

  it("serves source code info (comments) when a source has it, and prefers the first source", () => {
    // What a buf build image gives: the same file with source_code_info.
    const documented = clone(FileDescriptorProtoSchema, file_oms_v1_order.proto);
    documented.sourceCodeInfo = create(SourceCodeInfoSchema, {
      location: [{ path: [4, 0], span: [9, 0, 60, 1], leadingComments: " An order.\n" }],
    });
    const registry = createFileRegistry(documented, (name) =>
      file_oms_v1_order.dependencies.find((f) => f.proto.name === name),
    );
    const withComments = createReflectionIndex({
      sources: [registry, [file_oms_v1_order_service]],
      services: [OrderService.typeName],
    });
    const files = decode(
      withComments.answer({ case: "fileByFilename", value: "oms/v1/order_service.proto" }),
    );
    const order = files.find((f) => f.name === "oms/v1/order.proto");
    expect(order?.sourceCodeInfo?.location[0]?.leadingComments).toBe(" An order.\n");
    // Generated descriptors carry no comments (protoc-gen-es strips them).
    expect(file_oms_v1_order_service.proto.sourceCodeInfo).toBeUndefined();
  });

  it("serves descriptor.proto although generated code only has a bootstrapped copy", () => {
    const files = decode(
      index.answer({ case: "fileContainingSymbol", value: "google.protobuf.FieldOptions" }),
    );
    expect(files[0]?.name).toBe(file_google_protobuf_descriptor.proto.name);
    expect(files[0]?.messageType.map((m) => m.name)).toContain("FieldOptions");
  });
});
