import { AuthenticationError, type Caller } from "./authentication-error.js";
import type { JwtVerifier } from "./jwt-verifier.js";
import { certificatePrincipal, type PeerCertificate } from "./peer-certificate.js";

export interface AuthenticatorOptions {
  /** Verifies bearer tokens; undefined: bearer tokens are refused. */
  jwt?: JwtVerifier;
  /**
   * Roles of certificate principals (OMS_AUTH_PRINCIPAL_ROLES); undefined:
   * client certificates do not authenticate.
   */
  certificateRoles?: ReadonlyMap<string, readonly string[]>;
}

/** Who a caller is, from its authorization header and its connection's client certificate. */
export type Authenticator = (
  authorization: string | null,
  peer: PeerCertificate,
) => Promise<Caller>;

/**
 * A bearer token, when sent, decides (and must be valid); otherwise a trusted
 * client certificate does. Throws AuthenticationError.
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return async (authorization: string | null, peer: PeerCertificate): Promise<Caller> => {
    if (authorization !== null) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (match === null) {
        throw new AuthenticationError(
          "TOKEN_INVALID",
          "malformed",
          'the authorization header must be "Bearer <token>"',
        );
      }
      if (options.jwt === undefined) {
        throw new AuthenticationError(
          "TOKEN_INVALID",
          "tokens_not_accepted",
          "this server does not accept bearer tokens; authenticate with a client certificate",
        );
      }
      return options.jwt(match[1] as string);
    }
    if (peer.kind === "untrusted") {
      throw new AuthenticationError(
        "CLIENT_CERTIFICATE_INVALID",
        peer.error,
        `client certificate rejected (${peer.error})`,
      );
    }
    if (peer.kind === "trusted" && options.certificateRoles !== undefined) {
      const principal = certificatePrincipal(peer);
      if (principal !== undefined) {
        return { principal, roles: options.certificateRoles.get(principal) ?? [], method: "mtls" };
      }
    }
    const accepted = [
      options.jwt && "a bearer token",
      options.certificateRoles && "a client certificate",
    ].filter(Boolean);
    throw new AuthenticationError(
      "CREDENTIALS_MISSING",
      "no_credentials",
      `credentials required: ${accepted.join(" or ")}`,
    );
  };
}
