/**
 * Why a caller is not authenticated. The interceptor turns it into
 * UNAUTHENTICATED with an ErrorInfo (reasons in docs/errors.md); `detail`
 * says which check failed and never echoes the credential.
 */
export class AuthenticationError extends Error {
  constructor(
    readonly reason: "CREDENTIALS_MISSING" | "TOKEN_INVALID" | "CLIENT_CERTIFICATE_INVALID",
    readonly detail: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AuthenticationError";
  }
}

/**
 * The keys that verify tokens cannot be had right now (the JWKS URL does not
 * answer, answers an error, or serves no valid key set): not the caller's
 * fault. Callers get UNAVAILABLE with reason AUTH_KEYS_UNAVAILABLE and retry.
 */
export class AuthKeysUnavailableError extends Error {
  constructor(
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`the token issuer's keys cannot be fetched (${detail}); retry later`, options);
    this.name = "AuthKeysUnavailableError";
  }
}

/** An authenticated caller: a principal name and the roles it holds. */
export interface Caller {
  principal: string;
  roles: readonly string[];
  /** How it authenticated. */
  method: "jwt" | "mtls" | "none";
}
