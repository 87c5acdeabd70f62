import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
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

  const report = async (event: ShipmentEventReport): Promise<void> => {
    const reportEvent = options.reportEvent;
    if (reportEvent === undefined) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await reportEvent(event);
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

  const timeline = async (shipmentId: string): Promise<void> => {
    await sleep(options.dispatchDelayMs, undefined, { signal });
    if (store.get(shipmentId)?.status !== "BOOKED") return; // cancelled, or moved on by hand
    const dispatched = store.dispatch(shipmentId);
    const { fulfillmentId } = dispatched;
    const dispatchTime = dispatched.dispatchTime ?? new Date();
    await report({ shipmentId, fulfillmentId, event: "DISPATCHED", occurredAt: dispatchTime });
    // Delivery is due deliverDelayMs after pickup, however long the report took.
    const due = dispatchTime.getTime() + options.deliverDelayMs - Date.now();
    await sleep(Math.max(0, due), undefined, { signal });
    if (store.get(shipmentId)?.status !== "DISPATCHED") return;
    const delivered = store.deliver(shipmentId);
    await report({
      shipmentId,
      fulfillmentId,
      event: "DELIVERED",
      occurredAt: delivered.deliveryTime ?? new Date(),
    });
  };

  return {
    schedule(shipmentId) {
      if (signal.aborted) return;
      const run: Promise<void> = timeline(shipmentId)
        .catch((error: unknown) => {
          if (!signal.aborted) {
            logger?.error({ err: error, shipmentId }, "simulated courier failed");
          }
        })
        .finally(() => running.delete(run));
      running.add(run);
    },
    async stop() {
      controller.abort();
      await Promise.all(running);
    },
  };
}
