import { setMaxListeners } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import net, { type AddressInfo, type Socket } from "node:net";
import tls from "node:tls";
import { type ConnectNodeAdapterOptions, connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";

/** Timeouts of a connection before it is known to be HTTP/2, and of HTTP/1.1 connections. */
export interface ConnectionTimeouts {
  /** A new connection must send the HTTP/2 preface or its first HTTP/1.1 bytes within this. */
  prefaceMs: number;
  /** An HTTP/1.1 request's headers must arrive within this (Node's `headersTimeout`). */
  headersMs: number;
  /**
   * An HTTP/1.1 request must arrive whole (headers and body) within this (Node's
   * `requestTimeout`). It ends with the request: a response streaming afterwards,
   * such as WatchOrder, is not limited by it.
   */
  requestMs: number;
  /** An idle HTTP/1.1 keep-alive connection is closed after this (Node's `keepAliveTimeout`). */
  keepAliveMs: number;
  /** How often Node checks `headersMs` and `requestMs` (its `connectionsCheckingInterval`). */
  checkIntervalMs: number;
}

export const DEFAULT_CONNECTION_TIMEOUTS: ConnectionTimeouts = {
  prefaceMs: 10_000,
  headersMs: 20_000,
  requestMs: 300_000,
  // Node's default; undici and browsers close idle connections sooner (4 s), so
  // a client rarely reuses a connection the server is just closing.
  keepAliveMs: 5_000,
  // Node's default is 30 s, which would let a slow client hold a connection
  // for up to headersMs + 30 s.
  checkIntervalMs: 1_000,
};

/** Options of {@link startConnectServer}. */
export interface ConnectServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The Connect handler's options; the server owns `shutdownSignal`. */
  adapter: Omit<ConnectNodeAdapterOptions, "shutdownSignal">;
  /** Connection problems are logged at debug, listener errors at error. */
  logger: Pick<Logger, "debug" | "error">;
  /** DEFAULT_CONNECTION_TIMEOUTS unless overridden (tests shorten them). */
  timeouts?: Partial<ConnectionTimeouts>;
  /**
   * Serve TLS (ALPN h2 and http/1.1) instead of cleartext. With `ca`, clients
   * are asked for a certificate; the handshake does not require a trusted one:
   * an interceptor refuses calls that need one.
   */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
}

export interface ConnectServer {
  port: number;
  /** Base URL for clients, e.g. http://127.0.0.1:50051 */
  url: string;
  /**
   * Stops accepting connections, lets in-flight calls finish for up to
   * `graceMs`, then aborts what is left (handlers see ctx.signal abort),
   * destroys every socket still open, and closes. Long-lived streams should
   * end themselves on a signal of their own that the caller aborts first.
   */
  close(graceMs: number): Promise<void>;
}

/** What every HTTP/2 client sends first on a cleartext connection ("prior knowledge"). */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * One port serving gRPC, gRPC-Web and Connect over HTTP/2 (h2c, prior
 * knowledge) and HTTP/1.1, for the API and the reference services alike: a
 * net.Server accepts each connection, reads until its first bytes match the
 * HTTP/2 preface or cannot, and hands it to an http2.Server or an http.Server,
 * both with the same Connect handler. (http2's allowHTTP1 needs TLS: it picks
 * the protocol by ALPN.)
 */
export async function startConnectServer(options: ConnectServerOptions): Promise<ConnectServer> {
  const timeouts = { ...DEFAULT_CONNECTION_TIMEOUTS, ...options.timeouts };
  const { logger } = options;
  const shutdown = new AbortController();
  // Connect adds one abort listener per call in flight: many calls are normal, not a leak.
  setMaxListeners(0, shutdown.signal);
  const handler = connectNodeAdapter({ ...options.adapter, shutdownSignal: shutdown.signal });
  let draining = false;

  const h2 = http2.createServer(handler);
  // Sessions are tracked because closing the listener alone leaves open sessions accepting new streams.
  const sessions = new Set<http2.Http2Session>();
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  h2.on("sessionError", (err) => logger.debug({ err }, "http2 session error"));
  // HTTP/2 calls in flight: a session's `closed` turns true as soon as close()
  // is called, while its streams still run, so the streams are counted.
  const h2Calls = new Set<http2.ServerHttp2Stream>();
  h2.on("stream", (stream) => {
    h2Calls.add(stream);
    stream.once("close", () => h2Calls.delete(stream));
  });

  // An HTTP/1.1 response counts as a call in flight until it is finished or its connection is gone.
  const h1Calls = new Set<http.ServerResponse>();
  // Node's default clientError handler answers 400 (408 on a timeout) and closes the connection.
  const h1 = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      connectionsCheckingInterval: timeouts.checkIntervalMs,
    },
    (req, res) => {
      h1Calls.add(res);
      res.once("close", () => h1Calls.delete(res));
      // Like GOAWAY: finish this call, then close the connection.
      if (draining) res.setHeader("connection", "close");
      handler(req, res);
    },
  );
  // http.Server tracks its connections (for headersTimeout, requestTimeout and
  // closeIdleConnections) from its "listening" event on; it never listens
  // itself here, so it is told that the port is open.
  h1.emit("listening");

  // Every accepted socket, whichever protocol: a session whose client reset a
  // stream can end up closed while its socket stays open, and an HTTP/1.1
  // keep-alive socket stays open between calls; both would hold the close.
  const sockets = new Set<Socket>();
  // Sockets whose protocol is not known yet.
  const undecided = new Set<Socket>();
  const cleartextListener = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    if (draining) {
      socket.destroy();
      return;
    }
    undecided.add(socket);
    let head: Buffer = Buffer.alloc(0);
    const onError = (err: Error) =>
      logger.debug({ err }, "connection error before its first request");
    const onGone = () => socket.destroy();
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const isHttp2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (isHttp2 && head.length < HTTP2_PREFACE.length) return;
      undecided.delete(socket);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onGone);
      socket.off("timeout", onGone);
      socket.setTimeout(0);
      socket.pause();
      // Both servers read what is already buffered before reading the socket again.
      socket.unshift(head);
      if (isHttp2) {
        // As http2.Server's own sockets: the session handles a half-close.
        socket.allowHalfOpen = false;
        h2.emit("connection", socket);
      } else {
        h1.emit("connection", socket);
        process.nextTick(() => socket.resume());
      }
    };
    socket.on("data", onData);
    socket.on("error", onError);
    // A client that closes or stalls before it is clear what it speaks has no call to wait for.
    socket.once("end", onGone);
    socket.once("close", () => undecided.delete(socket));
    socket.setTimeout(timeouts.prefaceMs);
    socket.once("timeout", onGone);
  });
  // TLS: ALPN tells which server gets the connection; there is no preface to sniff.
  const listener: net.Server = options.tls
    ? createTlsListener(options.tls, timeouts.prefaceMs, (socket) => {
        sockets.add(socket);
        socket.once("close", () => sockets.delete(socket));
        if (draining) socket.destroy();
        else if (socket.alpnProtocol === "h2") h2.emit("connection", socket);
        else h1.emit("connection", socket);
      }).on("tlsClientError", (err) => logger.debug({ err }, "TLS handshake failed"))
    : cleartextListener;

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port, options.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  // E.g. EMFILE on accept: log it rather than crash on an unhandled "error".
  listener.on("error", (err) => logger.error({ err }, "listener error"));
  const port = (listener.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${options.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close(graceMs) {
      closing ??= (async () => {
        draining = true;
        // Resolves once every accepted socket is closed.
        const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
        // GOAWAY: no new streams; streams in flight may finish.
        for (const session of sessions) session.close();
        // HTTP/1.1: calls in flight may finish, then their connections close;
        // idle keep-alive connections close now, and as calls finish.
        for (const res of h1Calls) if (!res.headersSent) res.setHeader("connection", "close");
        h1.closeIdleConnections();
        for (const socket of undecided) socket.destroy();
        const deadline = Date.now() + graceMs;
        const sweep = setInterval(() => {
          h1.closeIdleConnections();
          const idle = h1Calls.size === 0 && h2Calls.size === 0;
          if (!idle && Date.now() < deadline) return;
          // Grace over (or nothing left in flight): abort handlers, drop connections.
          shutdown.abort();
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        }, 50);
        await closed;
        clearInterval(sweep);
        // Stops its timeout checks; it has no connections left.
        h1.close();
      })();
      return closing;
    },
  };
}

function createTlsListener(
  options: NonNullable<ConnectServerOptions["tls"]>,
  handshakeTimeoutMs: number,
  onSecureConnection: (socket: tls.TLSSocket) => void,
): tls.Server {
  return tls.createServer(
    {
      cert: options.cert,
      key: options.key,
      ...(options.ca ? { ca: options.ca, requestCert: true, rejectUnauthorized: false } : {}),
      ALPNProtocols: ["h2", "http/1.1"],
      handshakeTimeout: handshakeTimeoutMs,
      noDelay: true,
    },
    onSecureConnection,
  );
}
