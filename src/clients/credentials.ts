/**
 * The credentials the worker presents to the downstream services: a bearer
 * token from a file that a platform rotates (a Kubernetes projected service
 * account token, a Vault agent sink, a SPIFFE JWT-SVID helper), and/or a TLS
 * client certificate for services that require mTLS.
 */
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type { Interceptor } from "@connectrpc/connect";

export interface DownstreamCredentialSettings {
  /** A file holding the bearer token; re-read when it changes. */
  tokenFile: string | undefined;
  /** CA to trust for https downstream URLs (the system's CAs when unset). */
  caPath: string | undefined;
  /** Client certificate and key for mTLS. */
  certPath: string | undefined;
  keyPath: string | undefined;
}

/** Options for createGrpcTransport: interceptors that add the token, and TLS material. */
export interface DownstreamCredentials {
  interceptors: Interceptor[];
  nodeOptions: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export function downstreamCredentials(
  settings: DownstreamCredentialSettings,
  /** Interceptors that add credentials of their own (`oms dev`'s minted token). */
  extra: Interceptor[] = [],
): DownstreamCredentials {
  const { tokenFile, caPath, certPath, keyPath } = settings;
  return {
    interceptors: [...(tokenFile !== undefined ? [tokenFileBearer(tokenFile)] : []), ...extra],
    nodeOptions: {
      ...(caPath ? { ca: readFileSync(caPath) } : {}),
      ...(certPath && keyPath ? { cert: readFileSync(certPath), key: readFileSync(keyPath) } : {}),
    },
  };
}

/** Sends a fixed bearer token (OMS_API_CLIENT_TOKEN, `oms load --token`). */
export function staticBearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/**
 * Sends `authorization: Bearer <token>` with the token held in `file`. The
 * file is read on the first call and read again whenever it has changed (a
 * `stat` before each call, or at most once per `checkIntervalMs`), so a
 * rotated token is used from the next call on, without a restart. A file
 * that cannot be read fails the call (the activity retries); a file that
 * disappears or is empty while a token is known keeps the last token.
 */
export function tokenFileBearer(file: string, checkIntervalMs = 0): Interceptor {
  let current: { token: string; version: string } | undefined;
  let checkedAt = 0;
  let checking: Promise<string> | undefined;

  const load = async (): Promise<string> => {
    let version: string;
    try {
      const s = await stat(file);
      version = `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch (err) {
      if (current !== undefined) return current.token;
      throw new Error(`downstream token file ${file}: ${(err as Error).message}`);
    }
    if (current?.version !== version) {
      const token = (await readFile(file, "utf8")).trim();
      if (token === "") {
        if (current !== undefined) return current.token;
        throw new Error(`downstream token file ${file} is empty`);
      }
      current = { token, version };
    }
    return current.token;
  };

  const token = (): Promise<string> => {
    const now = Date.now();
    if (current !== undefined && now - checkedAt < checkIntervalMs) {
      return Promise.resolve(current.token);
    }
    checking ??= load().finally(() => {
      checkedAt = Date.now();
      checking = undefined;
    });
    return checking;
  };

  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${await token()}`);
    return next(req);
  };
}
