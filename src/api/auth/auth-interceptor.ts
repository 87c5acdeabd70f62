import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { errorInfo } from "../errors.js";
import { principalKey } from "../principal.js";
import { type AccessTable, accessOf, grants } from "./access-table.js";
import { AuthenticationError, type Caller } from "./authentication-error.js";
import { type AuthenticatorOptions, createAuthenticator } from "./authenticator.js";
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
    let caller: Caller;
    try {
      caller = await authenticate(
        req.header.get("authorization"),
        req.contextValues.get(peerCertificateKey),
      );
    } catch (err) {
      if (!(err instanceof AuthenticationError)) throw err;
      logger.info({ rpc: path, reason: err.reason, problem: err.detail }, "call unauthenticated");
      throw new ConnectError(err.message, Code.Unauthenticated, undefined, [
        errorInfo(err.reason, { problem: err.detail }),
      ]);
    }
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
