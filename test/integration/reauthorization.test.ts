/**
 * Re-authorization before expiry, end to end (real API, dev server, worker,
 * reference payments whose authorizations live 10 s, a renewal margin of
 * 5 s): a courier late by two lifetimes gets each fulfillment's
 * authorization renewed twice, with the payment service's responses lost
 * during the renewals, and the capture takes the newest one; a courier in
 * time costs no renewal. The ledger is checked for exactly once after each.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OrderStatus, PaymentStatus } from "../../gen/oms/v1/order_pb.js";
import { ShipmentEvent } from "../../gen/oms/v1/shipment_service_pb.js";
import { loadConfig } from "../../src/config/config.js";
import { fulfillmentId, orderWorkflowId } from "../../src/domain/ids.js";
import { lastFailureOf, waitForActivityAttempt } from "../chaos/observe.js";
import { twoWarehouses } from "../support/orders.js";
import { startTestSystem, type TestSystem } from "../support/system.js";
import {
  bookedShipments,
  courier,
  finishedOrder as finished,
  recordHistories,
  waitForOrder,
} from "../support/watch.js";

/** OMS_REFERENCE_AUTH_TTL=10s, read as `oms dev` reads it. */
const TTL_MS = loadConfig({ OMS_REFERENCE_AUTH_TTL: "10s" }).referenceServices.authorizationTtlMs;
const MARGIN_MS = 5_000;

/** One fulfillment's ledger as "OPERATION key authorization". */
const ledgerOf = (sys: TestSystem, orderId: string, fid: string) =>
  sys.refs.payments
    .ledger({ orderId })
    .filter((e) => e.fulfillmentId === fid)
    .map((e) => ({ op: e.operation, key: e.idempotencyKey, auth: e.authorizationId }));
const authorizationsOf = (sys: TestSystem, orderId: string, fid: string) =>
  ledgerOf(sys, orderId, fid).filter((e) => e.op === "AUTHORIZE");

/**
 * Exactly once: authorizations a0 … an under the keys of their renewal
 * generation, each replaced one voided once after its successor was
 * authorized, the newest captured once; nothing else.
 */
const expectRenewedLedger = (sys: TestSystem, orderId: string, fid: string, renewals: number) => {
  const ledger = ledgerOf(sys, orderId, fid);
  const auths = ledger.filter((e) => e.op === "AUTHORIZE");
  expect(auths.map((a) => a.key)).toEqual([
    `${fid}:authorize`,
    ...Array.from({ length: renewals }, (_, i) => `${fid}:authorize:renewal-${i + 1}`),
  ]);
  const voids = ledger.filter((e) => e.op === "VOID");
  expect(voids.map((v) => [v.key, v.auth])).toEqual(
    auths.slice(0, -1).map((a, i) => [`${fid}:void:renewal-${i + 1}`, a.auth]),
  );
  for (const [i, v] of voids.entries()) {
    expect(ledger.indexOf(v)).toBeGreaterThan(ledger.indexOf(auths[i + 1] as (typeof auths)[0]));
  }
  expect(ledger.filter((e) => e.op === "CAPTURE")).toEqual([
    { op: "CAPTURE", key: `${fid}:capture`, auth: auths.at(-1)?.auth },
  ]);
  expect(ledger).toHaveLength(2 * renewals + 2);
};

describe("re-authorization before expiry, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem({
      env: { OMS_REAUTHORIZE_MARGIN_MS: String(MARGIN_MS) },
      refs: { payments: { authorizationTtlMs: TTL_MS } },
    });
  });
  afterEach(() => sys?.refs.faults.clear());
  afterAll(() => sys?.stop());

  it("renews twice while the courier is late, through lost payment responses, and captures the newest", async () => {
    const req = twoWarehouses();
    const { orderId } = req;
    const fids = [fulfillmentId(orderId, 1), fulfillmentId(orderId, 2)];
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, orderId, 2);

    // The first renewals are performed, but their responses are lost, twice each.
    sys.refs.faults.set("payments", { loseResponseRate: 1 });
    for (const renewal of await waitForActivityAttempt(
      sys,
      orderWorkflowId(orderId),
      "authorizePayment",
      3,
      2,
      3 * TTL_MS,
    )) {
      expect(lastFailureOf(renewal)).toMatch(/response was lost/);
    }
    for (const fid of fids) expect(authorizationsOf(sys, orderId, fid)).toHaveLength(2);
    sys.refs.faults.clear("payments");

    // The second renewals: a third authorization per fulfillment, and its timeline entry.
    const renewed = await waitForOrder(
      sys,
      orderId,
      () => fids.every((fid) => authorizationsOf(sys, orderId, fid).length >= 3),
      4 * TTL_MS,
    );
    expect(renewed.status).toBe(OrderStatus.PROCESSING);

    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);
    const done = await finished(sys, orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    for (const [i, fid] of fids.entries()) {
      const renewals = authorizationsOf(sys, orderId, fid).length - 1;
      expect(renewals).toBeGreaterThanOrEqual(2);
      expectRenewedLedger(sys, orderId, fid, renewals);
      const f = done.fulfillments[i];
      expect(f?.payment?.status).toBe(PaymentStatus.CAPTURED);
      expect(f?.payment?.authorizationId).toBe(authorizationsOf(sys, orderId, fid).at(-1)?.auth);
    }
    const timeline = (await sys.grpc.getOrderHistory({ orderId })).events.map((e) => e.reason);
    for (const fid of fids) {
      expect(
        timeline.filter((r) =>
          r.startsWith(`payment re-authorized before expiry (${fid}, renewal`),
        ),
      ).toHaveLength(authorizationsOf(sys, orderId, fid).length - 1);
    }
    await recordHistories(sys, orderId, "reauthorized");
  });
});

describe("expiring authorizations on the common path, end to end", () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem();
  });
  afterAll(() => sys?.stop());

  it("a courier in time (7-day authorizations): no renewal, one authorization and one capture each", async () => {
    const req = twoWarehouses();
    const { orderId } = req;
    await sys.grpc.submitOrder(req);
    const shipments = await bookedShipments(sys, orderId, 2);
    await courier(sys, shipments, ShipmentEvent.DISPATCHED);
    await courier(sys, shipments, ShipmentEvent.DELIVERED);
    const done = await finished(sys, orderId);
    expect(done.status).toBe(OrderStatus.COMPLETED);
    for (const f of done.fulfillments) expectRenewedLedger(sys, orderId, f.fulfillmentId, 0);
    await recordHistories(sys, orderId, "completed-expiring-authorizations");
  });
});
