import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflectionRequestSchema as RequestV1,
  ServerReflection as ServerReflectionV1,
} from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as RequestV1Alpha,
  ServerReflection as ServerReflectionV1Alpha,
} from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { OrderService } from "../../../gen/oms/v1/order_service_pb.js";
import { createReflectionService } from "./reflection-service.js";

const reflection = createReflectionService({ services: [OrderService, Health] });
const transport = createRouterTransport((router) => reflection.register(router));

async function* from<T>(...items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const expectedServices = [
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
  "oms.v1.OrderService",
];

describe("createReflectionService", () => {
  it("lists the served services plus both reflection services", () => {
    expect(reflection.index.services).toEqual(expectedServices);
  });

  it("answers v1 requests on one stream, in order, echoing host and request", async () => {
    const client = createClient(ServerReflectionV1, transport);
    const requests = [
      create(RequestV1, { host: "h", messageRequest: { case: "listServices", value: "" } }),
      create(RequestV1, {
        messageRequest: { case: "fileContainingSymbol", value: "oms.v1.OrderService" },
      }),
      create(RequestV1, { messageRequest: { case: "fileContainingSymbol", value: "oms.v1.Nope" } }),
      create(RequestV1, {
        messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.Health.Watch" },
      }),
    ];
    const responses = await collect(client.serverReflectionInfo(from(...requests)));
    expect(responses).toHaveLength(4);
    const [list, service, missing, health] = responses;
    expect(list?.validHost).toBe("h");
    expect(list?.originalRequest).toEqual(requests[0]);
    expect(list?.messageResponse.case).toBe("listServicesResponse");
    expect(
      list?.messageResponse.case === "listServicesResponse" &&
        list.messageResponse.value.service.map((s) => s.name),
    ).toEqual(expectedServices);
    expect(service?.messageResponse.case).toBe("fileDescriptorResponse");
    expect(missing?.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5, errorMessage: "symbol not found: oms.v1.Nope" },
    });
    expect(health?.messageResponse.case).toBe("fileDescriptorResponse");
  });

  it("answers v1alpha the same way, and describes the reflection services themselves", async () => {
    const client = createClient(ServerReflectionV1Alpha, transport);
    const responses = await collect(
      client.serverReflectionInfo(
        from(
          create(RequestV1Alpha, { messageRequest: { case: "listServices", value: "" } }),
          create(RequestV1Alpha, {
            messageRequest: {
              case: "fileContainingSymbol",
              value: "grpc.reflection.v1alpha.ServerReflection",
            },
          }),
        ),
      ),
    );
    expect(responses.map((r) => r.messageResponse.case)).toEqual([
      "listServicesResponse",
      "fileDescriptorResponse",
    ]);
  });
});
