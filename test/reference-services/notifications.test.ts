import { Code, type ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotificationTemplate } from "../../gen/notifications/v1/notification_service_pb.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.stop();
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
