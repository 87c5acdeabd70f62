import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  file_grpc_reflection_v1_reflection,
  ServerReflection as ServerReflectionV1,
} from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  file_grpc_reflection_v1alpha_reflection,
  ServerReflection as ServerReflectionV1Alpha,
} from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import {
  createReflectionIndex,
  type ReflectionAnswer,
  type ReflectionIndex,
  type ReflectionQuestion,
  type ReflectionSource,
} from "./reflection-index.js";

/** Options of {@link createReflectionService}. */
export interface ReflectionServiceOptions {
  /**
   * The services this server serves (e.g. `OrderService`, `Health`). They are
   * listed by `list_services`, and their files and dependencies are served.
   * The reflection services themselves are always added.
   */
  services: readonly DescService[];
  /**
   * More descriptors to serve, searched before the services' generated files:
   * types only reachable through `google.protobuf.Any`, or a `FileRegistry`
   * built from a `buf build` image, whose `source_code_info` lets clients
   * such as grpcurl show the proto comments (generated code has none).
   */
  files?: readonly ReflectionSource[];
}

/** gRPC server reflection, `v1` and `v1alpha`, ready to mount on a router. */
export interface ReflectionService {
  /** The index both versions answer from (exposed for tests and diagnostics). */
  readonly index: ReflectionIndex;
  /** Register `grpc.reflection.v1` and `v1alpha` `ServerReflection` on the router. */
  register(router: ConnectRouter): void;
}

/** Fully-qualified names of the two reflection services this module serves. */
export const reflectionServiceNames: readonly string[] = [
  ServerReflectionV1.typeName,
  ServerReflectionV1Alpha.typeName,
];

/**
 * Create gRPC server reflection for a Connect router.
 *
 * Both versions are served because grpcurl and many other tools still speak
 * only `v1alpha`, while newer clients (buf curl, grpc-go) try `v1` first.
 *
 * @example
 * const reflection = createReflectionService({ services: [OrderService, Health] });
 * connectNodeAdapter({ routes: (router) => { router.service(OrderService, impl); reflection.register(router); } });
 */
export function createReflectionService(options: ReflectionServiceOptions): ReflectionService {
  const index = createReflectionIndex({
    sources: [
      ...(options.files ?? []),
      options.services.map((service) => service.file),
      [file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection],
    ],
    services: [...options.services.map((service) => service.typeName), ...reflectionServiceNames],
  });
  return {
    index,
    register(router) {
      router.service(ServerReflectionV1, {
        serverReflectionInfo: (requests) => answerEach(index, requests),
      });
      router.service(ServerReflectionV1Alpha, {
        serverReflectionInfo: (requests) => answerEach(index, requests),
      });
    },
  };
}

/**
 * Answer requests one by one in order, as the protocol requires. Errors for
 * unknown names go into `error_response` and keep the stream open, because a
 * client such as grpcurl sends several lookups on one stream.
 */
async function* answerEach<R extends { host: string; messageRequest: ReflectionQuestion }>(
  index: ReflectionIndex,
  requests: AsyncIterable<R>,
): AsyncGenerator<{ validHost: string; originalRequest: R; messageResponse: ReflectionAnswer }> {
  for await (const request of requests) {
    yield {
      validHost: request.host,
      originalRequest: request,
      messageResponse: index.answer(request.messageRequest),
    };
  }
}
