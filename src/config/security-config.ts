import { readFileSync } from "node:fs";
import path from "node:path";
import { DEFAULT_OPEN_SERVICES, ROLES } from "../api/auth/access-table.js";
import { DEFAULT_JWT_ALGORITHMS } from "../api/auth/jwt-verifier.js";
import { type Keyring, readKeyringSetting } from "../temporal/codec/keyring.js";

/** Authentication, API TLS and payload encryption settings (docs/security.md). */
export interface SecurityConfig {
  /**
   * OMS_AUTH. "auto" (unset): the methods configured below; `oms api` refuses
   * to start with none. "none": no authentication, logged as a warning on
   * every start. "jwt": bearer tokens; `oms dev` makes a development key pair
   * when no JWKS is configured.
   */
  authMode: "auto" | "none" | "jwt";
  jwt: {
    jwksUrl: string | undefined;
    jwksFile: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    algorithms: string[];
    clockToleranceS: number;
    rolesClaim: string;
  };
  /** Roles of certificate principals (OMS_AUTH_PRINCIPAL_ROLES); undefined when not set. */
  principalRoles: Map<string, string[]> | undefined;
  /** Services callable without credentials (OMS_AUTH_OPEN_SERVICES). */
  openServices: string[];
  /** The API serves TLS when set; with clientCaPath it asks for client certificates. */
  apiTls: { certPath: string; keyPath: string; clientCaPath: string | undefined } | undefined;
  /** OMS_PAYLOAD_KEYS: a keyring, "none" (plain payloads, warned), or unset. */
  payloadKeys: Keyring | "none" | undefined;
  /** Origins allowed to call the codec endpoint from a browser (the Temporal Web UI's). */
  codecCorsOrigins: string[];
  /** How this process calls the OMS API itself (the simulated courier): a bearer token, TLS trust and a client certificate. */
  apiClient: {
    token: string | undefined;
    caPath: string | undefined;
    certPath: string | undefined;
    keyPath: string | undefined;
  };
  /**
   * The worker's credentials for the downstream services: a bearer token read
   * from a file (re-read when it changes), TLS trust and a client certificate.
   */
  downstreamClient: {
    tokenFile: string | undefined;
    caPath: string | undefined;
    certPath: string | undefined;
    keyPath: string | undefined;
  };
  /**
   * What the reference downstream services require of their callers
   * (`oms reference-services`, `oms dev`): bearer tokens from this issuer,
   * and/or TLS with client certificates from a CA. Nothing set: open.
   */
  reference: {
    jwt: {
      jwksUrl: string | undefined;
      jwksFile: string | undefined;
      issuer: string | undefined;
      audience: string | undefined;
    };
    tls: { certPath: string; keyPath: string; clientCaPath: string | undefined } | undefined;
  };
}

interface Reader {
  optional(name: string): string | undefined;
  string(name: string, fallback: string): string;
  int(name: string, fallback: number, min: number, max: number): number;
  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T;
}

const list = (value: string | undefined): string[] | undefined =>
  value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export function readSecurityConfig(read: Reader, cwd: string, problems: string[]): SecurityConfig {
  const file = (name: string) => {
    const value = read.optional(name);
    return value === undefined ? undefined : path.resolve(cwd, value);
  };
  const config: SecurityConfig = {
    authMode: read.oneOf("OMS_AUTH", "auto", ["auto", "none", "jwt"] as const),
    jwt: {
      jwksUrl: read.optional("OMS_AUTH_JWKS_URL"),
      jwksFile: file("OMS_AUTH_JWKS_FILE"),
      issuer: read.optional("OMS_AUTH_ISSUER"),
      audience: read.optional("OMS_AUTH_AUDIENCE"),
      algorithms: list(read.optional("OMS_AUTH_ALGORITHMS")) ?? [...DEFAULT_JWT_ALGORITHMS],
      clockToleranceS: read.int("OMS_AUTH_CLOCK_TOLERANCE_S", 30, 0, 600),
      rolesClaim: read.string("OMS_AUTH_ROLES_CLAIM", "roles"),
    },
    principalRoles: readPrincipalRoles(file("OMS_AUTH_PRINCIPAL_ROLES"), problems),
    openServices: list(read.optional("OMS_AUTH_OPEN_SERVICES")) ?? [...DEFAULT_OPEN_SERVICES],
    apiTls: undefined,
    payloadKeys: undefined,
    codecCorsOrigins: list(read.optional("OMS_CODEC_CORS_ORIGINS")) ?? [],
    apiClient: {
      token: read.optional("OMS_API_CLIENT_TOKEN"),
      caPath: file("OMS_API_CLIENT_CA"),
      certPath: file("OMS_API_CLIENT_CERT"),
      keyPath: file("OMS_API_CLIENT_KEY"),
    },
    downstreamClient: {
      tokenFile: file("OMS_DOWNSTREAM_TOKEN_FILE"),
      caPath: file("OMS_DOWNSTREAM_TLS_CA"),
      certPath: file("OMS_DOWNSTREAM_TLS_CERT"),
      keyPath: file("OMS_DOWNSTREAM_TLS_KEY"),
    },
    reference: {
      jwt: {
        jwksUrl: read.optional("OMS_REFERENCE_AUTH_JWKS_URL"),
        jwksFile: file("OMS_REFERENCE_AUTH_JWKS_FILE"),
        issuer: read.optional("OMS_REFERENCE_AUTH_ISSUER"),
        audience: read.optional("OMS_REFERENCE_AUTH_AUDIENCE"),
      },
      tls: undefined,
    },
  };

  const { jwt } = config;
  if (jwt.jwksUrl !== undefined && jwt.jwksFile !== undefined) {
    problems.push("set only one of OMS_AUTH_JWKS_URL and OMS_AUTH_JWKS_FILE");
  }
  if (jwt.jwksUrl !== undefined || jwt.jwksFile !== undefined) {
    if (jwt.issuer === undefined) problems.push("OMS_AUTH_ISSUER must be set with a JWKS");
    if (jwt.audience === undefined) problems.push("OMS_AUTH_AUDIENCE must be set with a JWKS");
  }
  if (jwt.algorithms.some((alg) => alg.toLowerCase() === "none")) {
    problems.push('OMS_AUTH_ALGORITHMS must not allow "none"');
  }

  config.apiTls = serverTls("OMS_API_TLS", file, problems);
  if (config.principalRoles !== undefined && config.apiTls?.clientCaPath === undefined) {
    problems.push("OMS_AUTH_PRINCIPAL_ROLES needs OMS_API_TLS_CLIENT_CA (certificate principals)");
  }

  const client = config.downstreamClient;
  if ((client.certPath === undefined) !== (client.keyPath === undefined)) {
    problems.push("OMS_DOWNSTREAM_TLS_CERT and OMS_DOWNSTREAM_TLS_KEY must be set together");
  }
  const ref = config.reference.jwt;
  if (ref.jwksUrl !== undefined && ref.jwksFile !== undefined) {
    problems.push("set only one of OMS_REFERENCE_AUTH_JWKS_URL and OMS_REFERENCE_AUTH_JWKS_FILE");
  }
  if (
    (ref.jwksUrl !== undefined || ref.jwksFile !== undefined) &&
    (ref.issuer === undefined || ref.audience === undefined)
  ) {
    problems.push(
      "OMS_REFERENCE_AUTH_ISSUER and OMS_REFERENCE_AUTH_AUDIENCE must be set with a reference JWKS",
    );
  }
  config.reference.tls = serverTls("OMS_REFERENCE_TLS", file, problems);

  const keys = read.optional("OMS_PAYLOAD_KEYS");
  if (keys === "none") config.payloadKeys = "none";
  else if (keys !== undefined) {
    const value = keys.trimStart().startsWith("{") ? keys : path.resolve(cwd, keys);
    try {
      config.payloadKeys = readKeyringSetting(value, read.optional("OMS_PAYLOAD_ACTIVE_KEY"));
    } catch (err) {
      problems.push(`OMS_PAYLOAD_KEYS: ${(err as Error).message}`);
    }
  }
  return config;
}

/** A server's TLS settings `<prefix>_CERT`, `_KEY` (both or neither) and `_CLIENT_CA` (mTLS). */
function serverTls(
  prefix: string,
  file: (name: string) => string | undefined,
  problems: string[],
): { certPath: string; keyPath: string; clientCaPath: string | undefined } | undefined {
  const certPath = file(`${prefix}_CERT`);
  const keyPath = file(`${prefix}_KEY`);
  const clientCaPath = file(`${prefix}_CLIENT_CA`);
  if ((certPath === undefined) !== (keyPath === undefined)) {
    problems.push(`${prefix}_CERT and ${prefix}_KEY must be set together`);
  } else if (certPath !== undefined && keyPath !== undefined) {
    return { certPath, keyPath, clientCaPath };
  } else if (clientCaPath !== undefined) {
    problems.push(`${prefix}_CLIENT_CA needs ${prefix}_CERT and ${prefix}_KEY`);
  }
  return undefined;
}

/** `{"spiffe://example.internal/checkout": ["orders.write", "orders.read"], "ops-cli": ["admin"]}` */
function readPrincipalRoles(
  file: string | undefined,
  problems: string[],
): Map<string, string[]> | undefined {
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    problems.push(`OMS_AUTH_PRINCIPAL_ROLES: cannot read ${file} (${(err as Error).message})`);
    return undefined;
  }
  const roles = new Map<string, string[]>();
  for (const [principal, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (
      !Array.isArray(value) ||
      value.some((r) => !(ROLES as readonly string[]).includes(String(r)))
    ) {
      problems.push(
        `OMS_AUTH_PRINCIPAL_ROLES: ${principal}: expected a list of roles from ${ROLES.join(", ")}`,
      );
      continue;
    }
    roles.set(principal, value as string[]);
  }
  return roles;
}
