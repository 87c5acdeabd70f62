import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { createServiceError } from "./errors.js";
import { openReferenceState, type ReferenceState } from "./state.js";

/**
 * Remembers the result of each mutating call by its idempotency key, so that a
 * retry (after a timeout, a lost response, a crash of the caller) returns the
 * first result instead of doing the work again.
 */
export interface IdempotencyStore {
  /**
   * Runs `perform` the first time `key` is seen and records its result; later
   * calls with the same key and fingerprint return that result. A different
   * fingerprint under a known key fails with ALREADY_EXISTS
   * (IDEMPOTENCY_KEY_REUSED). When `perform` throws nothing is recorded, so a
   * retry performs the call: a failed call must have done nothing.
   *
   * `perform` is synchronous on purpose: with no await between the lookup and
   * the record, concurrent calls with one key cannot both do the work.
   */
  run<T>(key: string, fingerprint: string, perform: () => T): T;
  /** How many keys are recorded (for tests). */
  readonly size: number;
}

/**
 * Creates the idempotency store of one service, keeping its results in
 * \`state\` (the state of the store the service works on, so that a call's
 * changes and its result commit together).
 *
 * @param domain the service name used in the ErrorInfo of a key conflict
 * @param state where results are kept; a fresh in-memory state by default
 */
export function createIdempotencyStore(
  domain: string,
  state: ReferenceState = openReferenceState(),
): IdempotencyStore {
  const results = state.map<{ fingerprint: string; result: unknown }>("idempotency_results");
  // One table for every service of the state: a key is scoped by its service.
  const prefix = `${domain} `;
  return {
    run<T>(key: string, fingerprint: string, perform: () => T): T {
      return state.transaction(() => {
        const known = results.get(prefix + key);
        if (known !== undefined) {
          if (known.fingerprint !== fingerprint) {
            throw createServiceError(
              Code.AlreadyExists,
              domain,
              "IDEMPOTENCY_KEY_REUSED",
              `idempotency key "${key}" was already used for a different request; repeat the original request unchanged, or use a new key`,
              { idempotency_key: key },
            );
          }
          return known.result as T;
        }
        const result = perform();
        results.set(prefix + key, { fingerprint, result });
        return result;
      });
    },
    get size() {
      let n = 0;
      for (const key of results.keys()) if (key.startsWith(prefix)) n++;
      return n;
    },
  };
}

/**
 * A canonical string of an RPC's request: the method name plus the request's
 * JSON form with object keys sorted, so that map order or unknown-field noise
 * from different clients does not make one request look like two.
 */
export function requestFingerprint<Desc extends DescMessage>(
  method: string,
  schema: Desc,
  request: MessageShape<Desc>,
): string {
  return `${method} ${stableStringify(toJson(schema, request))}`;
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(stableStringify).join(",")}]`;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
