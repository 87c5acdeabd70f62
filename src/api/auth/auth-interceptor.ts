import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type UnaryRequest,
} from "@connectrpc/connect";
import type { Logger } from "pino";
import { errorInfo } from "../errors.js";
import { principalKey } from "../principal.js";
import { type AccessTable, accessOf, grants } from "./access-table.js";
import {
  AuthenticationError,
  AuthKeysUnavailableError,
  type Caller,
} from "./authentication-error.js";
import {
  type Authenticator,
  type AuthenticatorOptions,
  createAuthenticator,
} from "./authenticator.js";
import { peerCertificateKey } from "./peer-certificate.js";

export interface AuthInterceptorOptions extends AuthenticatorOptions {
  /** Access per RPC (access-table.ts). */
  table: AccessTable;
  logger: Logger;
}

/**
 * The one place that decides who may call what. Open RPCs (health,
 * reflection) pass; for every other RPC the caller authenticates with a bearer
 * token (when one is sent) or its TLS client certificate, and must hold the
 * RPC's role. Missing or bad credentials: UNAUTHENTICATED; a caller without
 * the role: PERMISSION_DENIED naming it. The principal is then set for the
 * handlers (timelines record it).
 */
export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  const { table, logger } = options;
  const authenticate = createAuthenticator(options);
  return (next) => async (req) => {
    const path = `/${req.service.typeName}/${req.method.name}`;
    const access = accessOf(table, path);
    if (access.kind === "open") return next(req);
    const caller = await authenticateCall(authenticate, req, logger);
    if (!grants(caller.roles, access.role)) {
      logger.info(
        { rpc: path, principal: caller.principal, role: access.role },
        "call denied: role missing",
      );
      throw new ConnectError(
        `principal "${caller.principal}" lacks role "${access.role}" (or "admin") for ${path}`,
        Code.PermissionDenied,
        undefined,
        [errorInfo("ROLE_REQUIRED", { role: access.role, principal: caller.principal })],
      );
    }
    // An audit line for every call that changes state; reads at debug.
    const level = access.role === "orders.read" ? "debug" : "info";
    logger[level](
      { rpc: path, principal: caller.principal, via: caller.method },
      "call authorized",
    );
    req.contextValues.set(principalKey, caller.principal);
    return next(req);
  };
}

/**
 * Only authentication, for services without roles (the reference downstream
 * services): every call must come from an authenticated caller, whose
 * principal is set for the handlers.
 */
export function createAuthenticationInterceptor(
  authenticate: Authenticator,
  logger: Logger,
): Interceptor {
  return (next) => async (req) => {
    const caller = await authenticateCall(authenticate, req, logger);
    logger.debug(
      { rpc: `/${req.service.typeName}/${req.method.name}`, principal: caller.principal },
      "call authenticated",
    );
    req.contextValues.set(principalKey, caller.principal);
    return next(req);
  };
}

/**
 * Who is calling, from the call's authorization header and its connection's
 * client certificate. Bad or missing credentials: UNAUTHENTICATED; the
 * issuer's keys out of reach: UNAVAILABLE (the caller retries); both with
 * an ErrorInfo.
 */
async function authenticateCall(
  authenticate: Authenticator,
  req: UnaryRequest | StreamRequest,
  logger: Logger,
): Promise<Caller> {
  const rpc = `/${req.service.typeName}/${req.method.name}`;
  try {
    return await authenticate(
      req.header.get("authorization"),
      req.contextValues.get(peerCertificateKey),
    );
  } catch (err) {
    if (err instanceof AuthKeysUnavailableError) {
      logger.warn(
        { rpc, problem: err.detail, cause: (err.cause as Error | undefined)?.message },
        "call not authenticated: the token issuer's keys are unavailable",
      );
      throw new ConnectError(err.message, Code.Unavailable, undefined, [
        errorInfo("AUTH_KEYS_UNAVAILABLE", { problem: err.detail }),
      ]);
    }
    if (!(err instanceof AuthenticationError)) throw err;
    logger.info({ rpc, reason: err.reason, problem: err.detail }, "call unauthenticated");
    throw new ConnectError(err.message, Code.Unauthenticated, undefined, [
      errorInfo(err.reason, { problem: err.detail }),
    ]);
  }
}
