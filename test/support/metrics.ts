import { expect } from "vitest";

/** The value of one series (`name{labels}` exactly as exposed) in a Prometheus text page, or undefined. */
export function metricValue(page: string, series: string): number | undefined {
  const line = page.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/**
 * What a metrics page shows after exactly one order was submitted and
 * completed: counted once each, and each of its `version` versions written once.
 */
export function expectOneCompletedOrder(page: string, version: number): void {
  const value = (series: string) => metricValue(page, series);
  expect(value("oms_orders_accepted_total")).toBe(1);
  expect(value("oms_orders_completed_total")).toBe(1);
  expect(value("oms_orders_cancelled_total")).toBe(0);
  expect(value("oms_orders_failed_total")).toBe(0);
  expect(value('oms_order_duration_seconds_count{status="COMPLETED"}')).toBe(1);
  expect(value('oms_readmodel_write_duration_seconds_count{outcome="applied"}')).toBe(version);
}
