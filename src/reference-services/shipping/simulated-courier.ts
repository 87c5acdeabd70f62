import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { stateOf } from "../state.js";
import type { ShippingStore } from "./shipping-store.js";

/** A courier event, as `oms.v1.ShipmentService/ReportShipmentEvent` takes it. */
export interface ShipmentEventReport {
  shipmentId: string;
  /** The shipper's reference given with the booking (the OMS's fulfillment id); routes the event. */
  fulfillmentId: string;
  event: "DISPATCHED" | "DELIVERED";
  occurredAt: Date;
}

/**
 * Delivers a courier event to the shipper (the OMS). Throwing means "not
 * delivered": the courier retries with backoff. Must be idempotent, since a
 * report whose response is lost is sent again.
 */
export type ReportShipmentEvent = (report: ShipmentEventReport) => Promise<void>;

/** Options of {@link createSimulatedCourier}. */
export interface SimulatedCourierOptions {
  /** Time from booking to pickup (DISPATCHED), in milliseconds. */
  dispatchDelayMs: number;
  /** Time from pickup to delivery (DELIVERED), in milliseconds. */
  deliverDelayMs: number;
  /** Where events go; without it the courier only changes the shipment's status. */
  reportEvent?: ReportShipmentEvent;
  /** Attempts per event before giving up (logged); 20 by default. */
  maxReportAttempts?: number;
  /** First retry delay, doubled per attempt up to 5 s; 100 ms by default. */
  retryDelayMs?: number;
}

/** An event the courier reported, or has still to report (kept with the shipments). */
interface ReportRecord {
  report: ShipmentEventReport;
  /** The shipper accepted it. */
  acknowledged: boolean;
}

/** A courier that picks up and delivers every booked shipment on a timer. */
export interface SimulatedCourier {
  /** Starts the pickup/delivery timeline of a freshly booked shipment. */
  schedule(shipmentId: string): void;
  /** Stops every timeline and pending report, and waits for them to end. */
  stop(): Promise<void>;
}

/**
 * Creates a simulated courier over the shipping state. For each scheduled
 * shipment: after `dispatchDelayMs` it is DISPATCHED (unless it was cancelled
 * or moved on meanwhile) and reported; after `deliverDelayMs` more it is
 * DELIVERED and reported. DELIVERED is reported only after DISPATCHED was
 * delivered, because the OMS rejects events out of order.
 *
 * The courier keeps what it has to report with the shipments (the store's
 * reference state): a status change and its pending report are saved
 * together, and a report is marked once the shipper accepted it. So when it
 * starts over a state that has shipments on their way (the process was
 * killed), it resumes them: it reports again what was not acknowledged, and
 * picks up and delivers what is BOOKED or DISPATCHED when that is due.
 */
export function createSimulatedCourier(
  store: ShippingStore,
  options: SimulatedCourierOptions,
  logger?: Logger,
): SimulatedCourier {
  const controller = new AbortController();
  const { signal } = controller;
  // One listener per shipment on its way: many at once is normal, not a leak.
  setMaxListeners(0, signal);
  const running = new Set<Promise<void>>();
  const maxAttempts = options.maxReportAttempts ?? 20;
  const firstRetryDelayMs = options.retryDelayMs ?? 100;
  const state = stateOf(store);
  const reports = state.map<ReportRecord>("courier_reports");
  const reportKey = (shipmentId: string, event: ShipmentEventReport["event"]) =>
    `${shipmentId} ${event}`;
  /** The saved report of `event` of the shipment, if it is still to be acknowledged. */
  const unacknowledged = (shipmentId: string, event: ShipmentEventReport["event"]) =>
    state.transaction(() => {
      const record = reports.get(reportKey(shipmentId, event));
      return record?.acknowledged === false ? record.report : undefined;
    });

  /** Moves the shipment on and saves the report to make, in one transaction. */
  const advance = (
    shipmentId: string,
    event: ShipmentEventReport["event"],
  ): ShipmentEventReport | undefined =>
    state.transaction(() => {
      const from = event === "DISPATCHED" ? "BOOKED" : "DISPATCHED";
      if (store.get(shipmentId)?.status !== from) return undefined; // cancelled, or moved on by hand
      const shipment =
        event === "DISPATCHED" ? store.dispatch(shipmentId) : store.deliver(shipmentId);
      const time = event === "DISPATCHED" ? shipment.dispatchTime : shipment.deliveryTime;
      const report: ShipmentEventReport = {
        shipmentId,
        fulfillmentId: shipment.fulfillmentId,
        event,
        occurredAt: time ?? new Date(),
      };
      reports.set(reportKey(shipmentId, event), { report, acknowledged: false });
      return report;
    });

  /** Reports a saved event until the shipper accepts it, then marks it so. */
  const report = async (event: ShipmentEventReport): Promise<void> => {
    const reportEvent = options.reportEvent;
    const acknowledge = () =>
      state.transaction(() => {
        const record = reports.get(reportKey(event.shipmentId, event.event));
        if (record !== undefined) record.acknowledged = true;
      });
    if (reportEvent === undefined) {
      acknowledge();
      return;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        await reportEvent(event);
        acknowledge();
        return;
      } catch (error) {
        if (signal.aborted) return;
        if (attempt >= maxAttempts) {
          logger?.error(
            { err: error, shipmentId: event.shipmentId, event: event.event, attempt },
            "simulated courier gave up reporting a shipment event",
          );
          return;
        }
        logger?.warn(
          { err: error, shipmentId: event.shipmentId, event: event.event, attempt },
          "simulated courier could not report a shipment event; retrying",
        );
        await sleep(Math.min(firstRetryDelayMs * 2 ** (attempt - 1), 5_000), undefined, { signal });
      }
    }
  };

  /** Reports a saved event again if it was not acknowledged. */
  const reportAgain = async (shipmentId: string, event: ShipmentEventReport["event"]) => {
    const saved = unacknowledged(shipmentId, event);
    if (saved !== undefined) await report(saved);
  };

  /**
   * Takes a shipment from where it is to DELIVERED: picked up `dispatchInMs`
   * from now when BOOKED, delivered `deliverDelayMs` after its pickup.
   */
  const timeline = async (shipmentId: string, dispatchInMs: number): Promise<void> => {
    if (store.get(shipmentId)?.status === "BOOKED") {
      await sleep(dispatchInMs, undefined, { signal });
      const dispatched = advance(shipmentId, "DISPATCHED");
      if (dispatched === undefined) return;
      await report(dispatched);
    } else {
      await reportAgain(shipmentId, "DISPATCHED");
    }
    const shipment = store.get(shipmentId);
    if (shipment?.status === "DISPATCHED") {
      // Delivery is due deliverDelayMs after pickup, however long the report took.
      const due = (shipment.dispatchTime ?? new Date()).getTime() + options.deliverDelayMs;
      await sleep(Math.max(0, due - Date.now()), undefined, { signal });
      const delivered = advance(shipmentId, "DELIVERED");
      if (delivered === undefined) return;
      await report(delivered);
    } else if (shipment?.status === "DELIVERED") {
      await reportAgain(shipmentId, "DELIVERED");
    }
  };

  const start = (shipmentId: string, dispatchInMs: number): void => {
    if (signal.aborted) return;
    const run: Promise<void> = timeline(shipmentId, dispatchInMs)
      .catch((error: unknown) => {
        if (!signal.aborted) {
          logger?.error({ err: error, shipmentId }, "simulated courier failed");
        }
      })
      .finally(() => running.delete(run));
    running.add(run);
  };

  // Resume what a courier over this state before (a killed process) left on its way.
  for (const s of store.list()) {
    const onItsWay = s.status === "BOOKED" || s.status === "DISPATCHED";
    if (onItsWay || unacknowledged(s.shipmentId, "DELIVERED") !== undefined) {
      const due = s.bookTime.getTime() + options.dispatchDelayMs;
      start(s.shipmentId, Math.max(0, due - Date.now()));
    }
  }

  return {
    schedule(shipmentId) {
      start(shipmentId, options.dispatchDelayMs);
    },
    async stop() {
      controller.abort();
      await Promise.all(running);
    },
  };
}
