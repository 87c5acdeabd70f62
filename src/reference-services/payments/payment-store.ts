import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { createServiceError } from "../errors.js";
import { openReferenceState, type ReferenceState } from "../state.js";

const DOMAIN = "payments.v1.PaymentService";

/** Customers whose id starts with this are always declined by the card issuer. */
export const DECLINED_CUSTOMER_PREFIX = "declined-";

/** The spending limit of customers without one of their own: 1,000,000.00 in any currency. */
export const DEFAULT_SPENDING_LIMIT_MINOR = 100_000_000n;

/** How long an approved authorization can be captured: 7 days, as card networks typically allow. */
export const DEFAULT_AUTHORIZATION_TTL_MS = 7 * 24 * 3_600_000;

/** Where an authorization is in its life (see payments.v1.AuthorizationStatus). */
export type AuthorizationStatus = "AUTHORIZED" | "CAPTURED" | "VOIDED" | "REFUNDED" | "DECLINED";
/** Why an authorization was declined. */
export type DeclineReason = "CARD_DECLINED" | "SPENDING_LIMIT_EXCEEDED";
/** What a ledger entry records. */
export type LedgerOperation = "AUTHORIZE" | "DECLINE" | "CAPTURE" | "VOID" | "REFUND";

/** An authorization and what happened to it; amounts in minor units. */
export interface AuthorizationRecord {
  authorizationId: string;
  customerId: string;
  orderId: string;
  fulfillmentId: string;
  currencyCode: string;
  status: AuthorizationStatus;
  authorizedMinor: bigint;
  capturedMinor: bigint;
  refundedMinor: bigint;
  declineReason?: DeclineReason;
  declineMessage: string;
  createTime: Date;
  updateTime: Date;
  /** When an approved authorization expires (no capture from then on); undefined when declined. */
  expireTime?: Date;
}

/** One operation the payment service performed. */
export interface LedgerEntryRecord {
  entryId: string;
  operation: LedgerOperation;
  idempotencyKey: string;
  authorizationId: string;
  customerId: string;
  orderId: string;
  fulfillmentId: string;
  amountMinor: bigint;
  currencyCode: string;
  createTime: Date;
}

/** What to authorize. */
export interface AuthorizeInput {
  idempotencyKey: string;
  customerId: string;
  orderId: string;
  fulfillmentId: string;
  amountMinor: bigint;
  currencyCode: string;
  /** The merchant's fraud review approved the spend: the spending limit is not checked. */
  fraudReviewApproved?: boolean;
}

/**
 * The state of the reference payment service: authorizations and the ledger,
 * kept in a {@link ReferenceState}, one transaction per method. Each method performs one operation (no deduplication: that is
 * the service's job) and returns a snapshot that later operations don't change.
 * Invalid transitions throw FAILED_PRECONDITION, unknown ids NOT_FOUND.
 */
export interface PaymentStore {
  /** Approves or declines; either way records the authorization and a ledger entry. */
  authorize(input: AuthorizeInput): AuthorizationRecord;
  /** Captures `amountMinor` (0n: all) of an approved, uncaptured, unvoided authorization. */
  capture(
    idempotencyKey: string,
    authorizationId: string,
    amountMinor: bigint,
  ): AuthorizationRecord;
  /** Voids an uncaptured authorization; a voided one is returned unchanged. */
  void(idempotencyKey: string, authorizationId: string): AuthorizationRecord;
  /** Refunds `amountMinor` (0n: all that is left) of a captured authorization. */
  refund(
    idempotencyKey: string,
    authorizationId: string,
    amountMinor: bigint,
  ): { authorization: AuthorizationRecord; refundedMinor: bigint };
  /** One authorization, or undefined. */
  get(authorizationId: string): AuthorizationRecord | undefined;
  /** Ledger entries matching every given filter, oldest first. */
  ledger(filter?: {
    orderId?: string;
    customerId?: string;
    authorizationId?: string;
  }): LedgerEntryRecord[];
  /**
   * What the customer has outstanding against their spending limit:
   * authorized-not-captured plus captured-not-refunded, over all currencies.
   */
  exposure(customerId: string): bigint;
  /** The spending limit of a customer. */
  spendingLimit(customerId: string): bigint;
  /** Sets (or with undefined, resets to the default) a customer's spending limit. */
  setSpendingLimit(customerId: string, limitMinor: bigint | undefined): void;
}

/** Options of {@link createPaymentStore}. */
export interface PaymentStoreOptions {
  /** Limit for customers without their own; {@link DEFAULT_SPENDING_LIMIT_MINOR} by default. */
  defaultSpendingLimitMinor?: bigint;
  /** Limits per customer id, in minor units. */
  spendingLimits?: Record<string, bigint>;
  /** How long an approved authorization can be captured; {@link DEFAULT_AUTHORIZATION_TTL_MS} by default. */
  authorizationTtlMs?: number;
  /** Clock; `new Date()` by default. */
  now?: () => Date;
  /** Where authorizations and the ledger are kept; a fresh in-memory state by default. */
  state?: ReferenceState;
}

/** Creates the payment state, or opens what `options.state` holds. */
export function createPaymentStore(options: PaymentStoreOptions = {}): PaymentStore {
  const now = options.now ?? (() => new Date());
  const defaultLimit = options.defaultSpendingLimitMinor ?? DEFAULT_SPENDING_LIMIT_MINOR;
  const ttlMs = options.authorizationTtlMs ?? DEFAULT_AUTHORIZATION_TTL_MS;
  const expired = (auth: AuthorizationRecord, at = now().getTime()): boolean =>
    auth.expireTime !== undefined && at >= auth.expireTime.getTime();
  const limits = new Map(Object.entries(options.spendingLimits ?? {}));
  const state = options.state ?? openReferenceState();
  const authorizations = state.map<AuthorizationRecord>("payment_authorizations");
  const entries = state.log<LedgerEntryRecord>("payment_ledger");

  // Each customer's authorization ids, so that the spending-limit check of an
  // authorization reads the customer's own instead of every one ever made.
  // An id whose authorization was rolled back finds nothing and is skipped.
  const byCustomer = new Map<string, Set<string>>();
  const index = (auth: AuthorizationRecord): void => {
    let ids = byCustomer.get(auth.customerId);
    if (ids === undefined) {
      ids = new Set();
      byCustomer.set(auth.customerId, ids);
    }
    ids.add(auth.authorizationId);
  };
  for (const auth of authorizations.values()) index(auth);

  const spendingLimit = (customerId: string): bigint => limits.get(customerId) ?? defaultLimit;
  const exposure = (customerId: string): bigint => {
    let sum = 0n;
    const at = now().getTime();
    for (const id of byCustomer.get(customerId) ?? []) {
      // Read only, like iterating: no record to compare at commit, however many the customer has.
      const a = authorizations.peek(id);
      if (a === undefined) continue;
      // An expired authorization holds nothing any more.
      if (a.status === "AUTHORIZED" && !expired(a, at)) sum += a.authorizedMinor;
      if (a.status === "CAPTURED") sum += a.capturedMinor - a.refundedMinor;
    }
    return sum;
  };
  const record = (
    auth: AuthorizationRecord,
    operation: LedgerOperation,
    idempotencyKey: string,
    amountMinor: bigint,
  ): void => {
    entries.push({
      entryId: `le_${String(entries.length + 1).padStart(8, "0")}`,
      operation,
      idempotencyKey,
      authorizationId: auth.authorizationId,
      customerId: auth.customerId,
      orderId: auth.orderId,
      fulfillmentId: auth.fulfillmentId,
      amountMinor,
      currencyCode: auth.currencyCode,
      createTime: auth.updateTime,
    });
  };
  const find = (authorizationId: string): AuthorizationRecord => {
    const auth = authorizations.get(authorizationId);
    if (auth === undefined) {
      throw createServiceError(
        Code.NotFound,
        DOMAIN,
        "AUTHORIZATION_NOT_FOUND",
        `authorization "${authorizationId}" does not exist`,
        { authorization_id: authorizationId },
      );
    }
    return auth;
  };
  const refuse = (auth: AuthorizationRecord, reason: string, message: string): never => {
    throw createServiceError(Code.FailedPrecondition, DOMAIN, reason, message, {
      authorization_id: auth.authorizationId,
      status: auth.status,
    });
  };
  /** Throws for every status but those allowed, with the reason a caller can act on. */
  const requireStatus = (
    auth: AuthorizationRecord,
    operation: "capture" | "void" | "refund",
    allowed: AuthorizationStatus[],
  ): void => {
    if (allowed.includes(auth.status)) return;
    const id = auth.authorizationId;
    const [reason, why] = {
      DECLINED: ["AUTHORIZATION_DECLINED", "it was declined"],
      VOIDED: ["AUTHORIZATION_VOIDED", "it was voided"],
      AUTHORIZED: ["NOT_CAPTURED", "nothing was captured"],
      REFUNDED: [
        operation === "refund" ? "ALREADY_REFUNDED" : "ALREADY_CAPTURED",
        "it was captured and fully refunded",
      ],
      CAPTURED: [
        "ALREADY_CAPTURED",
        operation === "void" ? "it was captured; refund it instead" : "it was captured",
      ],
    }[auth.status];
    refuse(auth, reason, `cannot ${operation} ${id}: ${why}`);
  };
  const snapshot = (auth: AuthorizationRecord): AuthorizationRecord => ({ ...auth });

  return state.transactional({
    authorize(input) {
      const time = now();
      const auth: AuthorizationRecord = {
        authorizationId: `auth_${randomUUID()}`,
        customerId: input.customerId,
        orderId: input.orderId,
        fulfillmentId: input.fulfillmentId,
        currencyCode: input.currencyCode,
        status: "AUTHORIZED",
        authorizedMinor: input.amountMinor,
        capturedMinor: 0n,
        refundedMinor: 0n,
        declineMessage: "",
        createTime: time,
        updateTime: time,
      };
      const limit = spendingLimit(input.customerId);
      const outstanding = exposure(input.customerId);
      if (input.customerId.startsWith(DECLINED_CUSTOMER_PREFIX)) {
        auth.status = "DECLINED";
        auth.declineReason = "CARD_DECLINED";
        auth.declineMessage = "the card issuer declined the payment";
      } else if (!input.fraudReviewApproved && outstanding + input.amountMinor > limit) {
        auth.status = "DECLINED";
        auth.declineReason = "SPENDING_LIMIT_EXCEEDED";
        auth.declineMessage = `the fraud check declined it: ${outstanding} outstanding plus ${input.amountMinor} exceeds the customer's limit of ${limit} (minor units)`;
      } else {
        auth.expireTime = new Date(time.getTime() + ttlMs);
      }
      authorizations.set(auth.authorizationId, auth);
      index(auth);
      record(
        auth,
        auth.status === "DECLINED" ? "DECLINE" : "AUTHORIZE",
        input.idempotencyKey,
        input.amountMinor,
      );
      return snapshot(auth);
    },
    capture(idempotencyKey, authorizationId, amountMinor) {
      const auth = find(authorizationId);
      requireStatus(auth, "capture", ["AUTHORIZED"]);
      if (expired(auth)) {
        refuse(
          auth,
          "AUTHORIZATION_EXPIRED",
          `cannot capture ${authorizationId}: it expired at ${auth.expireTime?.toISOString()}; authorize again`,
        );
      }
      const amount = amountMinor === 0n ? auth.authorizedMinor : amountMinor;
      if (amount > auth.authorizedMinor) {
        refuse(
          auth,
          "AMOUNT_EXCEEDS_AUTHORIZED",
          `cannot capture ${amount} of ${authorizationId}: only ${auth.authorizedMinor} is authorized`,
        );
      }
      auth.status = "CAPTURED";
      auth.capturedMinor = amount;
      auth.updateTime = now();
      record(auth, "CAPTURE", idempotencyKey, amount);
      return snapshot(auth);
    },
    void(idempotencyKey, authorizationId) {
      const auth = find(authorizationId);
      if (auth.status === "VOIDED") {
        // Voiding is idempotent by state too, so compensation retried under a new key still succeeds.
        return snapshot(auth);
      }
      requireStatus(auth, "void", ["AUTHORIZED"]);
      auth.status = "VOIDED";
      auth.updateTime = now();
      record(auth, "VOID", idempotencyKey, auth.authorizedMinor);
      return snapshot(auth);
    },
    refund(idempotencyKey, authorizationId, amountMinor) {
      const auth = find(authorizationId);
      requireStatus(auth, "refund", ["CAPTURED"]);
      const refundable = auth.capturedMinor - auth.refundedMinor;
      const amount = amountMinor === 0n ? refundable : amountMinor;
      if (amount > refundable) {
        refuse(
          auth,
          "AMOUNT_EXCEEDS_REFUNDABLE",
          `cannot refund ${amount} of ${authorizationId}: only ${refundable} is captured and not yet refunded`,
        );
      }
      auth.refundedMinor += amount;
      if (auth.refundedMinor === auth.capturedMinor) {
        auth.status = "REFUNDED";
      }
      auth.updateTime = now();
      record(auth, "REFUND", idempotencyKey, amount);
      return { authorization: snapshot(auth), refundedMinor: amount };
    },
    get(authorizationId) {
      const auth = authorizations.get(authorizationId);
      return auth && snapshot(auth);
    },
    ledger(filter = {}) {
      return entries
        .filter(
          (e) =>
            (!filter.orderId || e.orderId === filter.orderId) &&
            (!filter.customerId || e.customerId === filter.customerId) &&
            (!filter.authorizationId || e.authorizationId === filter.authorizationId),
        )
        .map((e) => ({ ...e }));
    },
    exposure,
    spendingLimit,
    setSpendingLimit(customerId, limitMinor) {
      if (limitMinor === undefined) {
        limits.delete(customerId);
      } else {
        limits.set(customerId, limitMinor);
      }
    },
  });
}
