/**
 * Holds: typed, stackable stops on an order. While any hold is active the
 * order authorizes, books and hands over nothing new; each hold has a
 * deadline and an action when it passes. Pure functions over the order's
 * data; the order workflow (src/workflows/holds.ts) applies them.
 */
import type { Order } from "./order.js";

export const HOLD_TYPES = [
  "FRAUD_REVIEW",
  "PAYMENT_REVIEW",
  "ADDRESS_VERIFICATION",
  "CUSTOMER_REQUEST",
  "MANUAL",
] as const;
export type HoldType = (typeof HOLD_TYPES)[number];

/** What happens when a hold's deadline passes while it is still active. */
export const HOLD_EXPIRY_ACTIONS = ["RELEASE", "CANCEL"] as const;
export type HoldExpiryAction = (typeof HOLD_EXPIRY_ACTIONS)[number];

export type HoldStatus = "ACTIVE" | "RELEASED" | "EXPIRED";

export interface Hold {
  /** "hold-1", "hold-2", … per order. */
  holdId: string;
  type: HoldType;
  status: HoldStatus;
  /** Why it was placed (free text, or the system's explanation). */
  reason: string;
  /** The principal who placed it, or "system". */
  placedBy: string;
  /** ISO 8601 times. */
  placeTime: string;
  deadline: string;
  expiryAction: HoldExpiryAction;
  /** Empty while active. */
  releasedBy: string;
  releaseReason: string;
  releaseTime: string;
}

/** Per type: how long a hold may stay active, and what its expiry does. */
export type HoldPolicy = {
  readonly [T in HoldType]: { readonly timeoutMs: number; readonly onExpiry: HoldExpiryAction };
} & {
  /** An authorization declined over the customer's spending limit puts the order in FRAUD_REVIEW instead of failing it. */
  readonly fraudReviewOnSpendingLimit: boolean;
};

const HOUR_MS = 3_600_000;

/**
 * The defaults (docs/configuration.md). Also the policy of orders submitted
 * before holds existed, whose workflow input carries none.
 */
export const DEFAULT_HOLD_POLICY: HoldPolicy = {
  FRAUD_REVIEW: { timeoutMs: 48 * HOUR_MS, onExpiry: "CANCEL" },
  PAYMENT_REVIEW: { timeoutMs: 48 * HOUR_MS, onExpiry: "CANCEL" },
  ADDRESS_VERIFICATION: { timeoutMs: 24 * HOUR_MS, onExpiry: "CANCEL" },
  CUSTOMER_REQUEST: { timeoutMs: 7 * 24 * HOUR_MS, onExpiry: "RELEASE" },
  MANUAL: { timeoutMs: 72 * HOUR_MS, onExpiry: "RELEASE" },
  fraudReviewOnSpendingLimit: true,
};

/** The order's holds; orders stored before holds existed have none. */
export function holdsOf(order: Order): readonly Hold[] {
  return order.holds ?? [];
}

export function activeHolds(order: Order): Hold[] {
  return holdsOf(order).filter((h) => h.status === "ACTIVE");
}

export function isOnHold(order: Order): boolean {
  return holdsOf(order).some((h) => h.status === "ACTIVE");
}

/** A new active hold, numbered after the order's others. */
export function newHold(
  order: Order,
  type: HoldType,
  reason: string,
  placedBy: string,
  now: Date,
  policy: HoldPolicy,
): Hold {
  const rule = policy[type];
  return {
    holdId: `hold-${holdsOf(order).length + 1}`,
    type,
    status: "ACTIVE",
    reason,
    placedBy,
    placeTime: now.toISOString(),
    deadline: new Date(now.getTime() + rule.timeoutMs).toISOString(),
    expiryAction: rule.onExpiry,
    releasedBy: "",
    releaseReason: "",
    releaseTime: "",
  };
}

/** The hold ended: released by someone (RELEASED), or its deadline passed (EXPIRED). */
export function endHold(
  hold: Hold,
  status: "RELEASED" | "EXPIRED",
  by: string,
  reason: string,
  at: string,
): Hold {
  return { ...hold, status, releasedBy: by, releaseReason: reason, releaseTime: at };
}

/** The order's holds with one replaced. */
export function withHold(order: Order, hold: Hold): Hold[] {
  const holds = holdsOf(order);
  return holds.some((h) => h.holdId === hold.holdId)
    ? holds.map((h) => (h.holdId === hold.holdId ? hold : h))
    : [...holds, hold];
}

/** "FRAUD_REVIEW hold hold-1 placed: …", the timeline's wording. */
export function describeHold(hold: Hold): string {
  return `${hold.type} hold ${hold.holdId}`;
}
