/**
 * Opaque, tamper-proof page tokens for keyset pagination.
 *
 * A token carries the sort key of the last order on the previous page plus an
 * HMAC over that key and the query's filters. The MAC keeps callers from
 * forging positions, and binding it to the filters rejects a token replayed
 * with a different customer or status set (AIP-158 requires the other request
 * fields to match).
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import type { HoldType } from "../domain/holds.js";
import type { OrderStatus } from "../domain/order.js";
import { InvalidPageTokenError, type SlaFilter } from "./store.js";

/** The position after which the next page starts: the last order of the previous page. */
export interface PageCursor {
  /** Normalized create time (the `create_time` column). */
  createTime: string;
  orderId: string;
}

/** The filters a token is bound to. */
export interface PageFilter {
  customerId?: string;
  statuses?: readonly OrderStatus[];
  holdTypes?: readonly HoldType[];
  onHold?: boolean;
  sla?: SlaFilter;
}

/** Encodes and verifies page tokens with one secret. */
export interface PageTokenCodec {
  encode(cursor: PageCursor, filter: PageFilter): string;
  /** @throws {InvalidPageTokenError} unless the token was issued by `encode` for the same filter. */
  decode(token: string, filter: PageFilter): PageCursor;
}

const MAC_BYTES = 32;
const TOKEN_FORMAT_VERSION = 1;
// Tokens are a few hundred bytes at most; anything much longer is garbage and
// is rejected before decoding.
const MAX_TOKEN_LENGTH = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Creates a codec whose tokens only verify with the same secret. */
export function createPageTokenCodec(secret: string | Uint8Array): PageTokenCodec {
  checkPageTokenSecret(secret);
  const mac = (filter: PageFilter, payload: Buffer): Buffer =>
    createHmac("sha256", secret)
      // Domain separation, so a MAC made for something else never verifies here.
      .update("oms.readmodel.listOrders\0")
      .update(filterKey(filter))
      .update("\0")
      .update(payload)
      .digest();

  return {
    encode(cursor, filter) {
      const payload = Buffer.from(
        JSON.stringify([TOKEN_FORMAT_VERSION, cursor.createTime, cursor.orderId]),
        "utf8",
      );
      return Buffer.concat([mac(filter, payload), payload]).toString("base64url");
    },
    decode(token, filter) {
      if (token.length > MAX_TOKEN_LENGTH || !BASE64URL.test(token)) {
        throw new InvalidPageTokenError();
      }
      const raw = Buffer.from(token, "base64url");
      // Node's decoder ignores the unused low bits of the last character, so
      // several strings decode alike; accept only the one we issue.
      if (raw.length <= MAC_BYTES || raw.toString("base64url") !== token) {
        throw new InvalidPageTokenError();
      }
      const payload = raw.subarray(MAC_BYTES);
      if (!timingSafeEqual(raw.subarray(0, MAC_BYTES), mac(filter, payload))) {
        throw new InvalidPageTokenError();
      }
      // The MAC proves we wrote this payload, so parsing cannot fail unless the
      // format changed; still check the shape rather than trust it.
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload.toString("utf8"));
      } catch {
        throw new InvalidPageTokenError();
      }
      if (
        !Array.isArray(parsed) ||
        parsed.length !== 3 ||
        parsed[0] !== TOKEN_FORMAT_VERSION ||
        typeof parsed[1] !== "string" ||
        typeof parsed[2] !== "string"
      ) {
        throw new InvalidPageTokenError();
      }
      return { createTime: parsed[1], orderId: parsed[2] };
    },
  };
}

/**
 * Throws for a secret that cannot protect tokens. The factories call this
 * before opening a database, so a configuration error leaks no connections.
 */
export function checkPageTokenSecret(secret: string | Uint8Array): void {
  if (secret.length === 0) {
    throw new Error("pageTokenSecret must not be empty");
  }
}

/** A canonical string of the filters: order and duplicates of statuses do not matter. */
function filterKey(filter: PageFilter): string {
  const statuses = [...new Set(filter.statuses ?? [])].sort();
  const holdTypes = [...new Set(filter.holdTypes ?? [])].sort();
  // Tokens issued before the hold and SLA filters existed keep verifying without them.
  const sla = filter.sla ? { a: filter.sla } : {};
  if (holdTypes.length === 0 && !filter.onHold) {
    return JSON.stringify({ c: filter.customerId ?? "", s: statuses, ...sla });
  }
  return JSON.stringify({
    c: filter.customerId ?? "",
    s: statuses,
    h: holdTypes,
    o: !!filter.onHold,
    ...sla,
  });
}
