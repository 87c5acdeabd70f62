import { condition, patched } from "@temporalio/workflow";
import {
  breachSlaStage,
  currentSlaStage,
  markSlaStagesMet,
  slaBreachReason,
  slaClockStopped,
  slaStageOf,
} from "../domain/sla.js";
import type { OrderRun } from "./order-run.js";

/** The patch id: histories recorded before SLA clocks existed replay without them. */
export const SLA_CLOCKS_PATCH = "sla-clocks";

/**
 * Keeps the order's SLA clocks (src/domain/sla.ts), when its input has any.
 *
 * Met stages are recorded by the recorder's derive step, in the version of the
 * change that met them: a met stage costs no write and no workflow task. One
 * durable timer runs at a time, for the open stage due first; it is cancelled
 * when the stage is met or the clocks stop (TimerStarted + TimerCanceled).
 * When it fires first, the stage is breached: a timeline entry and a new
 * version (which the outbox turns into an order event), then the clock moves
 * on to the next open stage.
 */
export function startSlaClocks(run: OrderRun): void {
  const sla = run.input.sla;
  if (sla === undefined || !patched(SLA_CLOCKS_PATCH)) return;
  const { recorder } = run;
  recorder.derive({ sla }, (order) => markSlaStagesMet(order, order.updateTime));
  void (async () => {
    for (;;) {
      const clock = currentSlaStage(recorder.order);
      if (clock === null) return;
      const settled = () =>
        slaStageOf(recorder.order, clock.stage)?.metTime !== "" || slaClockStopped(recorder.order);
      const remainingMs = Date.parse(clock.deadline) - Date.now();
      if (await condition(settled, Math.max(remainingMs, 1))) continue;
      const current = recorder.order.sla ?? sla;
      recorder.change({ sla: breachSlaStage(current, clock.stage, new Date().toISOString()) });
      recorder.note(slaBreachReason(clock), "system");
    }
  })();
}
