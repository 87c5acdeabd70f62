import type { FulfillmentStatus, Order } from "./order.js";
import { isTerminal } from "./order.js";

/**
 * SLA clocks: per-stage deadlines of an order, measured from its acceptance.
 * The targets are configuration (`OMS_SLA_*`), turned into deadlines once, at
 * acceptance, so an order keeps the targets it was accepted with. The order
 * workflow keeps them (src/workflows/sla.ts): a stage is met when every
 * fulfillment still alive has reached it, breached when its deadline passes
 * first. The clocks stop when the order ends or a cancellation is requested.
 */

export const SLA_STAGES = ["AUTHORIZED", "DISPATCHED", "DELIVERED"] as const;
export type SlaStage = (typeof SLA_STAGES)[number];

/** One stage's clock on an order. Times are ISO 8601; empty when not (yet) so. */
export interface SlaStageClock {
  stage: SlaStage;
  /** The stage must be met by then. */
  deadline: string;
  /** From then on, the order is at risk of breaching this stage (ListOrders' AT_RISK). */
  atRiskTime: string;
  /** When the order met the stage (possibly after its deadline). */
  metTime: string;
  /** When the order breached the stage (its deadline passed before it was met). */
  breachTime: string;
}

/** The order's SLA clocks, one per tracked stage (a stage whose target is 0 is not tracked). */
export interface OrderSla {
  stages: SlaStageClock[];
}

/** The targets, from acceptance; 0 means the stage is not tracked. */
export interface SlaPolicy {
  authorizedWithinMs: number;
  dispatchedWithinMs: number;
  deliveredWithinMs: number;
  /** A stage is at risk once this share (0–100) of its target has elapsed. */
  atRiskPercent: number;
}

/** Every stage off: orders carry no SLA clocks. */
export const NO_SLA_POLICY: SlaPolicy = {
  authorizedWithinMs: 0,
  dispatchedWithinMs: 0,
  deliveredWithinMs: 0,
  atRiskPercent: 80,
};

/** The clocks of an order accepted at `acceptTime`; undefined when no stage is tracked. */
export function newOrderSla(acceptTime: string, policy: SlaPolicy): OrderSla | undefined {
  const accepted = Date.parse(acceptTime);
  const targets: [SlaStage, number][] = [
    ["AUTHORIZED", policy.authorizedWithinMs],
    ["DISPATCHED", policy.dispatchedWithinMs],
    ["DELIVERED", policy.deliveredWithinMs],
  ];
  const stages = targets
    .filter(([, ms]) => ms > 0)
    .map(([stage, ms]) => ({
      stage,
      deadline: new Date(accepted + ms).toISOString(),
      atRiskTime: new Date(accepted + Math.floor((ms * policy.atRiskPercent) / 100)).toISOString(),
      metTime: "",
      breachTime: "",
    }));
  return stages.length === 0 ? undefined : { stages };
}

const RANK: Record<FulfillmentStatus, number> = {
  PENDING: 0,
  AUTHORIZED: 1,
  BOOKED: 2,
  DISPATCHED: 3,
  DELIVERED: 4,
  CANCELLED: -1,
  FAILED: -1,
};
const STAGE_RANK: Record<SlaStage, number> = { AUTHORIZED: 1, DISPATCHED: 3, DELIVERED: 4 };

/**
 * Whether the order has reached a stage: it has fulfillments, and every one
 * still alive (not cancelled or failed) has reached the stage. Fulfillments
 * that were cancelled (CancelOrderItems) or failed do not hold the others back.
 */
export function stageReached(order: Order, stage: SlaStage): boolean {
  const alive = order.fulfillments.filter((f) => RANK[f.status] >= 0);
  return alive.length > 0 && alive.every((f) => RANK[f.status] >= STAGE_RANK[stage]);
}

/** The clocks stop once the order has ended or a cancellation was requested. */
export function slaClockStopped(order: Order): boolean {
  return isTerminal(order.status) || order.cancellation !== null;
}

/**
 * Marks every stage the order has reached as met at `now` (stages met late
 * included). Returns the same object when nothing changed.
 */
export function markSlaStagesMet(order: Order, now: string): Order {
  const sla = order.sla;
  if (sla === undefined) return order;
  if (!sla.stages.some((s) => s.metTime === "" && stageReached(order, s.stage))) return order;
  return {
    ...order,
    sla: {
      stages: sla.stages.map((s) =>
        s.metTime === "" && stageReached(order, s.stage) ? { ...s, metTime: now } : s,
      ),
    },
  };
}

/** The stage the clock runs for: the open stage (neither met nor breached) due first; null when stopped. */
export function currentSlaStage(order: Order): SlaStageClock | null {
  if (order.sla === undefined || slaClockStopped(order)) return null;
  const open = order.sla.stages.filter((s) => s.metTime === "" && s.breachTime === "");
  if (open.length === 0) return null;
  return open.reduce((a, b) => (Date.parse(b.deadline) < Date.parse(a.deadline) ? b : a));
}

/** The order's clock of one stage, if tracked. */
export function slaStageOf(order: Order, stage: SlaStage): SlaStageClock | undefined {
  return order.sla?.stages.find((s) => s.stage === stage);
}

/** The SLA with `stage` breached at `now`. */
export function breachSlaStage(sla: OrderSla, stage: SlaStage, now: string): OrderSla {
  return {
    stages: sla.stages.map((s) => (s.stage === stage ? { ...s, breachTime: now } : s)),
  };
}

/** The timeline entry's reason for a breach; the metric recognizes breaches by it. */
export function slaBreachReason(clock: SlaStageClock): string {
  return `SLA breached: not ${clock.stage.toLowerCase()} by ${clock.deadline}`;
}

/** Whether any stage of the order was breached. */
export function slaBreached(order: Order): boolean {
  return order.sla?.stages.some((s) => s.breachTime !== "") ?? false;
}
