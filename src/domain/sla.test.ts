import { describe, expect, it } from "vitest";
import { newFulfillment } from "./fulfillment.js";
import { newOrder } from "./new-order.js";
import type { Fulfillment, FulfillmentStatus, Order } from "./order.js";
import { DEFAULT_PRICING } from "./pricing.js";
import {
  breachSlaStage,
  currentSlaStage,
  markSlaStagesMet,
  newOrderSla,
  slaBreached,
  slaBreachReason,
  stageReached,
} from "./sla.js";

const HOUR = 3_600_000;
const ACCEPTED = "2026-01-10T12:00:00.000Z";
const POLICY = {
  authorizedWithinMs: HOUR,
  dispatchedWithinMs: 24 * HOUR,
  deliveredWithinMs: 72 * HOUR,
  atRiskPercent: 75,
};

function fulfillment(n: number, status: FulfillmentStatus): Fulfillment {
  return { ...newFulfillment(`o-1/${n}`, "wh-east", [], DEFAULT_PRICING), status };
}

function order(statuses: FulfillmentStatus[], patch: Partial<Order> = {}): Order {
  const accepted = newOrder(
    {
      orderId: "o-1",
      customerId: "c-1",
      currencyCode: "USD",
      items: [],
      shippingAddress: {
        name: "",
        line1: "",
        line2: "",
        city: "",
        region: "",
        postalCode: "",
        countryCode: "GB",
      },
    },
    ACCEPTED,
    DEFAULT_PRICING,
  );
  return {
    ...accepted,
    status: statuses.length > 0 ? "PROCESSING" : "PENDING",
    fulfillments: statuses.map((s, i) => fulfillment(i + 1, s)),
    sla: newOrderSla(ACCEPTED, POLICY),
    ...patch,
  };
}

describe("SLA clocks (domain)", () => {
  it("fixes deadlines and at-risk times from acceptance; a 0 target is not tracked", () => {
    expect(newOrderSla(ACCEPTED, POLICY)?.stages).toEqual([
      {
        stage: "AUTHORIZED",
        deadline: "2026-01-10T13:00:00.000Z",
        atRiskTime: "2026-01-10T12:45:00.000Z",
        metTime: "",
        breachTime: "",
      },
      {
        stage: "DISPATCHED",
        deadline: "2026-01-11T12:00:00.000Z",
        atRiskTime: "2026-01-11T06:00:00.000Z",
        metTime: "",
        breachTime: "",
      },
      {
        stage: "DELIVERED",
        deadline: "2026-01-13T12:00:00.000Z",
        atRiskTime: "2026-01-12T18:00:00.000Z",
        metTime: "",
        breachTime: "",
      },
    ]);
    expect(
      newOrderSla(ACCEPTED, { ...POLICY, authorizedWithinMs: 0 })?.stages.map((s) => s.stage),
    ).toEqual(["DISPATCHED", "DELIVERED"]);
    expect(
      newOrderSla(ACCEPTED, {
        authorizedWithinMs: 0,
        dispatchedWithinMs: 0,
        deliveredWithinMs: 0,
        atRiskPercent: 80,
      }),
    ).toBeUndefined();
  });

  it("reaches a stage when every fulfillment still alive has; cancelled and failed ones do not count", () => {
    expect(stageReached(order([]), "AUTHORIZED")).toBe(false);
    expect(stageReached(order(["AUTHORIZED", "PENDING"]), "AUTHORIZED")).toBe(false);
    expect(stageReached(order(["BOOKED", "AUTHORIZED"]), "AUTHORIZED")).toBe(true);
    expect(stageReached(order(["DISPATCHED", "CANCELLED"]), "DISPATCHED")).toBe(true);
    expect(stageReached(order(["DELIVERED", "FAILED"]), "DELIVERED")).toBe(true);
    expect(stageReached(order(["CANCELLED", "FAILED"]), "AUTHORIZED")).toBe(false);
    expect(stageReached(order(["DISPATCHED", "BOOKED"]), "DISPATCHED")).toBe(false);
  });

  it("marks every reached stage met once, late ones included", () => {
    const now = "2026-01-10T12:30:00.000Z";
    const untouched = order(["PENDING"]);
    expect(markSlaStagesMet(untouched, now)).toBe(untouched);
    const dispatched = markSlaStagesMet(order(["DISPATCHED"]), now);
    expect(dispatched.sla?.stages.map((s) => s.metTime)).toEqual([now, now, ""]);
    // Met stays the first time it was met.
    const later = markSlaStagesMet(
      { ...dispatched, fulfillments: [fulfillment(1, "DELIVERED")] },
      "2026-01-11T00:00:00.000Z",
    );
    expect(later.sla?.stages.map((s) => s.metTime)).toEqual([now, now, "2026-01-11T00:00:00.000Z"]);
  });

  it("runs the clock for the open stage due first, and stops it when the order ends or is being cancelled", () => {
    expect(currentSlaStage(order(["PENDING"]))?.stage).toBe("AUTHORIZED");
    const breached = order(["PENDING"], {
      sla: breachSlaStage(
        newOrderSla(ACCEPTED, POLICY) ?? { stages: [] },
        "AUTHORIZED",
        "2026-01-10T13:00:00.000Z",
      ),
    });
    expect(slaBreached(breached)).toBe(true);
    expect(currentSlaStage(breached)?.stage).toBe("DISPATCHED");
    // Targets out of stage order: the earliest deadline comes first.
    const odd = order(["PENDING"], {
      sla: newOrderSla(ACCEPTED, { ...POLICY, authorizedWithinMs: 48 * HOUR }),
    });
    expect(currentSlaStage(odd)?.stage).toBe("DISPATCHED");
    expect(currentSlaStage(order(["DELIVERED"], { status: "COMPLETED" }))).toBeNull();
    expect(
      currentSlaStage(
        order(["BOOKED"], {
          cancellation: {
            reason: "CUSTOMER",
            description: "",
            requestedBy: "c-1",
            requestTime: ACCEPTED,
          },
        }),
      ),
    ).toBeNull();
    expect(currentSlaStage(order(["PENDING"], { sla: undefined }))).toBeNull();
    const dispatch = newOrderSla(ACCEPTED, POLICY)?.stages[1];
    if (dispatch === undefined) throw new Error("no DISPATCHED clock");
    expect(slaBreachReason(dispatch)).toBe(
      "SLA breached: not dispatched by 2026-01-11T12:00:00.000Z",
    );
  });
});
