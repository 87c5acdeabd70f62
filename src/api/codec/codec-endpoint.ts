import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { Payload, PayloadCodec } from "@temporalio/common";
import type { Logger } from "pino";
import { grants, type Role } from "../auth/access-table.js";
import { AuthenticationError, AuthKeysUnavailableError } from "../auth/authentication-error.js";
import type { Authenticator } from "../auth/authenticator.js";
import { peerCertificateKey, peerCertificateValues } from "../auth/peer-certificate.js";

/** connect-node's request and response types (its index does not export them by name). */
type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
type Request = Parameters<NodeHandler>[0];
type Response = Parameters<NodeHandler>[1];

/** Where the codec endpoint is served on the API port: `<prefix>/encode`, `<prefix>/decode`. */
export const CODEC_PATH_PREFIX = "/codec";

/** The role each operation needs: decoding shows customer data, encoding makes inputs. */
const OPERATION_ROLES: Record<string, Role> = { decode: "orders.read", encode: "orders.write" };

export interface CodecEndpointOptions {
  codec: PayloadCodec;
  /** Undefined: open (OMS_AUTH=none). */
  authenticate?: Authenticator;
  /** Origins allowed to call from a browser (the Temporal Web UI's); "*" allows any. */
  corsOrigins: readonly string[];
  maxBodyBytes: number;
  logger: Logger;
}

/**
 * Temporal's remote codec protocol for the Web UI and `temporal --codec-endpoint`:
 * POST `{"payloads":[{"metadata":{"k":"<base64>"},"data":"<base64>"}]}` to
 * `/encode` or `/decode` and get the same shape back. Preflight requests are
 * answered for the allowed origins; the calls themselves authenticate like
 * every RPC (bearer token or client certificate) and need a role.
 */
export function createCodecEndpoint(options: CodecEndpointOptions) {
  const { codec, logger } = options;
  return async (req: Request, res: Response): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const operation = url.pathname.startsWith(`${CODEC_PATH_PREFIX}/`)
      ? url.pathname.slice(CODEC_PATH_PREFIX.length + 1)
      : "";
    const role = OPERATION_ROLES[operation];
    if (role === undefined) return reply(res, 404, { message: "not found" });
    const origin = req.headers.origin;
    if (typeof origin === "string" && allowedOrigin(options.corsOrigins, origin)) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("access-control-allow-credentials", "true");
      res.setHeader("access-control-allow-methods", "POST, OPTIONS");
      res.setHeader("access-control-allow-headers", "content-type, x-namespace, authorization");
      res.setHeader("access-control-max-age", "600");
      res.setHeader("vary", "origin");
    }
    if (req.method === "OPTIONS") return reply(res, 204);
    if (req.method !== "POST") return reply(res, 405, { message: "use POST" });
    if (options.authenticate !== undefined) {
      try {
        const peer = peerCertificateValues(req).get(peerCertificateKey);
        const caller = await options.authenticate(req.headers.authorization ?? null, peer);
        if (!grants(caller.roles, role)) {
          logger.info({ principal: caller.principal, role, operation }, "codec call denied");
          return reply(res, 403, {
            message: `principal "${caller.principal}" lacks role "${role}" (or "admin")`,
            reason: "ROLE_REQUIRED",
          });
        }
      } catch (err) {
        if (err instanceof AuthKeysUnavailableError) {
          res.setHeader("retry-after", "5");
          return reply(res, 503, { message: err.message, reason: "AUTH_KEYS_UNAVAILABLE" });
        }
        if (!(err instanceof AuthenticationError)) throw err;
        return reply(res, 401, { message: err.message, reason: err.reason });
      }
    }
    let payloads: Payload[];
    try {
      payloads = fromJson(await readBody(req, options.maxBodyBytes));
    } catch (err) {
      return reply(res, 400, { message: (err as Error).message });
    }
    try {
      const out =
        operation === "decode" ? await codec.decode(payloads) : await codec.encode(payloads);
      return reply(res, 200, { payloads: out.map(toJson) });
    } catch (err) {
      logger.warn({ err, operation }, "codec endpoint failed");
      return reply(res, 400, { message: `cannot ${operation}: ${(err as Error).message}` });
    }
  };
}

function allowedOrigin(allowed: readonly string[], origin: string): boolean {
  return allowed.includes("*") || allowed.includes(origin);
}

function reply(res: Response, status: number, body?: object): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.setHeader("content-type", "application/json");
  res.writeHead(status);
  res.end(JSON.stringify(body));
}

async function readBody(req: Request, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new Error(`body larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

function fromJson(text: string): Payload[] {
  let body: { payloads?: JsonPayload[] };
  try {
    body = JSON.parse(text) as { payloads?: JsonPayload[] };
  } catch {
    throw new Error("body is not JSON");
  }
  if (!Array.isArray(body?.payloads)) throw new Error('expected {"payloads": [...]}');
  return body.payloads.map((p) => ({
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(String(v), "base64")]),
    ),
    data: Buffer.from(p.data ?? "", "base64"),
  }));
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([k, v]) => [
        k,
        Buffer.from(v ?? new Uint8Array()).toString("base64"),
      ]),
    ),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString("base64"),
  };
}
