import { createHash } from "node:crypto";
import type { OrderSubmission } from "../domain/order.js";

/**
 * A digest of everything a caller submitted, used to tell "the same order
 * again" (OK) from "another order under a taken id" (ALREADY_EXISTS). Fields
 * are listed explicitly so that the digest never depends on key order.
 */
export function submissionFingerprint(s: OrderSubmission): string {
  const a = s.shippingAddress;
  const canonical = [
    s.orderId,
    s.customerId,
    s.currencyCode,
    s.items.map((i) => [i.sku, i.quantity, i.unitPriceMinor]),
    [a.name, a.line1, a.line2, a.city, a.region, a.postalCode, a.countryCode],
  ];
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}
