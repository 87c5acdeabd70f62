/**
 * Accept-first SubmitOrder on the real API, worker, read model and Temporal
 * dev server: the order is recorded (version 1, fingerprint, workflow start)
 * in one read-model transaction and answered; its workflow starts in the
 * background, on demand for a command that needs it, or from the start
 * dispatcher of any API process when the accepting one could not.
 */
import { create } from "@bufbuild/protobuf";
import {
  Code,
  type Client as ConnectClient,
  ConnectError,
  createClient,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WorkflowNotFoundError } from "@temporalio/client";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import { OrderService, SubmitOrderRequestSchema } from "../../gen/oms/v1/order_service_pb.js";
import { type RunningApi, startApi } from "../../src/cmd/components.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { createWorkflowStarter } from "../../src/temporal/workflow-starts.js";
import { orderRequest } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { waitForOrder } from "../support/watch.js";

/** A second API process on the same read model and task queue, reaching Temporal as given. */
async function secondApi(
  sys: TestSystem,
  temporal: { address?: string; namespace?: string },
): Promise<{ api: RunningApi; orders: ConnectClient<typeof OrderService> }> {
  const config = {
    ...sys.config,
    temporal: {
      ...sys.config.temporal,
      namespace: temporal.namespace ?? sys.config.temporal.namespace,
    },
  };
  const api = await startApi(
    config,
    temporal.address ?? (sys.config.temporal.address as string),
    pino({ level: "silent" }),
  );
  return {
    api,
    orders: createClient(OrderService, createGrpcTransport({ baseUrl: api.server.url })),
  };
}

describe("accept-first SubmitOrder", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    // A short grace: the dispatcher takes over a second after acceptance.
    sys = await startTestSystem({ env: { OMS_WORKFLOW_START_GRACE_MS: "1000" } });
  });
  afterAll(() => sys?.stop());

  it("answers with version 1, readable at once, and then starts the workflow", async () => {
    const req = orderRequest();
    const submitted = (await sys.grpc.submitOrder(req)).order;
    expect(submitted?.version).toBe(1n);
    // Read your writes: the order, its timeline entry, on the next call.
    const got = (await sys.grpc.getOrder({ orderId: req.orderId })).order;
    expect(got?.orderId).toBe(req.orderId);
    expect(got?.createTime).toEqual(submitted?.createTime);
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history[0]?.toStatus).toBe(OrderStatus.PENDING);

    const handle = await sys.startedWorkflow(req.orderId);
    const memo = (await handle.describe()).memo as { submissionFingerprint?: string };
    expect(memo.submissionFingerprint).toEqual(
      await sys.api.store.getSubmissionFingerprint(req.orderId),
    );
    expect(await sys.api.store.getWorkflowStart(req.orderId)).toBeNull();
    await waitForOrder(sys, req.orderId, (o) => o.status !== OrderStatus.PENDING);
  });

  it("starts a workflow in the background only once the caller's answer is written, when told when that is", async () => {
    const starter = createWorkflowStarter({
      client: sys.temporal,
      store: sys.api.store,
      logger: pino({ level: "silent" }),
    });
    const req = orderRequest();
    const workflowId = orderWorkflowId(req.orderId);
    // A workflow nobody runs (no worker polls its task queue): only its existence matters.
    const record = {
      orderId: req.orderId,
      fingerprint: "fp",
      createTime: new Date().toISOString(),
      request: {
        workflowType: "orderWorkflow",
        workflowId,
        taskQueue: `nobody-polls-${req.orderId}`,
        args: [],
        memo: { submissionFingerprint: "fp" },
      },
    };
    let answered: (() => void) | undefined;
    starter.startSoon(record, (fn) => {
      answered = fn;
    });
    // Several turns of the event loop later, nothing has been asked of Temporal.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    await expect(sys.temporal.workflow.getHandle(workflowId).describe()).rejects.toThrow(
      WorkflowNotFoundError,
    );
    expect(answered).toBeDefined();
    answered?.();
    await starter.drain();
    try {
      const memo = (await sys.temporal.workflow.getHandle(workflowId).describe()).memo;
      expect(memo).toEqual({ submissionFingerprint: "fp" });
    } finally {
      await sys.temporal.workflow.getHandle(workflowId).terminate("test over");
    }
  });

  it("answers concurrent identical and conflicting submits from the read model: one order, one workflow", async () => {
    const req = orderRequest();
    const other = create(SubmitOrderRequestSchema, { ...req, customerId: "someone-else" });
    const calls = [
      ...Array.from({ length: 12 }, () => req),
      ...Array.from({ length: 4 }, () => other),
    ];
    const results = await Promise.all(
      calls.map((r) =>
        sys.grpc.submitOrder(r).then(
          (res) => ({ ok: res.order, customerId: r.customerId }),
          (err: unknown) => ({ err: ConnectError.from(err), customerId: r.customerId }),
        ),
      ),
    );
    const winners = new Set(results.flatMap((r) => ("ok" in r ? [r.ok?.customerId] : [])));
    expect(winners.size).toBe(1);
    const [winner] = winners;
    for (const result of results) {
      if (result.customerId === winner) {
        expect("ok" in result && result.ok?.customerId).toBe(winner);
      } else {
        const err = "err" in result ? result.err : undefined;
        expect(err?.code).toBe(Code.AlreadyExists);
        expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("ORDER_ID_CONFLICT");
      }
    }
    const createTimes = new Set(
      results.flatMap((r) => ("ok" in r ? [r.ok?.createTime?.seconds] : [])),
    );
    expect(createTimes.size).toBe(1);
    const history = await (await sys.startedWorkflow(req.orderId)).fetchHistory();
    expect(history.events?.filter((e) => e.workflowExecutionStartedEventAttributes)).toHaveLength(
      1,
    );
    // And once more after the start: still the stored order.
    const first = results.find((r) => "ok" in r) as { ok: { createTime: unknown } };
    const again = await sys.grpc.submitOrder(winner === req.customerId ? req : other);
    expect(again.order?.createTime).toEqual(first.ok.createTime);
  });

  it("cancels an order right after submitting it, before its workflow has started", async () => {
    const requests = Array.from({ length: 5 }, () => orderRequest());
    const cancelled = await Promise.all(
      requests.map(async (req) => {
        await sys.grpc.submitOrder(req);
        return (await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "too quick" })).order;
      }),
    );
    for (const order of cancelled) {
      expect(order?.cancellation?.description).toBe("too quick");
    }
    for (const req of requests) {
      await (await sys.startedWorkflow(req.orderId)).result();
      expect((await sys.grpc.getOrder({ orderId: req.orderId })).order?.status).toBe(
        OrderStatus.CANCELLED,
      );
    }
  });

  it("accepts while Temporal is unreachable, and starts the workflow once it is back", async () => {
    const [host, port] = (sys.config.temporal.address as string).split(":") as [string, string];
    const proxy: TcpProxy = await startTcpProxy(host, Number(port));
    const { api, orders } = await secondApi(sys, { address: `127.0.0.1:${proxy.port}` });
    try {
      proxy.cut();
      const req = orderRequest();
      const submitted = (await orders.submitOrder(req)).order;
      expect(submitted?.status).toBe(OrderStatus.PENDING);
      expect((await orders.getOrder({ orderId: req.orderId })).order?.version).toBe(1n);
      expect(await api.store.getWorkflowStart(req.orderId)).not.toBeNull();
      proxy.restore();
      // Started by this API's own start (its retries) or its dispatcher: the worker runs it.
      await waitForOrder(sys, req.orderId, (o) => o.status !== OrderStatus.PENDING);
      await api.starter.whenStarted(req.orderId);
      expect(await api.store.getWorkflowStart(req.orderId)).toBeNull();
    } finally {
      proxy.restore();
      await api.stop();
      await proxy.close();
    }
  });

  it("parks the start of an order whose id another workflow already holds (read-model loss), for an operator", async () => {
    const req = orderRequest();
    // What a read model restored from an older backup would leave: Temporal
    // knows the id (another submission's workflow; on a task queue nobody
    // polls, so that it just sits there), the read model does not.
    await sys.temporal.workflow.start("orderWorkflow", {
      taskQueue: `nobody-polls-${req.orderId}`,
      workflowId: orderWorkflowId(req.orderId),
      args: [],
      memo: { submissionFingerprint: "another-submission" },
    });
    try {
      await sys.grpc.submitOrder(req);
      await sys.api.starter.whenStarted(req.orderId);
      const record = await sys.api.store.getWorkflowStart(req.orderId);
      expect(record?.parked).toBe(true);
      const [parked] = (await sys.api.store.listParkedWorkflowStarts()).filter(
        (p) => p.orderId === req.orderId,
      );
      expect(parked?.lastError).toMatch(/exists with another submission/);
      // Never claimed by a dispatcher, never started on demand.
      expect(await sys.api.store.countPendingWorkflowStarts()).toBe(0);
    } finally {
      await sys.temporal.workflow.getHandle(orderWorkflowId(req.orderId)).terminate("test over");
    }
  });

  it("starts, from another API process, the workflows of orders whose accepting process could not", async () => {
    // An API whose starts all fail (its namespace does not exist), stopped
    // right after accepting: its orders are left with their start records.
    const { api: doomed, orders } = await secondApi(sys, { namespace: "no-such-namespace" });
    const viaDispatcher = orderRequest();
    const viaCancel = orderRequest();
    try {
      await orders.submitOrder(viaDispatcher);
      await orders.submitOrder(viaCancel);
    } finally {
      await doomed.stop();
    }
    expect(await sys.api.store.getWorkflowStart(viaDispatcher.orderId)).not.toBeNull();
    expect(await sys.api.store.getWorkflowStart(viaCancel.orderId)).not.toBeNull();

    // A command on the order starts its workflow on demand…
    const cancelled = (
      await sys.grpc.cancelOrder({ orderId: viaCancel.orderId, reason: "on demand" })
    ).order;
    expect(cancelled?.cancellation?.description).toBe("on demand");
    // …and the surviving API's dispatcher starts the other once its grace is over.
    await waitForOrder(sys, viaDispatcher.orderId, (o) => o.status !== OrderStatus.PENDING);
    await sys.api.starter.whenStarted(viaDispatcher.orderId);
    expect(await sys.api.store.countPendingWorkflowStarts()).toBe(0);
  });
});
