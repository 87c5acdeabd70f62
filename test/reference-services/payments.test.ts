import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthorizationDecision,
  AuthorizationStatus,
  DeclineReason,
  LedgerOperation,
} from "../../gen/payments/v1/payment_service_pb.js";
import { failureReason } from "../support/failure.js";
import { type Harness, startHarness, uniqueId } from "./harness.js";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ payments: { spendingLimits: { "cust-limited": 10_000n } } });
});
afterAll(async () => {
  await h.stop();
});

function authorize(
  overrides: {
    customerId?: string;
    amountMinor?: bigint;
    idempotencyKey?: string;
    orderId?: string;
    fraudReviewApproved?: boolean;
  } = {},
) {
  return h.payments.authorize({
    idempotencyKey: overrides.idempotencyKey ?? uniqueId("key"),
    customerId: overrides.customerId ?? uniqueId("cust"),
    orderId: overrides.orderId ?? uniqueId("order"),
    fulfillmentId: "f/1",
    amountMinor: overrides.amountMinor ?? 2_500n,
    currencyCode: "USD",
    fraudReviewApproved: overrides.fraudReviewApproved ?? false,
  });
}

describe("Authorize", () => {
  it("approves and writes one ledger entry", async () => {
    const orderId = uniqueId("order");
    const res = await authorize({ orderId, amountMinor: 1_234n });
    expect(res.decision).toBe(AuthorizationDecision.APPROVED);
    expect(res.authorizationId).not.toBe("");
    expect(res.authorization).toMatchObject({
      status: AuthorizationStatus.AUTHORIZED,
      authorizedMinor: 1_234n,
      capturedMinor: 0n,
    });
    const { entries } = await h.payments.listLedger({ orderId });
    expect(entries).toMatchObject([
      {
        operation: LedgerOperation.AUTHORIZE,
        amountMinor: 1_234n,
        authorizationId: res.authorizationId,
        currencyCode: "USD",
      },
    ]);
  });

  it("dedupes by idempotency key: twice with one key is one authorization and one entry", async () => {
    const orderId = uniqueId("order");
    const customerId = uniqueId("cust");
    const idempotencyKey = `${orderId}/f1/authorize`;
    const first = await authorize({ orderId, customerId, idempotencyKey });
    const second = await authorize({ orderId, customerId, idempotencyKey });
    expect(second).toEqual(first);
    // Concurrent duplicates too.
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => authorize({ orderId, customerId, idempotencyKey })),
    );
    expect(new Set(concurrent.map((r) => r.authorizationId))).toEqual(
      new Set([first.authorizationId]),
    );
    const { entries } = await h.payments.listLedger({ orderId });
    expect(entries).toHaveLength(1);
    expect(entries[0]?.idempotencyKey).toBe(idempotencyKey);
  });

  it("rejects a reused key with a different amount with ALREADY_EXISTS", async () => {
    const idempotencyKey = uniqueId("key");
    const customerId = uniqueId("cust");
    const orderId = uniqueId("order");
    await authorize({ idempotencyKey, customerId, orderId, amountMinor: 100n });
    expect(
      await failureReason(authorize({ idempotencyKey, customerId, orderId, amountMinor: 101n })),
    ).toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_KEY_REUSED" });
  });

  it("declines customers whose id starts with declined- (a response, not an error)", async () => {
    const orderId = uniqueId("order");
    const res = await authorize({ customerId: uniqueId("declined-cust"), orderId });
    expect(res.decision).toBe(AuthorizationDecision.DECLINED);
    expect(res.declineReason).toBe(DeclineReason.CARD_DECLINED);
    expect(res.declineMessage).not.toBe("");
    expect(res.authorization?.status).toBe(AuthorizationStatus.DECLINED);
    const { entries } = await h.payments.listLedger({ orderId });
    expect(entries.map((e) => e.operation)).toEqual([LedgerOperation.DECLINE]);
    expect(
      await failureReason(
        h.payments.capture({
          idempotencyKey: uniqueId("key"),
          authorizationId: res.authorizationId,
        }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "AUTHORIZATION_DECLINED" });
  });

  it("declines beyond the customer's spending limit, counting what is outstanding", async () => {
    const customerId = "cust-limited"; // limit 10,000 (see beforeAll)
    const first = await authorize({ customerId, amountMinor: 6_000n });
    expect(first.decision).toBe(AuthorizationDecision.APPROVED);
    const over = await authorize({ customerId, amountMinor: 5_000n });
    expect(over.decision).toBe(AuthorizationDecision.DECLINED);
    expect(over.declineReason).toBe(DeclineReason.SPENDING_LIMIT_EXCEEDED);
    expect(over.declineMessage).toContain("10000");
    // A void frees the limit again.
    await h.payments.void({
      idempotencyKey: uniqueId("key"),
      authorizationId: first.authorizationId,
    });
    const after = await authorize({ customerId, amountMinor: 5_000n });
    expect(after.decision).toBe(AuthorizationDecision.APPROVED);
    expect(h.services.payments.exposure(customerId)).toBe(5_000n);
  });

  it("approves over the spending limit what the merchant's fraud review approved, but not a declined card", async () => {
    const customerId = "cust-limited"; // limit 10,000; 5,000 outstanding from the test above
    const over = await authorize({ customerId, amountMinor: 20_000n });
    expect(over.declineReason).toBe(DeclineReason.SPENDING_LIMIT_EXCEEDED);
    const reviewed = await authorize({
      customerId,
      amountMinor: 20_000n,
      fraudReviewApproved: true,
    });
    expect(reviewed.decision).toBe(AuthorizationDecision.APPROVED);
    const card = await authorize({
      customerId: "declined-reviewed",
      amountMinor: 100n,
      fraudReviewApproved: true,
    });
    expect(card.declineReason).toBe(DeclineReason.CARD_DECLINED);
  });

  it("rejects invalid amounts and currencies with INVALID_ARGUMENT", async () => {
    expect((await failureReason(authorize({ amountMinor: 0n }))).code).toBe(Code.InvalidArgument);
    const badCurrency = h.payments.authorize({
      idempotencyKey: uniqueId("key"),
      customerId: "c",
      orderId: "o",
      amountMinor: 1n,
      currencyCode: "usd",
    });
    expect((await failureReason(badCurrency)).code).toBe(Code.InvalidArgument);
  });
});

describe("Capture, Void, Refund", () => {
  it("captures at most the authorized amount, once", async () => {
    const { authorizationId } = await authorize({ amountMinor: 1_000n });
    expect(
      await failureReason(
        h.payments.capture({
          idempotencyKey: uniqueId("key"),
          authorizationId,
          amountMinor: 1_001n,
        }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "AMOUNT_EXCEEDS_AUTHORIZED" });

    const key = uniqueId("key");
    const captured = await h.payments.capture({
      idempotencyKey: key,
      authorizationId,
      amountMinor: 800n,
    });
    expect(captured.authorization).toMatchObject({
      status: AuthorizationStatus.CAPTURED,
      capturedMinor: 800n,
    });
    // Retried with its key: the same answer, no second capture.
    expect(
      await h.payments.capture({ idempotencyKey: key, authorizationId, amountMinor: 800n }),
    ).toEqual(captured);
    // A second capture under a new key is a second capture: refused.
    expect(
      await failureReason(h.payments.capture({ idempotencyKey: uniqueId("key"), authorizationId })),
    ).toEqual({ code: Code.FailedPrecondition, reason: "ALREADY_CAPTURED" });
    const { entries } = await h.payments.listLedger({ authorizationId });
    expect(entries.map((e) => [e.operation, e.amountMinor])).toEqual([
      [LedgerOperation.AUTHORIZE, 1_000n],
      [LedgerOperation.CAPTURE, 800n],
    ]);
  });

  it("captures the whole authorized amount when amount is 0", async () => {
    const { authorizationId } = await authorize({ amountMinor: 4_321n });
    const res = await h.payments.capture({ idempotencyKey: uniqueId("key"), authorizationId });
    expect(res.authorization?.capturedMinor).toBe(4_321n);
  });

  it("voids only uncaptured authorizations; a voided one cannot be captured", async () => {
    const { authorizationId } = await authorize();
    const voided = await h.payments.void({ idempotencyKey: uniqueId("key"), authorizationId });
    expect(voided.authorization?.status).toBe(AuthorizationStatus.VOIDED);
    // Voiding again (compensation under a new key) succeeds and changes nothing.
    const again = await h.payments.void({ idempotencyKey: uniqueId("key"), authorizationId });
    expect(again.authorization?.status).toBe(AuthorizationStatus.VOIDED);
    expect(
      await failureReason(h.payments.capture({ idempotencyKey: uniqueId("key"), authorizationId })),
    ).toEqual({ code: Code.FailedPrecondition, reason: "AUTHORIZATION_VOIDED" });
    expect(
      await failureReason(h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId })),
    ).toEqual({ code: Code.FailedPrecondition, reason: "AUTHORIZATION_VOIDED" });
    const { entries } = await h.payments.listLedger({ authorizationId });
    expect(entries.map((e) => e.operation)).toEqual([
      LedgerOperation.AUTHORIZE,
      LedgerOperation.VOID,
    ]);

    const captured = await authorize();
    await h.payments.capture({
      idempotencyKey: uniqueId("key"),
      authorizationId: captured.authorizationId,
    });
    expect(
      await failureReason(
        h.payments.void({
          idempotencyKey: uniqueId("key"),
          authorizationId: captured.authorizationId,
        }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "ALREADY_CAPTURED" });
  });

  it("refunds only captured money, in parts, up to what was captured", async () => {
    const { authorizationId } = await authorize({ amountMinor: 1_000n });
    expect(
      await failureReason(h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId })),
    ).toEqual({ code: Code.FailedPrecondition, reason: "NOT_CAPTURED" });
    await h.payments.capture({ idempotencyKey: uniqueId("key"), authorizationId });

    const part = await h.payments.refund({
      idempotencyKey: uniqueId("key"),
      authorizationId,
      amountMinor: 300n,
    });
    expect(part.refundedMinor).toBe(300n);
    expect(part.authorization).toMatchObject({
      status: AuthorizationStatus.CAPTURED,
      refundedMinor: 300n,
    });
    expect(
      await failureReason(
        h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId, amountMinor: 701n }),
      ),
    ).toEqual({ code: Code.FailedPrecondition, reason: "AMOUNT_EXCEEDS_REFUNDABLE" });
    const rest = await h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId });
    expect(rest.refundedMinor).toBe(700n);
    expect(rest.authorization?.status).toBe(AuthorizationStatus.REFUNDED);
    expect(
      await failureReason(h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId })),
    ).toEqual({ code: Code.FailedPrecondition, reason: "ALREADY_REFUNDED" });

    const got = await h.payments.getAuthorization({ authorizationId });
    expect(got.authorization).toMatchObject({ capturedMinor: 1_000n, refundedMinor: 1_000n });
  });

  it("answers NOT_FOUND for an unknown authorization", async () => {
    for (const call of [
      h.payments.capture({ idempotencyKey: uniqueId("key"), authorizationId: "auth_nope" }),
      h.payments.void({ idempotencyKey: uniqueId("key"), authorizationId: "auth_nope" }),
      h.payments.refund({ idempotencyKey: uniqueId("key"), authorizationId: "auth_nope" }),
      h.payments.getAuthorization({ authorizationId: "auth_nope" }),
    ]) {
      expect(await failureReason(call)).toEqual({
        code: Code.NotFound,
        reason: "AUTHORIZATION_NOT_FOUND",
      });
    }
  });
});

describe("ListLedger", () => {
  it("filters by customer and order", async () => {
    const customerId = uniqueId("cust");
    const orderA = uniqueId("order");
    const orderB = uniqueId("order");
    await authorize({ customerId, orderId: orderA });
    await authorize({ customerId, orderId: orderB });
    await authorize({ orderId: orderA }); // another customer, same order id
    expect((await h.payments.listLedger({ customerId })).entries).toHaveLength(2);
    expect((await h.payments.listLedger({ customerId, orderId: orderA })).entries).toHaveLength(1);
    expect((await h.payments.listLedger({ orderId: orderA })).entries).toHaveLength(2);
  });
});

describe("authorization expiry", () => {
  const DAY_MS = 24 * 3_600_000;
  let clock = Date.parse("2030-01-01T00:00:00.000Z");
  let e: Harness;
  beforeAll(async () => {
    e = await startHarness({
      now: () => new Date(clock),
      payments: { authorizationTtlMs: 7 * DAY_MS, spendingLimits: { "cust-ttl": 3_000n } },
    });
  });
  afterAll(() => e?.stop());
  const auth = (customerId: string, key = uniqueId("key")) =>
    e.payments.authorize({
      idempotencyKey: key,
      customerId,
      orderId: uniqueId("order"),
      fulfillmentId: "f/1",
      amountMinor: 2_500n,
      currencyCode: "USD",
    });

  it("returns the expiry with the authorization; an expired one cannot be captured but can be voided", async () => {
    const approved = await auth(uniqueId("cust"));
    const expireTime = approved.authorization?.expireTime;
    expect(expireTime && Number(expireTime.seconds) * 1000).toBe(clock + 7 * DAY_MS);
    const id = approved.authorizationId;
    clock += 7 * DAY_MS;
    const refused = await failureReason(
      e.payments.capture({ idempotencyKey: uniqueId("cap"), authorizationId: id, amountMinor: 0n }),
    );
    expect(refused).toEqual({ code: Code.FailedPrecondition, reason: "AUTHORIZATION_EXPIRED" });
    const voided = await e.payments.void({ idempotencyKey: uniqueId("void"), authorizationId: id });
    expect(voided.authorization?.status).toBe(AuthorizationStatus.VOIDED);
    expect(e.services.payments.ledger({ authorizationId: id }).map((x) => x.operation)).toEqual([
      "AUTHORIZE",
      "VOID",
    ]);
  });

  it("captures until the expiry; an expired authorization no longer counts against the limit", async () => {
    await auth("cust-ttl");
    // 2,500 outstanding of a 3,000 limit: a second one is declined while the first holds.
    expect((await auth("cust-ttl")).decision).toBe(AuthorizationDecision.DECLINED);
    clock += 7 * DAY_MS;
    const second = await auth("cust-ttl");
    expect(second.decision).toBe(AuthorizationDecision.APPROVED);
    clock += 7 * DAY_MS - 1;
    const captured = await e.payments.capture({
      idempotencyKey: uniqueId("cap"),
      authorizationId: second.authorizationId,
      amountMinor: 0n,
    });
    expect(captured.authorization?.status).toBe(AuthorizationStatus.CAPTURED);
    const declined = await auth("cust-ttl");
    expect(declined.authorization?.expireTime).toBeUndefined();
  });
});
