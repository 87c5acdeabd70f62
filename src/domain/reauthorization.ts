/**
 * When an order authorizes again before its authorization expires (see
 * src/workflows/reauthorization.ts): pure rules, shared by the workflow and
 * the configuration.
 */

/** The default of OMS_REAUTHORIZE_MARGIN_MS: a day before the authorization expires. */
export const DEFAULT_REAUTHORIZE_MARGIN_MS = 24 * 3_600_000;

/**
 * How long from `nowMs` until the authorization expiring at `expireTime`
 * should be renewed: at expiry − margin, but never earlier than halfway to the expiry, so an authorization whose whole life
 * is shorter than the margin is not renewed over and over at once. 0 when
 * it is due (or already expired).
 */
export function renewalDelayMs(expireTime: string, nowMs: number, marginMs: number): number {
  const remaining = Date.parse(expireTime) - nowMs;
  if (!(remaining > 0)) return 0;
  return Math.max(remaining - marginMs, Math.floor(remaining / 2));
}

/** The idempotency-key suffix of a renewal generation (1, 2, …): `renewal-1`, … */
export function renewalKey(generation: number): string {
  return `renewal-${generation}`;
}
