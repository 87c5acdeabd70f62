import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import {
  NotificationTemplate,
  SendBatchRequestSchema,
} from "../../gen/notifications/v1/notification_service_pb.js";
import { errorFromStatus } from "../../src/net/rpc-status.js";
import { createNotificationService } from "../../src/reference-services/notifications/notification-service.js";
import { createNotificationStore } from "../../src/reference-services/notifications/notification-store.js";
import { openReferenceState } from "../../src/reference-services/state.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
});
afterEach(() => {
  h.services.faults.clear();
});

describe("NotificationService", () => {
  it("records what was sent, once per idempotency key", async () => {
    const customerId = uniqueId("cust");
    const orderId = uniqueId("order");
    const request = {
      idempotencyKey: `${orderId}/accepted`,
      customerId,
      orderId,
      template: NotificationTemplate.ORDER_ACCEPTED,
      data: { total: "12.50 USD", items: "2" },
    };
    const first = await h.notifications.send(request);
    expect(first.notification).toMatchObject({
      customerId,
      orderId,
      template: NotificationTemplate.ORDER_ACCEPTED,
      data: { total: "12.50 USD", items: "2" },
    });
    // Same request with the map in another order is the same request.
    const again = await h.notifications.send({
      ...request,
      data: { items: "2", total: "12.50 USD" },
    });
    expect(again).toEqual(first);

    await h.notifications.send({
      idempotencyKey: `${orderId}/dispatched`,
      customerId,
      orderId,
      template: NotificationTemplate.SHIPMENT_DISPATCHED,
    });
    const { notifications } = await h.notifications.listSent({ customerId });
    expect(notifications.map((n) => n.template)).toEqual([
      NotificationTemplate.ORDER_ACCEPTED,
      NotificationTemplate.SHIPMENT_DISPATCHED,
    ]);
    expect(h.services.notifications.list({ orderId })).toHaveLength(2);
  });

  it("rejects a reused key with other content, and a missing template", async () => {
    const idempotencyKey = uniqueId("key");
    await h.notifications.send({
      idempotencyKey,
      customerId: "c1",
      template: NotificationTemplate.ORDER_COMPLETED,
    });
    const reused = await h.notifications
      .send({ idempotencyKey, customerId: "c2", template: NotificationTemplate.ORDER_COMPLETED })
      .catch((e: unknown) => e);
    expect((reused as ConnectError).code).toBe(Code.AlreadyExists);
    const noTemplate = await h.notifications
      .send({ idempotencyKey: uniqueId("key"), customerId: "c1" })
      .catch((e: unknown) => e);
    expect((noTemplate as ConnectError).code).toBe(Code.InvalidArgument);
  });
});

describe("NotificationService.SendBatch", () => {
  it("sends each item as Send would, with one result per item in order; a bad item fails alone", async () => {
    const customerId = uniqueId("cust");
    const orderId = uniqueId("order");
    const item = (what: string, template = NotificationTemplate.SHIPMENT_DISPATCHED) => ({
      idempotencyKey: `${orderId}/${what}`,
      customerId,
      orderId,
      template,
      data: { what },
    });
    // Sent before by Send: the batch item with its key and content is a duplicate.
    const earlier = await h.notifications.send(item("earlier"));
    // Used before for other content: that item gets ALREADY_EXISTS.
    await h.notifications.send({ ...item("reused"), data: { what: "first" } });

    const { results } = await h.notifications.sendBatch({
      requests: [
        item("a"),
        { ...item("invalid"), customerId: "" },
        item("earlier"),
        item("reused"),
        item("b", NotificationTemplate.ORDER_COMPLETED),
        // Twice in one batch: sent once.
        item("a"),
      ],
    });
    expect(results.map((r) => r.result.case)).toEqual([
      "sent",
      "error",
      "duplicate",
      "error",
      "sent",
      "duplicate",
    ]);
    const [a, invalid, duplicate, reused, b, again] = results.map((r) => r.result);
    expect(a?.case === "sent" && a.value).toMatchObject({
      idempotencyKey: `${orderId}/a`,
      customerId,
      data: { what: "a" },
    });
    expect(duplicate?.value).toEqual(earlier.notification);
    expect(again?.value).toEqual(a?.value);
    expect(b?.case === "sent" && b.value.template).toBe(NotificationTemplate.ORDER_COMPLETED);

    // Each error is what a Send of the item alone fails with.
    const invalidError = invalid?.case === "error" ? errorFromStatus(invalid.value) : undefined;
    const invalidAlone = await h.notifications.send({ ...item("invalid"), customerId: "" }).then(
      () => new ConnectError("sent"),
      (e: unknown) => ConnectError.from(e),
    );
    expect(invalidError?.code).toBe(Code.InvalidArgument);
    expect(invalidError?.rawMessage).toBe(invalidAlone.rawMessage);
    expect(invalidError?.rawMessage).toMatch(/customer_id/);
    expect(invalidError?.details).toHaveLength(1);
    expect(invalidError?.details.map((d) => "type" in d && d.type)).toEqual(
      invalidAlone.details.map((d) => "type" in d && d.type),
    );
    const reusedError = reused?.case === "error" ? errorFromStatus(reused.value) : undefined;
    expect(reusedError?.code).toBe(Code.AlreadyExists);
    expect(reusedError?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("IDEMPOTENCY_KEY_REUSED");

    // Sent: earlier, the first "reused", a and b; the invalid item never.
    expect(h.services.notifications.list({ orderId }).map((n) => n.idempotencyKey)).toEqual([
      `${orderId}/earlier`,
      `${orderId}/reused`,
      `${orderId}/a`,
      `${orderId}/b`,
    ]);
    // And a Send of a batch-sent item is answered from the batch's record.
    expect((await h.notifications.send(item("a"))).notification).toEqual(a?.value);
  });

  it("takes 1 to 100 items", async () => {
    const empty = await h.notifications.sendBatch({ requests: [] }).catch((e: unknown) => e);
    expect((empty as ConnectError).code).toBe(Code.InvalidArgument);
    const customerId = uniqueId("cust");
    const requests = Array.from({ length: 101 }, (_, i) => ({
      idempotencyKey: `${customerId}/${i}`,
      customerId,
      template: NotificationTemplate.ORDER_ACCEPTED,
    }));
    const tooMany = await h.notifications.sendBatch({ requests }).catch((e: unknown) => e);
    expect((tooMany as ConnectError).code).toBe(Code.InvalidArgument);
    expect(h.services.notifications.list({ customerId })).toEqual([]);
    const { results } = await h.notifications.sendBatch({ requests: requests.slice(0, 100) });
    expect(results.filter((r) => r.result.case === "sent")).toHaveLength(100);
  });

  it("is one call to fault injection: an outage fails it whole, a lost response after sending all", async () => {
    const customerId = uniqueId("cust");
    const requests = ["x", "y"].map((what) => ({
      idempotencyKey: `${customerId}/${what}`,
      customerId,
      template: NotificationTemplate.ORDER_ACCEPTED,
    }));
    h.services.faults.set("notifications", { outage: true });
    const down = await h.notifications.sendBatch({ requests }).catch((e: unknown) => e);
    expect((down as ConnectError).code).toBe(Code.Unavailable);
    expect(h.services.notifications.list({ customerId })).toEqual([]);

    h.services.faults.set("notifications", { loseResponseRate: 1 });
    const lost = await h.notifications.sendBatch({ requests }).catch((e: unknown) => e);
    expect((lost as ConnectError).code).toBe(Code.Unavailable);
    expect(h.services.notifications.list({ customerId })).toHaveLength(2);

    h.services.faults.clear("notifications");
    const { results } = await h.notifications.sendBatch({ requests });
    expect(results.map((r) => r.result.case)).toEqual(["duplicate", "duplicate"]);
    expect(h.services.notifications.list({ customerId })).toHaveLength(2);
  });

  it("writes the whole batch in one state transaction", async () => {
    const state = openReferenceState();
    const store = createNotificationStore({ state });
    const service = createNotificationService({ store });
    // Outermost transactions: each is one SQLite commit (nested ones join it).
    let transactions = 0;
    let depth = 0;
    const transaction = state.transaction.bind(state);
    state.transaction = (fn) => {
      if (depth++ === 0) transactions++;
      try {
        return transaction(fn);
      } finally {
        depth--;
      }
    };
    const customerId = uniqueId("cust");
    const request = create(SendBatchRequestSchema, {
      requests: ["p", "q", "r"].map((what) => ({
        idempotencyKey: `${customerId}/${what}`,
        customerId,
        template: NotificationTemplate.ORDER_ACCEPTED,
      })),
    });
    // The handler called directly: no Connect context is needed.
    const sendBatch = service.sendBatch as (
      r: typeof request,
      context: unknown,
    ) => Promise<{ results: { result: { case: string } }[] }>;
    const response = await sendBatch(request, {});
    expect(response.results.map((r) => r.result.case)).toEqual(["sent", "sent", "sent"]);
    expect(transactions).toBe(1);
    expect(store.list({ customerId })).toHaveLength(3);
    state.close();
  });
});
