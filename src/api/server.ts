import { setMaxListeners } from "node:events";
import http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";

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
}

export interface ApiServer {
  port: number;
  /** Base URL for clients, e.g. http://127.0.0.1:50051 */
  url: string;
  /**
   * Stops accepting connections, lets in-flight calls finish for up to
   * `graceMs`, then aborts what is left (handlers see ctx.signal abort) and
   * closes. Long-lived streams should end themselves on a signal of their own
   * that the caller aborts before calling close.
   */
  close(graceMs: number): Promise<void>;
}

/**
 * One h2c port serving gRPC, gRPC-Web and Connect. Limits are explicit: the
 * libraries' default message limit is ~4 GiB and deadlines are uncapped.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const shutdown = new AbortController();
  // Connect adds one abort listener per call in flight: many calls are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    maxTimeoutMs: options.maxTimeoutMs,
    shutdownSignal: shutdown.signal,
  });
  const server = http2.createServer(handler);
  // Sessions are tracked because server.close() alone leaves open sessions accepting new streams.
  const sessions = new Set<http2.Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.on("sessionError", (err) => options.logger.debug({ err }, "http2 session error"));
  // Raw sockets too: a session whose client reset a stream can end up closed
  // while its socket stays open, and server.close() would wait for it forever.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close(graceMs) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // GOAWAY: no new streams; streams in flight may finish.
        for (const session of sessions) session.close();
        const deadline = Date.now() + graceMs;
        const sweep = setInterval(() => {
          const idle = [...sessions].every((s) => s.closed || s.destroyed);
          if (!idle && Date.now() < deadline) return;
          // Grace over (or nothing left in flight): abort handlers, drop connections.
          shutdown.abort();
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        }, 50);
        await closed;
        clearInterval(sweep);
      })();
      return closing;
    },
  };
}
