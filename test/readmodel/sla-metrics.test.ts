/**
 * oms_order_sla_breaches_total counts each breach once, on a real SQLite read
 * model: the breach's version saved again (a retried or replayed saveOrder)
 * and later versions that still carry the breached stage count nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newOrder } from "../../src/domain/new-order.js";
import type { Order, TimelineEntry } from "../../src/domain/order.js";
import { DEFAULT_PRICING } from "../../src/domain/pricing.js";
import { breachSlaStage, newOrderSla, slaBreachReason } from "../../src/domain/sla.js";
import { registry } from "../../src/observability/metrics.js";
import { withStoreMetrics } from "../../src/observability/store-metrics.js";
import { createStore } from "../../src/readmodel/create-store.js";

const dir = mkdtempSync(path.join(tmpdir(), "oms-sla-metrics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function breaches(stage: string): Promise<number> {
  const metric = await registry.getSingleMetric("oms_order_sla_breaches_total")?.get();
  return metric?.values.find((v) => v.labels.stage === stage)?.value ?? 0;
}

describe("oms_order_sla_breaches_total", () => {
  it("counts a breach once, however often its version is saved", async () => {
    const store = withStoreMetrics(
      await createStore({ dataDir: dir, pageTokenSecret: "sla-metrics" }),
    );
    const acceptTime = "2030-01-01T00:00:00.000Z";
    const sla = newOrderSla(acceptTime, {
      authorizedWithinMs: 0,
      dispatchedWithinMs: 60_000,
      deliveredWithinMs: 120_000,
      atRiskPercent: 50,
    });
    const accepted: Order = {
      ...newOrder(
        {
          orderId: `sla-metrics-${Date.now()}`,
          customerId: "c-1",
          currencyCode: "USD",
          items: [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 100 }],
          shippingAddress: {
            name: "A",
            line1: "1 Road",
            line2: "",
            city: "X",
            region: "",
            postalCode: "1",
            countryCode: "GB",
          },
        },
        acceptTime,
        DEFAULT_PRICING,
      ),
      ...(sla ? { sla } : {}),
    };
    await store.saveOrder(accepted, []);
    const breachTime = "2030-01-01T00:01:00.000Z";
    const breached: Order = {
      ...accepted,
      version: 2,
      updateTime: breachTime,
      sla: breachSlaStage(accepted.sla ?? { stages: [] }, "DISPATCHED", breachTime),
    };
    const clock = breached.sla?.stages[0];
    if (clock === undefined) throw new Error("no DISPATCHED clock");
    const entry: TimelineEntry = {
      orderId: accepted.orderId,
      sequence: 2,
      time: breachTime,
      actor: "system",
      fromStatus: "PENDING",
      toStatus: "PENDING",
      reason: slaBreachReason(clock),
      version: 2,
    };
    const before = await breaches("DISPATCHED");
    await store.saveOrder(breached, [entry]);
    await store.saveOrder(breached, [entry]);
    await store.saveOrder({ ...breached, version: 3 }, []);
    expect(await breaches("DISPATCHED")).toBe(before + 1);
    expect(await breaches("DELIVERED")).toBe(0);
    await store.close();
  });
});
