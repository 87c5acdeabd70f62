import { readFileSync } from "node:fs";
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from "jose";
import {
  AuthenticationError,
  AuthKeysUnavailableError,
  type Caller,
} from "./authentication-error.js";

/** Asymmetric algorithms accepted when OMS_AUTH_ALGORITHMS is not set; never `none`. */
export const DEFAULT_JWT_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "ES256",
  "ES384",
  "EdDSA",
];

export interface JwtVerifierOptions {
  /** Exactly one of jwksUrl and jwksFile. */
  jwksUrl?: string;
  jwksFile?: string;
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  /** Allowed clock skew for `exp` and `nbf`, in seconds. */
  clockToleranceS: number;
  /** Claim holding the caller's roles: an array of strings or one space-separated string. */
  rolesClaim: string;
}

export type JwtVerifier = (token: string) => Promise<Caller>;

/**
 * Verifies bearer tokens with jose: signature against the JWKS (a URL is
 * fetched and cached by jose, refetched when a token names an unknown key id),
 * `exp`/`nbf` with a small leeway, issuer, audience and an algorithm
 * allow-list. The principal is the `sub` claim.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  if (options.algorithms.some((alg) => alg.toLowerCase() === "none")) {
    throw new Error('the JWT algorithm allow-list must not contain "none"');
  }
  // A key set file is read now: one that is missing or not a key set stops the start.
  const localKeys =
    options.jwksUrl === undefined ? readKeySet(options.jwksFile as string) : undefined;
  // jose (3 MB of heap) is loaded with the first token: every process
  // imports this module through its configuration, few verify tokens.
  let ready: Promise<{ jose: Jose; keys: JWTVerifyGetKey }> | undefined;
  const verifying = () =>
    (ready ??= import("jose").then((jose) => ({
      jose,
      keys:
        options.jwksUrl !== undefined
          ? jose.createRemoteJWKSet(new URL(options.jwksUrl), { timeoutDuration: 5_000 })
          : jose.createLocalJWKSet(localKeys as JSONWebKeySet),
    })));
  return async (token) => {
    const { jose, keys } = await verifying();
    const { errors } = jose;
    let payload: JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, keys, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: [...options.algorithms],
        clockTolerance: options.clockToleranceS,
        requiredClaims: ["sub", "exp"],
      }));
    } catch (err) {
      const unavailable = keysUnavailable(err, errors);
      if (unavailable !== undefined)
        throw new AuthKeysUnavailableError(unavailable, { cause: err });
      const detail = problemOf(err, errors);
      throw new AuthenticationError(
        "TOKEN_INVALID",
        detail,
        `bearer token rejected: ${detail.replaceAll("_", " ")}`,
        { cause: err },
      );
    }
    return {
      principal: payload.sub as string,
      roles: rolesOf(payload[options.rolesClaim]),
      method: "jwt",
    };
  };
}

function rolesOf(claim: unknown): string[] {
  if (typeof claim === "string") return claim.split(/\s+/).filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((r): r is string => typeof r === "string");
  return [];
}

type Jose = typeof import("jose");

/** A JSON Web Key Set file: JSON with a `keys` array of objects (what jose checks too). */
function readKeySet(file: string): JSONWebKeySet {
  const keySet = JSON.parse(readFileSync(file, "utf8")) as Partial<JSONWebKeySet> | null;
  const keys = keySet?.keys;
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === "object" && k !== null)) {
    throw new Error(`${file} is not a JSON Web Key Set (an object with a "keys" array)`);
  }
  return keySet as JSONWebKeySet;
}

/** Which check a token failed, as a short stable word for ErrorInfo metadata. */
function problemOf(err: unknown, errors: Jose["errors"]): string {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "nbf") return "not_yet_valid";
    if (err.claim === "iss") return "wrong_issuer";
    if (err.claim === "aud") return "wrong_audience";
    return `claim_${err.claim}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return "algorithm_not_allowed";
  if (err instanceof errors.JWKSNoMatchingKey) return "unknown_key";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "bad_signature";
  return "malformed";
}

/**
 * Why the JWKS could not be had, when that is why verification failed: a
 * timeout, a network error (fetch throws a TypeError, not a JOSEError), a
 * response that is not 200 or not JSON (a bare JOSEError), or a key set that
 * is not one. Undefined when the token itself is the problem.
 */
function keysUnavailable(err: unknown, errors: Jose["errors"]): string | undefined {
  if (err instanceof errors.JWKSTimeout) return "jwks_timeout";
  if (err instanceof errors.JWKSInvalid) return "jwks_invalid";
  if (!(err instanceof errors.JOSEError)) return "jwks_unreachable";
  if (err.code === errors.JOSEError.code) return "jwks_bad_response";
  return undefined;
}
