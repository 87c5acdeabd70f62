/**
 * Credentials made at test time, never committed: a JWT issuer (key pair +
 * JWKS file) minting good and bad tokens, and a small PKI made with the
 * openssl CLI (a CA, a server certificate for 127.0.0.1, client certificates,
 * and a second CA nobody trusts).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";

export const TEST_ISSUER = "https://issuer.test.internal";
export const TEST_AUDIENCE = "oms-test";

export interface TokenOptions {
  subject?: string;
  roles?: string[];
  issuer?: string;
  audience?: string;
  /** Seconds from now (negative: in the past). */
  expiresIn?: number;
  notBefore?: number;
  /** Sign with a key the JWKS does not hold. */
  unknownKey?: boolean;
}

export interface TestIssuer {
  jwksFile: string;
  /** Environment that makes the API trust this issuer. */
  env: Record<string, string>;
  token(options?: TokenOptions): Promise<string>;
  /** An unsecured token (`alg: none`) with the given claims. */
  unsignedToken(options?: TokenOptions): string;
}

export async function createTestIssuer(dir: string): Promise<TestIssuer> {
  const trusted = await generateKeyPair("ES256");
  const stranger = await generateKeyPair("ES256");
  const jwksFile = path.join(dir, "jwks.json");
  const jwk = { ...(await exportJWK(trusted.publicKey)), kid: "trusted", alg: "ES256" };
  writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
  const claims = (o: TokenOptions): JWTPayload => {
    const now = Math.floor(Date.now() / 1000);
    return {
      sub: o.subject ?? "test-caller",
      roles: o.roles ?? [],
      iss: o.issuer ?? TEST_ISSUER,
      aud: o.audience ?? TEST_AUDIENCE,
      iat: now,
      exp: now + (o.expiresIn ?? 300),
      ...(o.notBefore !== undefined ? { nbf: now + o.notBefore } : {}),
    };
  };
  return {
    jwksFile,
    env: {
      OMS_AUTH_JWKS_FILE: jwksFile,
      OMS_AUTH_ISSUER: TEST_ISSUER,
      OMS_AUTH_AUDIENCE: TEST_AUDIENCE,
    },
    token: (o = {}) =>
      new SignJWT(claims(o))
        .setProtectedHeader({ alg: "ES256", kid: o.unknownKey ? "stranger" : "trusted" })
        .sign(o.unknownKey ? stranger.privateKey : trusted.privateKey),
    unsignedToken: (o = {}) => `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims(o))}.`,
  };
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** The same token with its payload changed (roles added) and the original signature. */
export function tamper(token: string, roles: string[]): string {
  const [header, payload, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(payload as string, "base64url").toString());
  return `${header}.${b64url({ ...claims, roles })}.${signature}`;
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Client certificates: file paths of cert and key. */
  clients: Record<"spiffe" | "commonName" | "foreign", { cert: string; key: string }>;
  read(file: string): Buffer;
}

/** A CA, a server certificate for 127.0.0.1/localhost and client certificates, with openssl. */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), "oms-pki-"));
  const p = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  /** A new P-256 key in `<name>.key` and, as openssl flags, what to make with it. */
  const newKey = (name: string, ...rest: string[]) =>
    openssl(
      ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"].concat(
        ["-keyout", `${name}.key`],
        rest,
      ),
    );
  const makeCa = (name: string) =>
    newKey(name, "-x509", "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`);
  const issue = (name: string, ca: string, subject: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    newKey(name, "-out", `${name}.csr`, "-subj", subject);
    openssl([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${ca}.crt`,
      "-CAkey",
      `${ca}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    ]);
    return { cert: p(`${name}.crt`), key: p(`${name}.key`) };
  };
  makeCa("test-ca");
  makeCa("other-ca");
  const server = issue(
    "server",
    "test-ca",
    "/CN=oms-api",
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
  );
  const client = "extendedKeyUsage=clientAuth\n";
  return {
    dir,
    ca: p("test-ca.crt"),
    serverCert: server.cert,
    serverKey: server.key,
    clients: {
      spiffe: issue(
        "checkout",
        "test-ca",
        "/CN=checkout-cn",
        `subjectAltName=URI:spiffe://example.internal/checkout\n${client}`,
      ),
      commonName: issue("courier", "test-ca", "/CN=courier-gateway", client),
      foreign: issue("foreign", "other-ca", "/CN=foreign", client),
    },
    read: (file) => readFileSync(file),
  };
}

/** Environment that makes the API serve TLS and ask for client certificates from the PKI's CA. */
export function apiTlsEnv(pki: TestPki, principalRolesFile: string): Record<string, string> {
  return {
    OMS_API_TLS_CERT: pki.serverCert,
    OMS_API_TLS_KEY: pki.serverKey,
    OMS_API_TLS_CLIENT_CA: pki.ca,
    OMS_AUTH_PRINCIPAL_ROLES: principalRolesFile,
  };
}

/** A keyring JSON (OMS_PAYLOAD_KEYS) with fresh random keys. */
export function testKeyring(activeKeyId: string, ids: string[] = [activeKeyId]): string {
  return JSON.stringify({
    activeKeyId,
    keys: Object.fromEntries(ids.map((id) => [id, randomBytes(32).toString("base64")])),
  });
}
