import { readFileSync } from "node:fs";
import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { SecurityConfig } from "../../config/security-config.js";
import { BUSINESS_SERVICES } from "../routes.js";
import { createAccessTable } from "./access-table.js";
import { createAuthInterceptor } from "./auth-interceptor.js";
import { type Authenticator, createAuthenticator } from "./authenticator.js";
import { createJwtVerifier } from "./jwt-verifier.js";
import { peerCertificateValues } from "./peer-certificate.js";

/** The authentication methods a configuration enables ("jwt", "mtls"); none: the API is open. */
export function authMethods(security: SecurityConfig): ("jwt" | "mtls")[] {
  if (security.authMode === "none") return [];
  const methods: ("jwt" | "mtls")[] = [];
  if (security.jwt.jwksUrl !== undefined || security.jwt.jwksFile !== undefined) {
    methods.push("jwt");
  }
  if (security.apiTls?.clientCaPath !== undefined) methods.push("mtls");
  return methods;
}

/** What the API server needs for authentication and TLS. */
export interface ApiSecurity {
  /** Between the error and validation interceptors; empty when the API is open. */
  interceptors: Interceptor[];
  /** For endpoints outside Connect (the codec endpoint); undefined when open. */
  authenticate: Authenticator | undefined;
  tls: { cert: Buffer; key: Buffer; ca?: Buffer } | undefined;
  contextValues: typeof peerCertificateValues;
}

/**
 * Builds the auth interceptor from the contract's access table and the
 * configured methods. Throws when an RPC has no role (access-table.ts) or a
 * JWKS file cannot be read. With no method the API is open, with a warning.
 */
export function createApiSecurity(security: SecurityConfig, logger: Logger): ApiSecurity {
  const table = createAccessTable(BUSINESS_SERVICES, security.openServices);
  const methods = authMethods(security);
  const tls = security.apiTls && {
    cert: readFileSync(security.apiTls.certPath),
    key: readFileSync(security.apiTls.keyPath),
    ...(security.apiTls.clientCaPath ? { ca: readFileSync(security.apiTls.clientCaPath) } : {}),
  };
  if (methods.length === 0) {
    logger.warn(
      "API authentication is OFF: any caller that reaches the port may submit, cancel and read every order",
    );
    return { interceptors: [], authenticate: undefined, tls, contextValues: peerCertificateValues };
  }
  const { jwt } = security;
  const options = {
    ...(methods.includes("jwt")
      ? {
          jwt: createJwtVerifier({
            ...(jwt.jwksUrl !== undefined ? { jwksUrl: jwt.jwksUrl } : {}),
            ...(jwt.jwksFile !== undefined ? { jwksFile: jwt.jwksFile } : {}),
            issuer: jwt.issuer as string,
            audience: jwt.audience as string,
            algorithms: jwt.algorithms,
            clockToleranceS: jwt.clockToleranceS,
            rolesClaim: jwt.rolesClaim,
          }),
        }
      : {}),
    ...(methods.includes("mtls") ? { certificateRoles: security.principalRoles ?? new Map() } : {}),
  };
  logger.info({ methods, openServices: security.openServices }, "API authentication on");
  return {
    interceptors: [createAuthInterceptor({ ...options, table, logger })],
    authenticate: createAuthenticator(options),
    tls,
    contextValues: peerCertificateValues,
  };
}
