/**
 * How each command applies the security settings: `oms api` and `oms worker`
 * refuse to start without them unless they are turned off explicitly; `oms dev`
 * fills in development keys under its data folder; `oms token` mints tokens
 * for those keys.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ROLES } from "../api/auth/access-table.js";
import { authMethods } from "../api/auth/api-security.js";
import { type Authenticator, createAuthenticator } from "../api/auth/authenticator.js";
import {
  DEV_AUDIENCE,
  DEV_ISSUER,
  devJwtKeyFiles,
  ensureDevJwtKeys,
  mintDevToken,
} from "../api/auth/dev-keys.js";
import { createJwtVerifier } from "../api/auth/jwt-verifier.js";
import { staticBearer } from "../clients/credentials.js";
import { type Config, ConfigError, loadConfig } from "../config/config.js";
import { ensureDevKeyring } from "../temporal/codec/data-converter.js";

/** `oms api`: an authentication method, or OMS_AUTH=none (warned on every start). */
export function requireApiAuth(config: Config): void {
  const { security } = config;
  if (security.authMode !== "none" && authMethods(security).length === 0) {
    throw new ConfigError([
      "no authentication method: set OMS_AUTH_JWKS_URL or OMS_AUTH_JWKS_FILE (bearer tokens), or OMS_API_TLS_CERT, OMS_API_TLS_KEY and OMS_API_TLS_CLIENT_CA (client certificates); OMS_AUTH=none runs the API open",
    ]);
  }
  if (security.authMode === "jwt" && !authMethods(security).includes("jwt")) {
    throw new ConfigError(["OMS_AUTH=jwt needs OMS_AUTH_JWKS_URL or OMS_AUTH_JWKS_FILE"]);
  }
}

/** `oms api` and `oms worker`: a payload keyring, or OMS_PAYLOAD_KEYS=none (warned on every start). */
export function requirePayloadKeys(config: Config, logger: Logger): void {
  const keys = config.security.payloadKeys;
  if (keys === undefined) {
    throw new ConfigError([
      'OMS_PAYLOAD_KEYS must be set: a keyring (JSON or a file holding {"activeKeyId": …, "keys": {…}}) encrypting customer data in Temporal; OMS_PAYLOAD_KEYS=none stores it in plain text',
    ]);
  }
  if (keys === "none") {
    logger.warn(
      "payload encryption is OFF (OMS_PAYLOAD_KEYS=none): customer data is stored in Temporal in plain text",
    );
  }
}

/** What `oms dev` tells in its banner about security. */
export interface DevSecurity {
  auth: string;
  payloads: string;
  /** Credentials of the simulated courier when authentication is on. */
  courierInterceptors: Interceptor[];
  /** Credentials of the worker's downstream calls when authentication is on. */
  workerInterceptors: Interceptor[];
}

/** Audience of the tokens the reference downstream services accept under `oms dev`. */
export const DEV_DOWNSTREAM_AUDIENCE = "oms-downstream";

/**
 * `oms dev`: a development keyring under the data folder unless
 * OMS_PAYLOAD_KEYS is set; with OMS_AUTH=jwt and no JWKS, a development key
 * pair (for `oms token`) whose public half the API trusts.
 */
export async function prepareDevSecurity(config: Config, logger: Logger): Promise<DevSecurity> {
  const { security } = config;
  let payloads = "encrypted (OMS_PAYLOAD_KEYS)";
  if (security.payloadKeys === undefined) {
    security.payloadKeys = ensureDevKeyring(config.dataDir);
    payloads = `encrypted with a development keyring (${config.dataDir}/payload-keys.json)`;
  } else if (security.payloadKeys === "none") {
    requirePayloadKeys(config, logger);
    payloads = "NOT encrypted (OMS_PAYLOAD_KEYS=none)";
  }
  const courierInterceptors: Interceptor[] = [];
  const workerInterceptors: Interceptor[] = [];
  const jwt = security.jwt;
  if (security.authMode === "jwt" && jwt.jwksUrl === undefined && jwt.jwksFile === undefined) {
    const keys = await ensureDevJwtKeys(config.dataDir);
    jwt.jwksFile = keys.jwksFile;
    jwt.issuer = DEV_ISSUER;
    jwt.audience = DEV_AUDIENCE;
    courierInterceptors.push(
      refreshingBearer(() =>
        mintDevToken(keys.privateKeyFile, {
          subject: "reference-courier",
          roles: ["shipments.report"],
          ttlS: 3_600,
        }),
      ),
    );
    // The reference services require tokens too, for their own audience;
    // the worker presents one minted for it (unless it has a token file).
    const ref = security.reference.jwt;
    if (ref.jwksUrl === undefined && ref.jwksFile === undefined) {
      ref.jwksFile = keys.jwksFile;
      ref.issuer = DEV_ISSUER;
      ref.audience = DEV_DOWNSTREAM_AUDIENCE;
    }
    if (security.downstreamClient.tokenFile === undefined) {
      workerInterceptors.push(
        refreshingBearer(() =>
          mintDevToken(keys.privateKeyFile, {
            subject: "worker",
            roles: [],
            ttlS: 3_600,
            audience: DEV_DOWNSTREAM_AUDIENCE,
          }),
        ),
      );
    }
  }
  const methods = authMethods(security);
  const auth =
    methods.length === 0
      ? "OPEN: no authentication (OMS_AUTH=jwt turns on tokens)"
      : `on (${methods.join(", ")})${
          workerInterceptors.length > 0
            ? "; the reference services require tokens too (the worker and the courier have their own)"
            : ""
        }`;
  return { auth, payloads, courierInterceptors, workerInterceptors };
}

/**
 * How the reference downstream services authenticate their callers
 * (OMS_REFERENCE_AUTH_*, OMS_REFERENCE_TLS_*): the API's verification code,
 * with the reference services' own issuer, audience and CA. Any valid
 * caller is accepted (they have no roles); nothing configured: open.
 */
export function referenceServicesSecurity(config: Config): {
  authenticate?: Authenticator;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
} {
  const { reference, jwt } = config.security;
  const tls = reference.tls && {
    cert: readFileSync(reference.tls.certPath),
    key: readFileSync(reference.tls.keyPath),
    ...(reference.tls.clientCaPath ? { ca: readFileSync(reference.tls.clientCaPath) } : {}),
  };
  const tokens = reference.jwt.jwksUrl !== undefined || reference.jwt.jwksFile !== undefined;
  if (!tokens && tls?.ca === undefined) return tls ? { tls } : {};
  const authenticate = createAuthenticator({
    ...(tokens
      ? {
          jwt: createJwtVerifier({
            ...(reference.jwt.jwksUrl !== undefined ? { jwksUrl: reference.jwt.jwksUrl } : {}),
            ...(reference.jwt.jwksFile !== undefined ? { jwksFile: reference.jwt.jwksFile } : {}),
            issuer: reference.jwt.issuer as string,
            audience: reference.jwt.audience as string,
            algorithms: jwt.algorithms,
            clockToleranceS: jwt.clockToleranceS,
            rolesClaim: jwt.rolesClaim,
          }),
        }
      : {}),
    // Every certificate from the CA authenticates; the services have no roles.
    ...(tls?.ca !== undefined ? { certificateRoles: new Map<string, string[]>() } : {}),
  });
  return { authenticate, ...(tls ? { tls } : {}) };
}

/** Sends `authorization: Bearer <token>`, minting a new token every half hour. */
export function refreshingBearer(mint: () => Promise<string>): Interceptor {
  let current: { token: Promise<string>; at: number } | undefined;
  return (next) => async (req) => {
    if (current === undefined || Date.now() - current.at > 1_800_000) {
      current = { token: mint(), at: Date.now() };
    }
    req.header.set("authorization", `Bearer ${await current.token}`);
    return next(req);
  };
}

export { staticBearer };

const TOKEN_USAGE = `usage: oms token [--subject S] --role R [--role R2 …] [--ttl 1h]
Mints a bearer token for \`oms dev\` with OMS_AUTH=jwt (development key pair under OMS_DATA_DIR).
Roles: ${ROLES.join(", ")}.`;

/** `oms token`: prints a token signed with the development key. */
export async function runTokenCommand(
  args: string[],
  out: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  let values: { subject?: string; role?: string[]; ttl?: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        subject: { type: "string", default: "dev" },
        role: { type: "string", multiple: true, default: [] },
        ttl: { type: "string", default: "1h" },
      },
    }));
  } catch (err) {
    out.stderr.write(`${(err as Error).message}\n${TOKEN_USAGE}\n`);
    return 2;
  }
  const roles = values.role ?? [];
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  const ttlS = parseTtl(values.ttl ?? "1h");
  if (roles.length === 0 || unknown.length > 0 || ttlS === undefined) {
    const why =
      roles.length === 0
        ? "at least one --role is needed"
        : unknown.length > 0
          ? `unknown role ${unknown.join(", ")}`
          : `bad --ttl ${values.ttl} (e.g. 90s, 15m, 1h, 7d)`;
    out.stderr.write(`${why}\n${TOKEN_USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const keys = devJwtKeyFiles(config.dataDir);
  try {
    const token = await mintDevToken(keys.privateKeyFile, {
      subject: values.subject ?? "dev",
      roles,
      ttlS,
    });
    out.stdout.write(`${token}\n`);
    return 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    out.stderr.write(
      `no development key in ${keys.privateKeyFile}: start \`oms dev\` with OMS_AUTH=jwt once (same OMS_DATA_DIR)\n`,
    );
    return 1;
  }
}

function parseTtl(text: string): number | undefined {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (match === null) return undefined;
  const unit = { s: 1, m: 60, h: 3_600, d: 86_400 }[(match[2] ?? "s") as "s"];
  const ttl = Number(match[1]) * unit;
  return ttl > 0 ? ttl : undefined;
}

/**
 * Transport options for calling the OMS API from this process (the simulated
 * courier): OMS_API_CLIENT_TOKEN as a bearer token, OMS_API_CLIENT_CA to trust
 * a TLS API, OMS_API_CLIENT_CERT/KEY as a client certificate, plus `extra`
 * interceptors (`oms dev`'s own tokens).
 */
export function apiClientOptions(config: Config, extra: Interceptor[] = []) {
  const { token, caPath, certPath, keyPath } = config.security.apiClient;
  const interceptors = [...extra];
  if (token !== undefined) interceptors.push(staticBearer(token));
  const nodeOptions = {
    ...(caPath ? { ca: readFileSync(caPath) } : {}),
    ...(certPath && keyPath ? { cert: readFileSync(certPath), key: readFileSync(keyPath) } : {}),
  };
  return { interceptors, nodeOptions };
}
