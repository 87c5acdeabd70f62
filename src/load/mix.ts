import { create } from "@bufbuild/protobuf";
import { OrderStatus } from "../../gen/oms/v1/order_pb.js";
import {
  type SubmitOrderRequest,
  SubmitOrderRequestSchema,
} from "../../gen/oms/v1/order_service_pb.js";

/**
 * The kinds of order `oms load` submits. Each exercises one path of the
 * order workflow against the reference downstream services (or any services
 * that follow the same conventions) and has one expected terminal status.
 */
export const ORDER_KINDS = ["two-warehouse", "out-of-stock", "cancel", "declined"] as const;
export type OrderKind = (typeof ORDER_KINDS)[number];

/** Relative weight of each kind; kinds left out are not submitted. */
export type OrderMix = Partial<Record<OrderKind, number>>;

export const DEFAULT_MIX: Readonly<OrderMix> = Object.freeze({
  "two-warehouse": 80,
  "out-of-stock": 5,
  cancel: 10,
  declined: 5,
});

/** The terminal status each kind must reach. */
export const EXPECTED_STATUS: Readonly<Record<OrderKind, OrderStatus>> = Object.freeze({
  // SKU-* ships from wh-east, KEYBOARD-MX only from wh-west: two fulfillments.
  "two-warehouse": OrderStatus.COMPLETED,
  // Waits in CUSTOMER_ACTION_REQUIRED, then the tool proceeds without the OOS- line.
  "out-of-stock": OrderStatus.COMPLETED,
  // CancelOrder right after SubmitOrder.
  cancel: OrderStatus.CANCELLED,
  // The reference payment service declines customers whose id starts with `declined-`.
  declined: OrderStatus.FAILED,
});

/** Parses `two-warehouse=80,cancel=10,...`; throws with a readable message. */
export function parseMix(text: string): OrderMix {
  const mix: OrderMix = {};
  for (const part of text.split(",")) {
    const entry = part.trim();
    if (entry === "") continue;
    const [name = "", weightText, ...rest] = entry.split("=").map((s) => s.trim());
    if (!(ORDER_KINDS as readonly string[]).includes(name)) {
      throw new Error(`unknown order kind "${name}" in --mix (kinds: ${ORDER_KINDS.join(", ")})`);
    }
    const weight = Number(weightText);
    if (rest.length > 0 || weightText === undefined || !Number.isFinite(weight) || weight < 0) {
      throw new Error(`--mix: expected ${name}=<weight> with a weight >= 0, got "${entry}"`);
    }
    mix[name as OrderKind] = weight;
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (total <= 0) throw new Error("--mix: the weights must add up to more than 0");
  return mix;
}

/** `two-warehouse=80,out-of-stock=5,...` */
export function formatMix(mix: OrderMix): string {
  return ORDER_KINDS.filter((k) => mix[k] !== undefined)
    .map((k) => `${k}=${mix[k]}`)
    .join(",");
}

/**
 * The kind of each of `count` orders: exact counts in proportion to the
 * weights (largest remainder, ties to the earlier kind), spread evenly
 * through the run (smooth weighted round robin) rather than in blocks.
 */
export function planKinds(count: number, mix: OrderMix): OrderKind[] {
  const kinds = ORDER_KINDS.filter((k) => (mix[k] ?? 0) > 0);
  const total = kinds.reduce((sum, k) => sum + (mix[k] ?? 0), 0);
  const exact = kinds.map((k) => (count * (mix[k] ?? 0)) / total);
  const counts = exact.map(Math.floor);
  let left = count - counts.reduce((a, b) => a + b, 0);
  const byRemainder = kinds
    .map((_, i) => i)
    .sort((a, b) => (exact[b] ?? 0) - (counts[b] ?? 0) - ((exact[a] ?? 0) - (counts[a] ?? 0)));
  for (const i of byRemainder) {
    if (left === 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  const current = kinds.map(() => 0);
  const plan: OrderKind[] = [];
  for (let n = 0; n < count; n++) {
    let pick = 0;
    for (let i = 0; i < kinds.length; i++) {
      current[i] = (current[i] ?? 0) + (counts[i] ?? 0);
      if ((current[i] ?? 0) > (current[pick] ?? 0)) pick = i;
    }
    current[pick] = (current[pick] ?? 0) - count;
    plan.push(kinds[pick] as OrderKind);
  }
  return plan;
}

const SHIPPING_ADDRESS = {
  name: "Load Test",
  line1: "1 Main St",
  city: "Springfield",
  postalCode: "12345",
  countryCode: "US",
};

/** Short tag of each kind in order ids, e.g. `load-k3x9-17-oos`. */
export const KIND_TAG: Readonly<Record<OrderKind, string>> = Object.freeze({
  "two-warehouse": "tw",
  "out-of-stock": "oos",
  cancel: "cancel",
  declined: "declined",
});

/**
 * The SubmitOrder request of the `index`th order of a run: order id
 * `<runId>-<index>-<tag>`, and a customer of its own (the reference payments'
 * spending limit is per customer), `declined-…` for the declined kind.
 */
export function orderRequest(kind: OrderKind, runId: string, index: number): SubmitOrderRequest {
  const orderId = `${runId}-${index}-${KIND_TAG[kind]}`;
  const twoWarehouses = [
    { sku: "SKU-1", quantity: 2, unitPriceMinor: 1250n },
    { sku: "KEYBOARD-MX", quantity: 1, unitPriceMinor: 8900n },
  ];
  const items =
    kind === "out-of-stock"
      ? [
          { sku: "SKU-1", quantity: 1, unitPriceMinor: 1250n },
          { sku: "OOS-LOAD", quantity: 1, unitPriceMinor: 500n },
        ]
      : kind === "declined"
        ? [{ sku: "SKU-1", quantity: 1, unitPriceMinor: 1250n }]
        : twoWarehouses;
  return create(SubmitOrderRequestSchema, {
    orderId,
    customerId: kind === "declined" ? `declined-${runId}-${index}` : `${runId}-c${index}`,
    currencyCode: "USD",
    items,
    shippingAddress: SHIPPING_ADDRESS,
  });
}
