/**
 * Reflection and health over real sockets: an h2c node:http2 server with the
 * Connect adapter, exercised by a Connect gRPC client, grpcurl and buf curl,
 * the tools an operator actually points at the server.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import {
  ServerReflectionRequestSchema as RequestV1,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflectionRequestSchema as RequestV1Alpha,
  ServerReflection as ServerReflectionV1Alpha,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { createHealthService } from "../../src/api/health/health-service.js";
import {
  createHealthStatus,
  type HealthStatus,
  ServingStatus,
} from "../../src/api/health/health-status.js";
import type { ReflectionSource } from "../../src/api/reflection/reflection-index.js";
import { createReflectionService } from "../../src/api/reflection/reflection-service.js";

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const grpcurl = process.env.GRPCURL ?? path.join(root, ".tools/bin/grpcurl");
const buf = path.join(root, "node_modules/.bin/buf");

/** grpcurl is required: CI installs it, so a missing binary is a failure, not a skip. */
function requireGrpcurl(): string {
  if (!existsSync(grpcurl)) {
    throw new Error(
      `grpcurl not found at ${grpcurl} (set GRPCURL to override). Install it with: ` +
        "GOBIN=$PWD/.tools/bin go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3",
    );
  }
  return grpcurl;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a CLI to completion; a non-zero exit is a result, not an exception. */
async function runTool(file: string, args: string[]): Promise<RunResult> {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: 30_000, cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== "number") throw error; // spawn failure or timeout
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? e.message };
  }
}

interface TestServer {
  address: string;
  port: number;
  status: HealthStatus;
  /** Signals handed to HealthStatus.watch, to see streams end server-side. */
  watchSignals: AbortSignal[];
  /** Abort handlers' shutdown signal (as a real server's drain would). */
  shutdown(): void;
  close(): Promise<void>;
}

async function startServer(files: ReflectionSource[] = []): Promise<TestServer> {
  const status = createHealthStatus({
    initial: { [OrderService.typeName]: ServingStatus.SERVING },
  });
  const watchSignals: AbortSignal[] = [];
  // Record each Watch's signal, delegating everything else unchanged.
  const observed: HealthStatus = Object.create(status, {
    watch: {
      value: (service: string, signal: AbortSignal) => {
        watchSignals.push(signal);
        return status.watch(service, signal);
      },
    },
  });
  const shutdown = new AbortController();
  const reflection = createReflectionService({ services: [OrderService, Health], files });
  const health = createHealthService(observed, { signal: shutdown.signal });
  const handler = connectNodeAdapter({
    routes(router) {
      // No handlers: every OrderService method answers UNIMPLEMENTED.
      router.service(OrderService, {});
      reflection.register(router);
      health.register(router);
    },
    shutdownSignal: shutdown.signal,
    readMaxBytes: 1024 * 1024,
    writeMaxBytes: 4 * 1024 * 1024,
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    port,
    status,
    watchSignals,
    shutdown: () => shutdown.abort(),
    async close() {
      shutdown.abort();
      // server.close() alone waits for open sessions (and lets them start streams).
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitFor(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function* from<T>(...items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe("reflection and health over a real h2c server", () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  describe("with a Connect gRPC client", () => {
    const transport = () => createGrpcTransport({ baseUrl: `http://${server.address}` });

    it("serves reflection v1 and v1alpha on bidi streams", async () => {
      const v1 = createClient(ServerReflectionV1, transport());
      const v1Responses = [];
      for await (const response of v1.serverReflectionInfo(
        from(
          create(RequestV1, { messageRequest: { case: "listServices", value: "" } }),
          create(RequestV1, {
            messageRequest: { case: "fileContainingSymbol", value: "oms.v1.Order" },
          }),
          create(RequestV1, {
            messageRequest: { case: "fileContainingSymbol", value: "oms.v1.Nope" },
          }),
        ),
      )) {
        v1Responses.push(response);
      }
      const [list, order, missing] = v1Responses;
      expect(
        list?.messageResponse.case === "listServicesResponse" &&
          list.messageResponse.value.service.map((s) => s.name),
      ).toEqual([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "oms.v1.OrderService",
      ]);
      expect(order?.messageResponse.case).toBe("fileDescriptorResponse");
      if (order?.messageResponse.case === "fileDescriptorResponse") {
        const first = order.messageResponse.value.fileDescriptorProto[0];
        expect(first && fromBinary(FileDescriptorProtoSchema, first).name).toBe(
          "oms/v1/order.proto",
        );
      }
      expect(missing?.messageResponse).toMatchObject({
        case: "errorResponse",
        value: { errorCode: 5 },
      });

      const v1alpha = createClient(ServerReflectionV1Alpha, transport());
      for await (const response of v1alpha.serverReflectionInfo(
        from(create(RequestV1Alpha, { messageRequest: { case: "listServices", value: "" } })),
      )) {
        expect(response.messageResponse.case).toBe("listServicesResponse");
      }
    });

    it("answers health Check, and NOT_FOUND for an unknown service", async () => {
      const client = createClient(Health, transport());
      expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
      expect((await client.check({ service: "oms.v1.OrderService" })).status).toBe(
        ServingStatus.SERVING,
      );
      const error = await client.check({ service: "nope" }).catch((e: unknown) => e);
      expect(ConnectError.from(error).code).toBe(Code.NotFound);
    });

    it("streams health Watch changes, and the server-side watch ends when the client goes away", async () => {
      const client = createClient(Health, transport());
      const cancel = new AbortController();
      const before = server.watchSignals.length;
      const seen: ServingStatus[] = [];
      const done = (async () => {
        for await (const response of client.watch(
          { service: "oms.v1.Watched" },
          { signal: cancel.signal },
        )) {
          seen.push(response.status);
          if (seen.length === 1) server.status.set("oms.v1.Watched", ServingStatus.SERVING);
          if (seen.length === 2) server.status.set("oms.v1.Watched", ServingStatus.NOT_SERVING);
          if (seen.length === 3) cancel.abort();
        }
      })().catch((e: unknown) => e);
      expect(ConnectError.from(await done).code).toBe(Code.Canceled);
      expect(seen).toEqual([
        ServingStatus.SERVICE_UNKNOWN,
        ServingStatus.SERVING,
        ServingStatus.NOT_SERVING,
      ]);
      const signal = server.watchSignals[before];
      await waitFor(() => signal?.aborted === true);
    });

    it("answers UNIMPLEMENTED for the served service's unhandled methods", async () => {
      const client = createClient(OrderService, transport());
      const error = await client.getOrder({ orderId: "o-1" }).catch((e: unknown) => e);
      expect(ConnectError.from(error).code).toBe(Code.Unimplemented);
    });
  });

  describe("with grpcurl", () => {
    it("lists services", async () => {
      const result = await runTool(requireGrpcurl(), ["-plaintext", server.address, "list"]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout.trim().split("\n")).toEqual([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "oms.v1.OrderService",
      ]);
    });

    it("lists a service's methods", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        server.address,
        "list",
        "oms.v1.OrderService",
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      // Every method of the service as the contract defines it, sorted as grpcurl prints them.
      const expected = OrderService.methods.map((m) => `oms.v1.OrderService.${m.name}`).sort();
      expect(expected).toContain("oms.v1.OrderService.SubmitOrder");
      expect(result.stdout.trim().split("\n")).toEqual(expected);
    });

    it("describes oms.v1.OrderService", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        server.address,
        "describe",
        "oms.v1.OrderService",
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout).toContain("oms.v1.OrderService is a service:");
      expect(result.stdout).toContain("service OrderService {");
      expect(result.stdout).toContain(
        "rpc GetOrder ( .oms.v1.GetOrderRequest ) returns ( .oms.v1.GetOrderResponse )",
      );
    });

    it("describes oms.v1.Order, a message from a dependency file", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        server.address,
        "describe",
        "oms.v1.Order",
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout).toContain("oms.v1.Order is a message:");
      expect(result.stdout).toMatch(/string order_id = 1;/);
      expect(result.stdout).toMatch(/\.oms\.v1\.OrderStatus status = 3;/);
    });

    it("describes a field with validation options (needs validate.proto and descriptor.proto)", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        server.address,
        "describe",
        "oms.v1.SubmitOrderRequest",
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(result.stdout).toContain("(.buf.validate.field)");
    });

    it("fails clearly for an unknown symbol", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        server.address,
        "describe",
        "oms.v1.Nope",
      ]);
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/Symbol not found: oms\.v1\.Nope/i);
    });

    it("calls grpc.health.v1.Health/Check", async () => {
      const result = await runTool(requireGrpcurl(), [
        "-plaintext",
        "-d",
        '{"service": "oms.v1.OrderService"}',
        server.address,
        "grpc.health.v1.Health/Check",
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(JSON.parse(result.stdout)).toEqual({ status: "SERVING" });

      const unknown = await runTool(requireGrpcurl(), [
        "-plaintext",
        "-d",
        '{"service": "nope"}',
        server.address,
        "grpc.health.v1.Health/Check",
      ]);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toContain("Code: NotFound");
    });

    it("watches health and prints a status change as it happens", async () => {
      const child: ChildProcess = spawn(
        requireGrpcurl(),
        [
          "-plaintext",
          "-d",
          '{"service": "oms.v1.Flapping"}',
          server.address,
          "grpc.health.v1.Health/Watch",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      try {
        // grpcurl prints each message as multi-line JSON; pick out the status lines.
        const statuses: string[] = [];
        const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
        lines.on("line", (line) => {
          const match = /"status": "(\w+)"/.exec(line);
          if (match?.[1]) statuses.push(match[1]);
        });
        await waitFor(() => statuses.length === 1, 10_000);
        server.status.set("oms.v1.Flapping", ServingStatus.SERVING);
        await waitFor(() => statuses.length === 2, 10_000);
        expect(statuses).toEqual(["SERVICE_UNKNOWN", "SERVING"]);
      } finally {
        child.kill();
      }
    });
  });

  describe("with buf curl", () => {
    it.each(["grpc-v1", "grpc-v1alpha"])(
      "lists methods through reflection %s",
      async (protocol) => {
        const result = await runTool(buf, [
          "curl",
          "--http2-prior-knowledge",
          "--protocol",
          "grpc",
          "--reflect-protocol",
          protocol,
          "--list-methods",
          `http://${server.address}`,
        ]);
        expect(result, result.stderr).toMatchObject({ code: 0 });
        const methods = result.stdout.trim().split("\n");
        expect(methods).toContain("oms.v1.OrderService/GetOrder");
        expect(methods).toContain("grpc.health.v1.Health/Watch");
        expect(methods).toContain("grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
      },
    );

    it("calls Health/Check with the schema from reflection", async () => {
      const result = await runTool(buf, [
        "curl",
        "--http2-prior-knowledge",
        "--protocol",
        "grpc",
        "-d",
        '{"service": ""}',
        `http://${server.address}/grpc.health.v1.Health/Check`,
      ]);
      expect(result, result.stderr).toMatchObject({ code: 0 });
      expect(JSON.parse(result.stdout)).toEqual({ status: "SERVING" });
    });
  });
});

describe("health Watch on server shutdown", () => {
  it("ends the stream when the server's shutdown signal aborts", async () => {
    const server = await startServer();
    try {
      const client = createClient(
        Health,
        createGrpcTransport({ baseUrl: `http://${server.address}` }),
      );
      const seen: ServingStatus[] = [];
      for await (const response of client.watch({ service: "" })) {
        seen.push(response.status);
        // Drain as a real server would: NOT_SERVING first, then stop the handlers.
        if (seen.length === 1) server.status.shutdown();
        if (seen.length === 2) server.shutdown();
      }
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    } finally {
      await server.close();
    }
  });
});

describe("reflection from a buf image, with comments", () => {
  let server: TestServer;
  let dir: string;

  beforeAll(async () => {
    // A buf image keeps source_code_info, which generated code strips.
    dir = await mkdtemp(path.join(tmpdir(), "oms-reflection-"));
    const image = path.join(dir, "image.binpb");
    const built = await runTool(buf, ["build", "-o", image]);
    expect(built, built.stderr).toMatchObject({ code: 0 });
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(image)));
    server = await startServer([registry]);
  });
  afterAll(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("grpcurl describe shows the proto comments", async () => {
    const result = await runTool(requireGrpcurl(), [
      "-plaintext",
      server.address,
      "describe",
      "oms.v1.OrderService",
    ]);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout).toContain("// Submit, look up and cancel customer orders.");
    expect(result.stdout).toContain("// The whole order. NOT_FOUND for an unknown order_id.");
  });
});
