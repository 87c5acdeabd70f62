import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** Issuer and audience of the tokens `oms dev` (OMS_AUTH=jwt) verifies and `oms token` mints. */
export const DEV_ISSUER = "oms-dev";
export const DEV_AUDIENCE = "oms";
const DEV_ALGORITHM = "ES256";

export interface DevJwtKeys {
  /** A JWKS file holding the public key, for the verifier. */
  jwksFile: string;
  /** The private key (JWK), for `oms token`; readable by its owner only. */
  privateKeyFile: string;
}

export function devJwtKeyFiles(dataDir: string): DevJwtKeys {
  const dir = path.join(dataDir, "auth");
  return {
    jwksFile: path.join(dir, "dev-jwks.json"),
    privateKeyFile: path.join(dir, "dev-jwt-private.jwk.json"),
  };
}

/** The development key pair under `<dataDir>/auth`, generated on first use and kept. */
export async function ensureDevJwtKeys(dataDir: string): Promise<DevJwtKeys> {
  const files = devJwtKeyFiles(dataDir);
  if (existsSync(files.jwksFile) && existsSync(files.privateKeyFile)) return files;
  mkdirSync(path.dirname(files.jwksFile), { recursive: true });
  const { publicKey, privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const kid = randomUUID();
  const common = { kid, alg: DEV_ALGORITHM, use: "sig" };
  writeFileSync(
    files.privateKeyFile,
    `${JSON.stringify({ ...(await exportJWK(privateKey)), ...common })}\n`,
    { mode: 0o600 },
  );
  chmodSync(files.privateKeyFile, 0o600);
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), ...common }] };
  writeFileSync(files.jwksFile, `${JSON.stringify(jwks, null, 2)}\n`);
  return files;
}

export interface MintOptions {
  subject: string;
  roles: readonly string[];
  ttlS: number;
  issuer?: string;
  audience?: string;
}

/** A token signed with the development key (what `oms token` prints). */
export async function mintDevToken(privateKeyFile: string, options: MintOptions): Promise<string> {
  const jwk = JSON.parse(readFileSync(privateKeyFile, "utf8")) as JWK;
  const key = await importJWK(jwk, jwk.alg ?? DEV_ALGORITHM);
  return new SignJWT({ roles: [...options.roles] })
    .setProtectedHeader({ alg: jwk.alg ?? DEV_ALGORITHM, kid: jwk.kid ?? "", typ: "JWT" })
    .setSubject(options.subject)
    .setIssuer(options.issuer ?? DEV_ISSUER)
    .setAudience(options.audience ?? DEV_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlS}s`)
    .sign(key);
}
