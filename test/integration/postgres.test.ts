/**
 * The whole system on the PostgreSQL read model (docs/spec.md section 6:
 * `OMS_DATABASE_URL`), including the scaled-out shape docs/spec.md promises
 * (section 2): two stateless API servers sharing one database and one
 * Temporal task queue. A WatchOrder stream on one replica follows an order
 * driven through the other, and reads keep answering with no worker running.
 *
 * PostgreSQL comes from test/support/postgres.ts: OMS_TEST_DATABASE_URL, or a
 * throwaway server from the local binaries. Missing binaries fail the suite.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, type Client as ConnectClient, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  FulfillmentStatus,
  type Order,
  OrderStatus,
  PaymentStatus,
  ShipmentStatus,
} from "../../gen/oms/v1/order_pb.js";
import { type ListOrdersRequestSchema, OrderService } from "../../gen/oms/v1/order_service_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { type RunningApi, startApi } from "../../src/cmd/components.js";
import { orderWorkflowId } from "../../src/domain/ids.js";
import { failure } from "../support/failure.js";
import { orderRequest, twoWarehouses } from "../support/orders.js";
import { walkPages } from "../support/pages.js";
import { startTestPostgres, type TestPostgres } from "../support/postgres.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { bookedShipments, waitForOrder } from "../support/watch.js";

type OrderClient = ConnectClient<typeof OrderService>;

const newCustomer = () => `pg-${randomUUID()}`;

/** first, first+1, …, last */
const range = (first: number, last: number) =>
  Array.from({ length: last - first + 1 }, (_, i) => first + i);

/**
 * Follows an order's WatchOrder stream in the background. `started` resolves
 * with the first message (so the stream is known to be open), `done` with
 * every order received once the server ends the stream.
 */
function follow(client: OrderClient, orderId: string, sinceVersion = 0n) {
  const seen: Order[] = [];
  let opened: () => void = () => {};
  const firstMessage = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const done = (async () => {
    for await (const res of client.watchOrder(
      { orderId, sinceVersion },
      { signal: AbortSignal.timeout(60_000) },
    )) {
      seen.push(res.order as Order);
      opened();
    }
    return seen;
  })();
  // Racing with `done` also surfaces a stream that fails before its first message.
  const started = Promise.race([firstMessage, done]).then(() => seen[0] as Order);
  return { started, done };
}

describe("the OMS on PostgreSQL, with two API servers", () => {
  let postgres: TestPostgres | undefined;
  let databaseUrl: string;
  let sys: TestSystem;
  /** The second API replica: same config (database, task queue, page-token secret), its own port. */
  let api2: RunningApi | undefined;
  let grpc2: OrderClient;

  beforeAll(async () => {
    postgres = await startTestPostgres();
    databaseUrl = await postgres.createDatabase();
    sys = await startTestSystem({ env: { OMS_DATABASE_URL: databaseUrl } });
    api2 = await startApi(sys.config, inject("temporalAddress"), pino({ level: "warn" }));
    grpc2 = createClient(OrderService, createGrpcTransport({ baseUrl: api2.server.url }));
  }, 120_000);

  afterAll(async () => {
    try {
      await api2?.stop();
    } finally {
      try {
        await sys?.stop();
      } finally {
        await postgres?.stop();
      }
    }
  }, 60_000);

  /** Runs one query on the test database, behind the API's back. */
  async function query<R extends pg.QueryResultRow>(text: string, values: unknown[]) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Like waitForOrder, but on API #2's WatchOrder. */
  async function stream2Until(orderId: string, predicate: (o: Order) => boolean): Promise<Order> {
    const seen: string[] = [];
    for await (const res of grpc2.watchOrder(
      { orderId },
      { signal: AbortSignal.timeout(45_000) },
    )) {
      const order = res.order as Order;
      seen.push(`v${order.version}:${OrderStatus[order.status]}`);
      if (predicate(order)) return order;
    }
    throw new Error(`order ${orderId} ended without reaching the state; saw ${seen.join(" → ")}`);
  }

  const report = (shipmentId: string, event: ShipmentEvent) =>
    sys.shipments.reportShipmentEvent({ shipmentId, event });
  const finished = async (client: OrderClient, orderId: string) => {
    await sys.temporal.workflow.getHandle(orderWorkflowId(orderId)).result();
    return (await client.getOrder({ orderId })).order as Order;
  };

  it("runs both API servers on the PostgreSQL database, migrated at start", async () => {
    expect(sys.config.readModel.databaseUrl).toBe(databaseUrl);
    expect(sys.api.store.kind).toBe("postgres");
    expect(api2?.store.kind).toBe("postgres");
    expect(api2?.server.port).not.toBe(sys.port);
    // The API and worker processes applied the migrations (concurrently; they serialize on a lock).
    const tables = await query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' order by 1",
      [],
    );
    expect(tables.map((t) => t.table_name)).toEqual(
      expect.arrayContaining(["order_timeline", "order_versions", "orders", "shipments"]),
    );
  });

  it("completes an order's whole life: submit, book, dispatch, deliver", async () => {
    const customer = newCustomer();
    const req = twoWarehouses(customer);
    const submitted = (await sys.grpc.submitOrder(req)).order as Order;
    expect(submitted.status).toBe(OrderStatus.PENDING);

    const shipments = await bookedShipments(sys, req.orderId, 2);
    const booked = (await sys.grpc.getOrder({ orderId: req.orderId })).order as Order;
    expect(booked.status).toBe(OrderStatus.PROCESSING);
    expect(booked.fulfillments.map((f) => f.warehouseId).sort()).toEqual(["wh-east", "wh-west"]);
    for (const id of shipments) await report(id, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    for (const id of shipments) await report(id, ShipmentEvent.DELIVERED);

    const done = await finished(sys.grpc, req.orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    expect(done.customerId).toBe(customer);
    expect(done.createTime).toEqual(submitted.createTime);
    expect(done.version).toBeGreaterThan(booked.version);
    for (const f of done.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.DELIVERED);
      expect(f.payment?.status).toBe(PaymentStatus.CAPTURED);
      expect(f.payment?.capturedMinor).toBe(f.amounts?.totalMinor);
      expect(f.shipment?.status).toBe(ShipmentStatus.DELIVERED);
    }
    expect(done.amounts?.totalMinor).toBe(3199n + 10111n);

    // The timeline: numbered 1..n without gaps, in order.
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.map((e) => Number(e.sequence))).toEqual(range(1, history.length));
    expect(history.map((e) => OrderStatus[e.toStatus])).toEqual([
      "PENDING",
      "PROCESSING",
      // Each shipment's dispatch and delivery, as the courier reported them.
      ...Array(4).fill("PROCESSING"),
      "COMPLETED",
    ]);
    // The other replica reads the same rows.
    expect((await grpc2.getOrderHistory({ orderId: req.orderId })).events).toEqual(history);
    expect((await grpc2.getOrder({ orderId: req.orderId })).order).toEqual(done);

    // ListOrders, on either replica.
    for (const client of [sys.grpc, grpc2]) {
      const mine = await client.listOrders({ customerId: customer });
      expect(mine.orders.map((o) => o.orderId)).toEqual([req.orderId]);
      expect(mine.orders[0]?.status).toBe(OrderStatus.COMPLETED);
      expect(mine.nextPageToken).toBe("");
      const completed = await client.listOrders({
        customerId: customer,
        statuses: [OrderStatus.COMPLETED],
      });
      expect(completed.orders.map((o) => o.orderId)).toEqual([req.orderId]);
      const processing = await client.listOrders({
        customerId: customer,
        statuses: [OrderStatus.PROCESSING],
      });
      expect(processing.orders).toEqual([]);
    }

    // And it really is in PostgreSQL: the row, every version, the whole timeline.
    const [row] = await query<{ status: string; version: string }>(
      "select status, version from orders where order_id = $1",
      [req.orderId],
    );
    expect(row).toEqual({ status: "COMPLETED", version: String(done.version) });
    const versions = await query<{ version: string }>(
      "select version from order_versions where order_id = $1 order by version",
      [req.orderId],
    );
    expect(versions.map((v) => Number(v.version))).toEqual(range(1, Number(done.version)));
    const timeline = await query<{ sequence: number }>(
      "select sequence from order_timeline where order_id = $1 order by sequence",
      [req.orderId],
    );
    expect(timeline).toHaveLength(history.length);
  });

  it("pages ListOrders across both replicas with one set of tokens", async () => {
    const customer = newCustomer();
    const submitted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const req = orderRequest({ customerId: customer });
      await sys.grpc.submitOrder(req);
      submitted.push(req.orderId);
    }
    // Alternate replicas page by page: tokens are signed with the shared secret, not per process.
    const clients = [sys.grpc, grpc2];
    const pages = await walkPages(
      (pageToken, page) =>
        (clients[page % 2] as OrderClient).listOrders({
          customerId: customer,
          pageSize: 2,
          pageToken,
        }),
      5,
    );
    const seen = pages.flatMap((res) => res.orders.map((o) => o.orderId));
    expect(seen).toHaveLength(5);
    expect([...seen].sort()).toEqual([...submitted].sort());
    const all = (await grpc2.listOrders({ customerId: customer })).orders;
    expect(all.map((o) => o.orderId)).toEqual(seen);
    // Newest first.
    const times = all.map(
      (o) => Number(o.createTime?.seconds) * 1e3 + (o.createTime?.nanos ?? 0) / 1e6,
    );
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // Bad tokens are refused the same way on PostgreSQL.
    const first = await sys.grpc.listOrders({ customerId: customer, pageSize: 1 });
    for (const [what, req] of [
      ["garbage", { customerId: customer, pageToken: "not-a-token" }],
      ["another customer", { customerId: newCustomer(), pageToken: first.nextPageToken }],
      [
        "a statuses filter added",
        { customerId: customer, statuses: [OrderStatus.PENDING], pageToken: first.nextPageToken },
      ],
    ] satisfies [string, MessageInitShape<typeof ListOrdersRequestSchema>][]) {
      const err = await failure(grpc2.listOrders(req));
      expect(err.code, what).toBe(Code.InvalidArgument);
      expect(
        err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field)),
        what,
      ).toEqual(["page_token"]);
    }
  });

  it("pages ties in create time by order id in byte order, each exactly once", async () => {
    // PostgreSQL compares text by the database's locale unless told otherwise;
    // these ids sort differently under most locales than in byte order.
    const customer = newCustomer();
    const template = orderRequest({ customerId: customer });
    await sys.grpc.submitOrder(template);
    const stored = await sys.api.store.getOrder(template.orderId);
    if (stored === null) throw new Error("the submitted order is not in the read model");
    const tied = ["tie-a", "tie-B", "tie_c", "tie-Z", "tieA", "tie-0", "tie~"].map(
      (suffix) => `${template.orderId}-${suffix}`,
    );
    const time = new Date(Date.parse(stored.createTime) - 60_000).toISOString();
    for (const orderId of tied) {
      await sys.api.store.saveOrder(
        { ...stored, orderId, version: 1, status: "PENDING", createTime: time, updateTime: time },
        [],
      );
    }
    const seen: string[] = [];
    let pageToken = "";
    for (let page = 0; ; page++) {
      const res = await (page % 2 ? grpc2 : sys.grpc).listOrders({
        customerId: customer,
        pageSize: 2,
        pageToken,
      });
      seen.push(...res.orders.map((o) => o.orderId));
      if (res.nextPageToken === "") break;
      pageToken = res.nextPageToken;
      expect(page).toBeLessThan(10);
    }
    expect(seen).toEqual([template.orderId, ...[...tied].sort().reverse()]);
  });

  it("accepts the same SubmitOrder concurrently on both replicas as one order", async () => {
    const req = twoWarehouses(newCustomer());
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? grpc2 : sys.grpc).submitOrder(req)),
    );
    const orders = results.map((r) => r.order as Order);
    expect(new Set(orders.map((o) => o.orderId))).toEqual(new Set([req.orderId]));
    // One acceptance: every answer carries the same create time.
    expect(new Set(orders.map((o) => `${o.createTime?.seconds}.${o.createTime?.nanos}`)).size).toBe(
      1,
    );
    const listed = await grpc2.listOrders({ customerId: req.customerId });
    expect(listed.orders.map((o) => o.orderId)).toEqual([req.orderId]);
    const history = (await sys.grpc.getOrderHistory({ orderId: req.orderId })).events;
    expect(history.filter((e) => e.toStatus === OrderStatus.PENDING)).toHaveLength(1);
  });

  it("streams every version on API #2 while the order is driven through API #1 to COMPLETED", async () => {
    const req = twoWarehouses(newCustomer());
    // With no worker, the order stays at version 1 until the stream is open.
    await sys.stopWorker();
    let stream!: ReturnType<typeof follow>;
    try {
      await sys.grpc.submitOrder(req);
      stream = follow(grpc2, req.orderId);
      const first = await stream.started;
      expect(first.version).toBe(1n);
      expect(first.status).toBe(OrderStatus.PENDING);
    } finally {
      await sys.startWorker();
    }

    const shipments = await bookedShipments(sys, req.orderId, 2);
    for (const id of shipments) await report(id, ShipmentEvent.DISPATCHED);
    await waitForOrder(sys, req.orderId, (o) =>
      o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED),
    );
    for (const id of shipments) await report(id, ShipmentEvent.DELIVERED);

    // The stream ends by itself after the terminal version.
    const seen = await stream.done;
    const last = await finished(sys.grpc, req.orderId);
    expect(last.status).toBe(OrderStatus.COMPLETED);
    expect(seen.map((o) => Number(o.version))).toEqual(range(1, Number(last.version)));
    expect(seen.at(-1)).toEqual(last);
    expect(seen.slice(0, -1).every((o) => o.status !== OrderStatus.COMPLETED)).toBe(true);
    // Every intermediate state passed through the stream, in order.
    const statuses = seen.map((o) => OrderStatus[o.status]);
    expect([...new Set(statuses)]).toEqual(["PENDING", "PROCESSING", "COMPLETED"]);
    expect(
      seen.some((o) => o.fulfillments.every((f) => f.status === FulfillmentStatus.DISPATCHED)),
    ).toBe(true);
  });

  it("streams every version on API #2 while the order is cancelled through API #1", async () => {
    const req = twoWarehouses(newCustomer());
    await sys.grpc.submitOrder(req);
    const stream = follow(grpc2, req.orderId);
    const first = await stream.started;

    await bookedShipments(sys, req.orderId, 2);
    const cancelled = (await sys.grpc.cancelOrder({ orderId: req.orderId, reason: "replicas" }))
      .order as Order;
    expect(cancelled.cancellation?.description).toBe("replicas");

    const seen = await stream.done;
    const last = await finished(grpc2, req.orderId);
    expect(last.status).toBe(OrderStatus.CANCELLED);
    for (const f of last.fulfillments) {
      expect(f.status).toBe(FulfillmentStatus.CANCELLED);
      expect(f.payment?.status).toBe(PaymentStatus.VOIDED);
    }
    // Consecutive versions from the first one sent to the terminal one, which ends the stream.
    expect(seen.map((o) => Number(o.version))).toEqual(
      range(Number(first.version), Number(last.version)),
    );
    expect(seen.at(-1)?.status).toBe(OrderStatus.CANCELLED);
    expect(seen.map((o) => o.version)).toContain(cancelled.version);

    // Resuming on API #2 after version 1 replays the rest of the history without gaps,
    // the same snapshots the live stream carried.
    const resumed = await follow(grpc2, req.orderId, 1n).done;
    expect(resumed.map((o) => Number(o.version))).toEqual(range(2, Number(last.version)));
    for (const order of seen.filter((o) => o.version > 1n)) {
      expect(resumed.find((r) => r.version === order.version)).toEqual(order);
    }
  });

  it("answers reads on API #2 from PostgreSQL while no worker runs", async () => {
    const customer = newCustomer();
    const earlier = orderRequest({ customerId: customer });
    await sys.grpc.submitOrder(earlier);
    const processing = await waitForOrder(
      sys,
      earlier.orderId,
      (o) => o.status === OrderStatus.PROCESSING && o.fulfillments.every((f) => f.shipment),
    );
    const waiting = orderRequest({ customerId: customer });

    await sys.stopWorker();
    try {
      const got = (await grpc2.getOrder({ orderId: earlier.orderId })).order as Order;
      expect(got.status).toBe(OrderStatus.PROCESSING);
      expect(got.version).toBeGreaterThanOrEqual(processing.version);
      expect((await grpc2.getOrderHistory({ orderId: earlier.orderId })).events.length).toBe(2);

      // Accepted through API #1 with no worker: API #2 reads it at once (read-your-writes across replicas).
      const submitted = (await sys.grpc.submitOrder(waiting)).order as Order;
      const fresh = (await grpc2.getOrder({ orderId: waiting.orderId })).order as Order;
      expect(fresh.status).toBe(OrderStatus.PENDING);
      expect(fresh.version).toBe(submitted.version);
      const listed = await grpc2.listOrders({ customerId: customer });
      expect(listed.orders.map((o) => o.orderId)).toEqual([waiting.orderId, earlier.orderId]);
      const notFound = await failure(grpc2.getOrder({ orderId: `missing-${randomUUID()}` }));
      expect(notFound.code).toBe(Code.NotFound);
    } finally {
      await sys.startWorker();
    }
    // The accepted order goes on once a worker is back; API #2 sees it move.
    const moved = await stream2Until(waiting.orderId, (o) => o.status === OrderStatus.PROCESSING);
    expect(moved.version).toBeGreaterThan(1n);
  });
});
