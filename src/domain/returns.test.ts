import { describe, expect, it } from "vitest";
import { newFulfillment } from "./fulfillment.js";
import type { Fulfillment, Order } from "./order.js";
import { DEFAULT_PRICING } from "./pricing.js";
import { newReturn, type OrderReturn, planReturn, refundFor, returnClosed } from "./returns.js";

const DAY = 24 * 3_600_000;
const POLICY = { windowMs: 30 * DAY, shipWithinMs: 14 * DAY };
const DELIVERED_AT = "2026-01-10T12:00:00.000Z";

function deliveredFulfillment(
  id: string,
  sku: string,
  quantity: number,
  price: number,
): Fulfillment {
  const f = newFulfillment(
    id,
    "wh-east",
    [{ sku, quantity, unitPriceMinor: price }],
    DEFAULT_PRICING,
  );
  return {
    ...f,
    status: "DELIVERED",
    payment: {
      ...f.payment,
      status: "CAPTURED",
      authorizedMinor: f.amounts.totalMinor,
      capturedMinor: f.amounts.totalMinor,
    },
    shipment: { ...f.shipment, status: "DELIVERED", deliveryTime: DELIVERED_AT },
  };
}

function order(fulfillments: Fulfillment[], returns: OrderReturn[] = []): Order {
  return {
    orderId: "o-1",
    customerId: "c-1",
    currencyCode: "USD",
    items: fulfillments.flatMap((f) => f.items),
    shippingAddress: {
      name: "A",
      line1: "1",
      line2: "",
      city: "C",
      region: "",
      postalCode: "",
      countryCode: "US",
    },
    status: "COMPLETED",
    unavailableItems: [],
    fulfillments,
    amounts: { subtotalMinor: 0, taxMinor: 0, shippingMinor: 0, totalMinor: 0 },
    cancellation: null,
    statusReason: "",
    version: 7,
    createTime: DELIVERED_AT,
    updateTime: DELIVERED_AT,
    returns,
  };
}

const at = (days: number) => new Date(Date.parse(DELIVERED_AT) + days * DAY);

describe("planReturn", () => {
  const f1 = deliveredFulfillment("o-1/1", "SKU-1", 3, 1000);

  it("splits nothing for one fulfillment and prices the lines with their tax share", () => {
    const plan = planReturn(order([f1]), [{ sku: "SKU-1", quantity: 2 }], at(1), POLICY);
    expect(plan).toMatchObject({
      ok: true,
      returns: [
        { lines: [{ sku: "SKU-1", quantity: 2, unitPriceMinor: 1000 }], refundMinor: 2160 },
      ],
    });
  });

  it("closes with the window, counts units already being returned, and ignores cancelled returns", () => {
    expect(planReturn(order([f1]), [{ sku: "SKU-1", quantity: 1 }], at(31), POLICY)).toMatchObject({
      ok: false,
    });
    const planned = planReturn(order([f1]), [{ sku: "SKU-1", quantity: 2 }], at(1), POLICY);
    if (!planned.ok) throw new Error("expected a plan");
    const first = newReturn(
      "o-1/r1",
      planned.returns[0] as never,
      "",
      "t",
      at(1).toISOString(),
      POLICY,
    );
    expect(
      planReturn(order([f1], [first]), [{ sku: "SKU-1", quantity: 2 }], at(2), POLICY),
    ).toMatchObject({ ok: false });
    expect(
      planReturn(order([f1], [first]), [{ sku: "SKU-1", quantity: 1 }], at(2), POLICY),
    ).toMatchObject({ ok: true });
    const cancelled = returnClosed(first, "CANCELLED", "x");
    expect(
      planReturn(order([f1], [cancelled]), [{ sku: "SKU-1", quantity: 3 }], at(2), POLICY),
    ).toMatchObject({ ok: true });
  });

  it("refuses an order that is not completed and a SKU not delivered", () => {
    expect(
      planReturn(
        { ...order([f1]), status: "PROCESSING" },
        [{ sku: "SKU-1", quantity: 1 }],
        at(1),
        POLICY,
      ),
    ).toMatchObject({ ok: false });
    expect(planReturn(order([f1]), [{ sku: "SKU-9", quantity: 1 }], at(1), POLICY)).toEqual({
      ok: false,
      why: 'SKU-9 was not delivered with order "o-1"',
    });
  });
});

describe("refundFor", () => {
  it("never promises more than was captured and not refunded or promised", () => {
    const f = deliveredFulfillment("o-1/1", "SKU-1", 3, 1000);
    // Captured 3000 + 240 tax + 499 shipping = 3739; all three units: 3240.
    expect(refundFor(f, f.items, [])).toBe(3240);
    const refunded = { ...f, payment: { ...f.payment, refundedMinor: 3600 } };
    expect(refundFor(refunded, f.items, [])).toBe(139);
  });
});
