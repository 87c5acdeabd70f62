/**
 * ListOrders (docs/spec.md section 4) through the real API, worker, Temporal dev
 * server, reference services and the default SQLite read model: filters,
 * newest-first order, AIP-158 paging (default and maximum page size, opaque
 * tokens bound to their filters, an empty token on the last page) and
 * keyset stability while new orders arrive between pages.
 */
import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { type Order, OrderStatus } from "../../gen/oms/v1/order_pb.js";
import type { ListOrdersRequestSchema } from "../../gen/oms/v1/order_service_pb.js";
import type { SlaState } from "../../gen/oms/v1/sla_pb.js";
import { failure } from "../support/failure.js";
import { orderRequest } from "../support/orders.js";
import { walkPages } from "../support/pages.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import { waitForOrder } from "../support/watch.js";

function violatedFields(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
}

/** A customer no other test (or earlier run) has orders for. */
const newCustomer = () => `list-${randomUUID()}`;

/** The keyset order: create time descending, then order id descending (code-unit order). */
function newestFirst(a: Order, b: Order): number {
  const time = (o: Order) => (o.createTime ? timestampMs(o.createTime) : 0);
  const byTime = time(b) - time(a);
  if (byTime !== 0) return byTime;
  return a.orderId < b.orderId ? 1 : a.orderId > b.orderId ? -1 : 0;
}

type ListQuery = MessageInitShape<typeof ListOrdersRequestSchema>;
type Items = NonNullable<Parameters<typeof orderRequest>[0]>["items"];

const ids = (orders: readonly Order[]) => orders.map((o) => o.orderId);

describe("ListOrders over the real API (SQLite read model unless OMS_TEST_DATABASE_URL)", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());

  const list = (req: ListQuery) => sys.grpc.listOrders(req);

  /** Submits orders one after another (so their accept times are ordered) and returns them. */
  async function submitSequentially(customerId: string, count: number): Promise<Order[]> {
    const orders: Order[] = [];
    for (let i = 0; i < count; i++) {
      const res = await sys.grpc.submitOrder(orderRequest({ customerId }));
      orders.push(res.order as Order);
    }
    return orders;
  }

  /** Submits `count` orders a few at a time; order of acceptance does not matter to the caller. */
  async function submitMany(customerId: string, count: number, items: Items): Promise<string[]> {
    const all: string[] = [];
    let next = 0;
    const lane = async () => {
      while (next < count) {
        next += 1;
        const req = orderRequest({ customerId, items });
        await sys.grpc.submitOrder(req);
        all.push(req.orderId);
      }
    };
    await Promise.all(Array.from({ length: 6 }, lane));
    return all;
  }

  /** Every page of a query, following next_page_token to the end. */
  async function listAll(req: ListQuery): Promise<{ pages: Order[][]; tokens: string[] }> {
    const responses = await walkPages((pageToken) => list({ ...req, pageToken }));
    return {
      pages: responses.map((res) => res.orders),
      tokens: responses.map((res) => res.nextPageToken),
    };
  }

  it("filters by customer_id and by statuses", async () => {
    const customer = newCustomer();
    const other = newCustomer();
    const normal = [orderRequest({ customerId: customer }), orderRequest({ customerId: customer })];
    // Nothing in stock: CANCELLED (out of stock). Unknown SKU: FAILED.
    const outOfStock = orderRequest({
      customerId: customer,
      items: [{ sku: "OOS-LIST-1", quantity: 1, unitPriceMinor: 100n }],
    });
    const unknownSku = orderRequest({
      customerId: customer,
      items: [{ sku: "BAD-LIST-1", quantity: 1, unitPriceMinor: 100n }],
    });
    const othersOrder = orderRequest({ customerId: other });
    for (const req of [...normal, outOfStock, unknownSku, othersOrder]) {
      await sys.grpc.submitOrder(req);
    }
    await waitForOrder(sys, outOfStock.orderId, (o) => o.status === OrderStatus.CANCELLED);
    await waitForOrder(sys, unknownSku.orderId, (o) => o.status === OrderStatus.FAILED);
    // Nobody plays the courier: normal orders stay PROCESSING once booked.
    for (const req of normal) {
      await waitForOrder(sys, req.orderId, (o) => o.status === OrderStatus.PROCESSING);
    }

    // Customer only: exactly this customer's four orders, never the other's.
    const mine = await list({ customerId: customer });
    expect(mine.nextPageToken).toBe("");
    expect(ids(mine.orders).sort()).toEqual(
      [...normal, outOfStock, unknownSku].map((r) => r.orderId).sort(),
    );
    expect(mine.orders.every((o) => o.customerId === customer)).toBe(true);
    expect(ids((await list({ customerId: other })).orders)).toEqual([othersOrder.orderId]);

    // Customer and statuses.
    const byStatus = async (...statuses: OrderStatus[]) =>
      ids((await list({ customerId: customer, statuses })).orders).sort();
    expect(await byStatus(OrderStatus.CANCELLED)).toEqual([outOfStock.orderId]);
    expect(await byStatus(OrderStatus.FAILED)).toEqual([unknownSku.orderId]);
    expect(await byStatus(OrderStatus.PROCESSING)).toEqual(normal.map((r) => r.orderId).sort());
    expect(await byStatus(OrderStatus.CANCELLED, OrderStatus.FAILED)).toEqual(
      [outOfStock.orderId, unknownSku.orderId].sort(),
    );
    expect(await byStatus(OrderStatus.COMPLETED, OrderStatus.CUSTOMER_ACTION_REQUIRED)).toEqual([]);
    // The statuses filter matches what GetOrder says.
    const cancelled = (await list({ customerId: customer, statuses: [OrderStatus.CANCELLED] }))
      .orders[0];
    expect(cancelled?.status).toBe(OrderStatus.CANCELLED);
    expect(cancelled?.version).toBe(
      (await sys.grpc.getOrder({ orderId: outOfStock.orderId })).order?.version,
    );

    // Statuses alone: across customers, only orders in those statuses.
    const failedEverywhere = (await list({ statuses: [OrderStatus.FAILED], pageSize: 500 })).orders;
    expect(ids(failedEverywhere)).toContain(unknownSku.orderId);
    expect(failedEverywhere.every((o) => o.status === OrderStatus.FAILED)).toBe(true);

    // An unknown customer: no orders, and no next page.
    const none = await list({ customerId: newCustomer() });
    expect(none.orders).toEqual([]);
    expect(none.nextPageToken).toBe("");
  });

  it("returns the newest orders first", async () => {
    const customer = newCustomer();
    const submitted = await submitSequentially(customer, 6);
    const listed = (await list({ customerId: customer })).orders;
    // Create time descending, ties (same millisecond) broken by order id descending.
    expect(ids(listed)).toEqual(ids([...submitted].sort(newestFirst)));
    expect(ids([...listed].sort(newestFirst))).toEqual(ids(listed));
    // Accepted one after another, the last submitted is the newest.
    expect(listed[0]?.createTime).toEqual(submitted.at(-1)?.createTime);
    expect(listed.at(-1)?.createTime).toEqual(submitted[0]?.createTime);
    // Each listed order is the whole order, as GetOrder returns it.
    for (const order of listed) {
      expect(order.createTime).toEqual(
        submitted.find((s) => s.orderId === order.orderId)?.createTime,
      );
      expect(order.items.length).toBeGreaterThan(0);
    }
  });

  it("uses 50 orders a page when page_size is 0", async () => {
    const customer = newCustomer();
    // Out-of-stock orders end quickly (CANCELLED), so 51 of them cost the worker little.
    const all = await submitMany(customer, 51, [
      { sku: "OOS-DEFAULT", quantity: 1, unitPriceMinor: 100n },
    ]);
    const first = await list({ customerId: customer, pageSize: 0 });
    expect(first.orders).toHaveLength(50);
    expect(first.nextPageToken).not.toBe("");
    // Unset is the same as 0.
    const unset = await list({ customerId: customer });
    expect(ids(unset.orders)).toEqual(ids(first.orders));
    expect(unset.nextPageToken).not.toBe("");
    const second = await list({ customerId: customer, pageToken: first.nextPageToken });
    expect(second.orders).toHaveLength(1);
    expect(second.nextPageToken).toBe("");
    expect([...ids(first.orders), ...ids(second.orders)].sort()).toEqual([...all].sort());
  });

  it("clamps page_size above 500 to 500", async () => {
    // 501 orders of one customer, written straight into the read model the API
    // reads (as the workflow's local activity would), cloned from a real order:
    // 501 workflows would only slow the run down without testing more of ListOrders.
    const customer = newCustomer();
    const template = orderRequest({ customerId: customer });
    await sys.grpc.submitOrder(template);
    const stored = await sys.api.store.getOrder(template.orderId);
    if (stored === null) throw new Error("the submitted order is not in the read model");
    const base = Date.parse(stored.createTime) - 600_000;
    for (let i = 0; i < 500; i++) {
      const time = new Date(base + i * 1_000).toISOString();
      await sys.api.store.saveOrder(
        {
          ...stored,
          orderId: `${template.orderId}-seed-${String(i).padStart(3, "0")}`,
          version: 1,
          status: "PENDING",
          createTime: time,
          updateTime: time,
        },
        [],
      );
    }

    for (const pageSize of [501, 1_000, 2_147_483_647]) {
      const page = await list({ customerId: customer, pageSize });
      expect(page.orders, `page_size ${pageSize}`).toHaveLength(500);
      expect(page.nextPageToken).not.toBe("");
    }
    const first = await list({ customerId: customer, pageSize: 500 });
    expect(first.orders[0]?.orderId).toBe(template.orderId); // the real one is the newest
    const rest = await list({
      customerId: customer,
      pageSize: 1_000,
      pageToken: first.nextPageToken,
    });
    expect(ids(rest.orders)).toEqual([`${template.orderId}-seed-000`]);
    expect(rest.nextPageToken).toBe("");
  });

  it("pages orders created in the same millisecond by order id, each exactly once", async () => {
    // Ties in create time are real (concurrent submits); the keyset is
    // (create_time, order_id), so paging must not lose or repeat a tied order.
    // Seeded straight into the read model to force an exact tie.
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
    const { pages } = await listAll({ customerId: customer, pageSize: 2 });
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2]);
    // The real order is newest; the tied ones follow by order id descending, in code-unit order.
    const descending = [...tied].sort().reverse();
    expect(ids(pages.flat())).toEqual([template.orderId, ...descending]);
  });

  it("rejects a negative page_size as INVALID_ARGUMENT naming page_size", async () => {
    for (const pageSize of [-1, -2_147_483_648]) {
      const err = await failure(list({ customerId: newCustomer(), pageSize }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(violatedFields(err)).toEqual(["page_size"]);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_REQUEST");
    }
  });

  it("rejects an sla_state that is not defined as INVALID_ARGUMENT naming sla_state", async () => {
    const err = await failure(list({ customerId: newCustomer(), slaState: 7 as SlaState }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(violatedFields(err)).toEqual(["sla_state"]);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("INVALID_REQUEST");
  });

  it("pages through every original order exactly once while new orders arrive between pages", async () => {
    const customer = newCustomer();
    const originals = await submitSequentially(customer, 10);
    const expected = ids([...originals].sort(newestFirst));

    const pages: string[][] = [];
    const arrivals: string[] = [];
    let pageToken = "";
    for (;;) {
      const res = await list({ customerId: customer, pageSize: 3, pageToken });
      pages.push(ids(res.orders));
      if (res.nextPageToken === "") break;
      pageToken = res.nextPageToken;
      // Two new orders of the same customer between every two pages.
      for (const order of await submitSequentially(customer, 2)) arrivals.push(order.orderId);
      expect(pages.length).toBeLessThan(20);
    }

    // Keyset paging: a token holds the (create_time, order_id) of the last
    // order sent, and the next page holds only orders sorting strictly after
    // it in newest-first order. New orders are accepted later than every
    // original, so they sort before the position and can never show up in a
    // later page; nothing shifts, so there are no duplicates and no gaps.
    const seen = pages.flat();
    expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
    expect(seen).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => arrivals.includes(id))).toEqual([]);
    expect(arrivals).toHaveLength(6);

    // A listing started afterwards sees the new orders first, then the originals.
    const fresh = (await listAll({ customerId: customer, pageSize: 4 })).pages.flat();
    expect(ids(fresh.slice().sort(newestFirst))).toEqual(ids(fresh));
    expect(ids(fresh).slice(0, 6).sort()).toEqual([...arrivals].sort());
    expect(ids(fresh).slice(6)).toEqual(expected);
  });

  it("ends with an empty next_page_token, also when the last page is full", async () => {
    const customer = newCustomer();
    const orders = await submitSequentially(customer, 6);
    const { pages, tokens } = await listAll({ customerId: customer, pageSize: 3 });
    // No trailing empty page: the second full page is the last one.
    expect(pages.map((p) => p.length)).toEqual([3, 3]);
    expect(tokens[0]).not.toBe("");
    expect(tokens[1]).toBe("");
    expect(pages.flat().map((o) => o.orderId)).toEqual(ids([...orders].sort(newestFirst)));
    // page_size may change between pages (AIP-158); the token still applies.
    const first = await list({ customerId: customer, pageSize: 1 });
    const rest = await list({ customerId: customer, pageSize: 10, pageToken: first.nextPageToken });
    expect([...ids(first.orders), ...ids(rest.orders)]).toEqual(pages.flat().map((o) => o.orderId));
    expect(rest.nextPageToken).toBe("");
  });

  it("rejects a garbage or forged page_token as INVALID_ARGUMENT on page_token", async () => {
    const customer = newCustomer();
    await submitSequentially(customer, 3);
    const { nextPageToken } = await list({ customerId: customer, pageSize: 1 });
    expect(nextPageToken).not.toBe("");

    const raw = Buffer.from(nextPageToken, "base64url");
    const flipped = Buffer.from(raw);
    flipped[flipped.length - 2] = (flipped[flipped.length - 2] ?? 0) ^ 0x01;
    // A payload a caller wrote itself, with a MAC of the right length but not ours.
    const selfMade = Buffer.concat([
      Buffer.alloc(32, 7),
      Buffer.from(JSON.stringify([1, "1970-01-01T00:00:00.000Z", "zzz"]), "utf8"),
    ]);
    const tokens = {
      garbage: "garbage",
      "not base64url": "!!!not-a-token!!!",
      "tampered payload": flipped.toString("base64url"),
      "self-made": selfMade.toString("base64url"),
      truncated: nextPageToken.slice(0, 20),
      "with a suffix": `${nextPageToken}AA`,
      "over the length limit": "A".repeat(1_025),
    };
    for (const [what, pageToken] of Object.entries(tokens)) {
      const err = await failure(list({ customerId: customer, pageSize: 1, pageToken }));
      expect(err.code, what).toBe(Code.InvalidArgument);
      expect(violatedFields(err), what).toEqual(["page_token"]);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason, what).toMatch(/^[A-Z][A-Z_]*$/);
      // Nothing internal leaks.
      expect(err.rawMessage, what).not.toMatch(/\bat \S+ \(|HMAC|sqlite|kysely/i);
    }
  });

  it("rejects a page_token reused with a different customer_id or statuses", async () => {
    const customer = newCustomer();
    const other = newCustomer();
    await submitSequentially(customer, 3);
    await submitSequentially(other, 3);
    const all = await list({ customerId: customer, pageSize: 1 });
    const pending = await list({
      customerId: customer,
      statuses: [OrderStatus.PENDING, OrderStatus.PROCESSING],
      pageSize: 1,
    });
    expect(all.nextPageToken).not.toBe("");
    expect(pending.nextPageToken).not.toBe("");

    const misuses: [string, ListQuery][] = [
      ["another customer", { customerId: other, pageToken: all.nextPageToken }],
      ["no customer", { pageToken: all.nextPageToken }],
      [
        "a statuses filter added",
        { customerId: customer, statuses: [OrderStatus.PENDING], pageToken: all.nextPageToken },
      ],
      ["the statuses filter dropped", { customerId: customer, pageToken: pending.nextPageToken }],
      [
        "other statuses",
        {
          customerId: customer,
          statuses: [OrderStatus.PENDING],
          pageToken: pending.nextPageToken,
        },
      ],
      [
        "another customer, same statuses",
        {
          customerId: other,
          statuses: [OrderStatus.PENDING, OrderStatus.PROCESSING],
          pageToken: pending.nextPageToken,
        },
      ],
    ];
    for (const [what, req] of misuses) {
      const err = await failure(list({ pageSize: 1, ...req }));
      expect(err.code, what).toBe(Code.InvalidArgument);
      expect(violatedFields(err), what).toEqual(["page_token"]);
    }

    // The same filters, statuses in another order: the same query, so the token holds.
    const reordered = await list({
      customerId: customer,
      statuses: [OrderStatus.PROCESSING, OrderStatus.PENDING],
      pageSize: 1,
      pageToken: pending.nextPageToken,
    });
    expect(reordered.orders).toHaveLength(1);
  });
});
