import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import {
  type ConnectionTimeouts,
  type ConnectServer,
  startConnectServer,
} from "../net/connect-server.js";

export { type ConnectionTimeouts, DEFAULT_CONNECTION_TIMEOUTS } from "../net/connect-server.js";

export interface ApiServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  routes: (router: ConnectRouter) => void;
  /** Outermost first. */
  interceptors: Interceptor[];
  maxMessageBytes: number;
  maxTimeoutMs: number;
  logger: Logger;
  /** DEFAULT_CONNECTION_TIMEOUTS unless overridden (tests shorten them). */
  timeouts?: Partial<ConnectionTimeouts>;
  /**
   * Serve TLS (ALPN h2 and http/1.1) instead of cleartext. With `ca`, clients
   * are asked for a certificate; the handshake does not require a trusted one:
   * the auth interceptor refuses calls that need one (see auth/peer-certificate.ts).
   */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  /** Per-call context values from the node request (e.g. the client certificate). */
  contextValues?: ConnectNodeAdapterOptions["contextValues"];
  /** Serves requests no RPC matches (e.g. the codec endpoint); 404 otherwise. */
  fallback?: ConnectNodeAdapterOptions["fallback"];
}

export type ApiServer = ConnectServer;

/**
 * The API's port: gRPC, gRPC-Web and Connect over h2c and HTTP/1.1 (or TLS),
 * served by src/net/connect-server.ts. Limits are explicit: the libraries'
 * default message limit is ~4 GiB and deadlines are uncapped.
 */
export function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  return startConnectServer({
    host: options.host,
    port: options.port,
    logger: options.logger,
    ...(options.timeouts ? { timeouts: options.timeouts } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
    adapter: {
      routes: options.routes,
      interceptors: options.interceptors,
      readMaxBytes: options.maxMessageBytes,
      writeMaxBytes: options.maxMessageBytes,
      maxTimeoutMs: options.maxTimeoutMs,
      ...(options.contextValues ? { contextValues: options.contextValues } : {}),
      ...(options.fallback ? { fallback: options.fallback } : {}),
    },
  });
}
