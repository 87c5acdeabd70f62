import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import { createHealthService, type HealthServiceOptions } from "./health-service.js";
import { createHealthStatus, type HealthStatus, ServingStatus } from "./health-status.js";

function setup(status: HealthStatus, options?: HealthServiceOptions) {
  const service = createHealthService(status, options);
  return createClient(
    Health,
    createRouterTransport((router) => service.register(router)),
  );
}

describe("createHealthService", () => {
  it("Check answers the overall status for the empty name", async () => {
    const client = setup(createHealthStatus());
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });

  it("Check answers a known service's status", async () => {
    const status = createHealthStatus({
      initial: { "oms.v1.OrderService": ServingStatus.NOT_SERVING },
    });
    const client = setup(status);
    expect((await client.check({ service: "oms.v1.OrderService" })).status).toBe(
      ServingStatus.NOT_SERVING,
    );
  });

  it("Check fails with NOT_FOUND for an unknown service", async () => {
    const client = setup(createHealthStatus());
    const error = await client.check({ service: "nope" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.NotFound);
  });

  it("List returns every known service", async () => {
    const client = setup(createHealthStatus({ initial: { a: ServingStatus.NOT_SERVING } }));
    const { statuses } = await client.list({});
    expect(Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, v.status]))).toEqual({
      "": ServingStatus.SERVING,
      a: ServingStatus.NOT_SERVING,
    });
  });

  it("List fails with RESOURCE_EXHAUSTED above the limit", async () => {
    const client = setup(createHealthStatus({ initial: { a: ServingStatus.SERVING } }), {
      maxListedServices: 1,
    });
    await expect(client.list({})).rejects.toMatchObject({ code: Code.ResourceExhausted });
  });

  it("Watch streams the current status, then changes, and ends when the server signal aborts", async () => {
    const status = createHealthStatus();
    const shutdown = new AbortController();
    const client = setup(status, { signal: shutdown.signal });
    const seen: ServingStatus[] = [];
    for await (const response of client.watch({ service: "a" })) {
      seen.push(response.status);
      // Drive the next change from the stream itself, so the test is deterministic.
      if (seen.length === 1) status.set("a", ServingStatus.SERVING);
      if (seen.length === 2) status.set("a", ServingStatus.NOT_SERVING);
      if (seen.length === 3) shutdown.abort();
    }
    expect(seen).toEqual([
      ServingStatus.SERVICE_UNKNOWN,
      ServingStatus.SERVING,
      ServingStatus.NOT_SERVING,
    ]);
  });

  it("Watch ends when the client cancels", async () => {
    const status = createHealthStatus();
    const client = setup(status);
    const cancel = new AbortController();
    const seen: ServingStatus[] = [];
    const error = await (async () => {
      for await (const response of client.watch({ service: "" }, { signal: cancel.signal })) {
        seen.push(response.status);
        cancel.abort();
      }
    })().catch((e: unknown) => e);
    expect(seen).toEqual([ServingStatus.SERVING]);
    expect(ConnectError.from(error).code).toBe(Code.Canceled);
  });
});
