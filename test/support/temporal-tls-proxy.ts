/**
 * A TLS front for the run's Temporal dev server, standing in for Temporal
 * Cloud: `temporal server start-dev` has no TLS options, so this HTTP/2 proxy
 * terminates TLS (ALPN h2, a server certificate from a test PKI, client
 * certificates required from that PKI's CA), checks every gRPC call's
 * `authorization: Bearer <key>` header as Temporal Cloud checks API keys, and
 * forwards the call, headers, messages and trailers, to the dev server's
 * plain-text port. It records the gRPC methods it let through.
 */
import {
  type ClientHttp2Session,
  connect,
  constants,
  createSecureServer,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";

export interface TemporalTlsProxy {
  /** 127.0.0.1:PORT, TLS only. */
  address: string;
  /** gRPC paths (`/temporal.api.workflowservice.v1.WorkflowService/…`) forwarded. */
  forwarded: Set<string>;
  /** How many calls were refused for a missing or wrong API key. */
  refused: number;
  /** How many TLS handshakes failed (no TLS, or a client certificate the CA did not issue). */
  handshakesFailed: number;
  close(): Promise<void>;
}

export interface TemporalTlsProxyOptions {
  /** host:port of the plain-text dev server. */
  upstream: string;
  cert: Buffer;
  key: Buffer;
  /** CA whose client certificates are accepted (mTLS, as a Temporal Cloud namespace with CA certificates). */
  clientCa: Buffer;
  apiKey: string;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "host"]);

/** Request headers to pass on: no pseudo-headers besides :method and :path, no connection headers. */
function forwardable(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === ":method" || name === ":path") out[name] = value;
    else if (!name.startsWith(":") && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

/** Response headers and trailers to pass back: no pseudo-headers but :status. */
function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === ":status" || !name.startsWith(":")) out[name] = value;
  }
  return out;
}

export async function startTemporalTlsProxy(
  options: TemporalTlsProxyOptions,
): Promise<TemporalTlsProxy> {
  let upstream: ClientHttp2Session | undefined;
  const session = () => {
    if (upstream === undefined || upstream.closed || upstream.destroyed) {
      upstream = connect(`http://${options.upstream}`);
      upstream.on("error", () => {
        upstream = undefined;
      });
    }
    return upstream;
  };
  const proxy: TemporalTlsProxy = {
    address: "",
    forwarded: new Set(),
    refused: 0,
    handshakesFailed: 0,
    close: async () => {
      upstream?.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Clients that failed to connect may keep their sockets open: close drops them.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  const server = createSecureServer({
    cert: options.cert,
    key: options.key,
    ca: options.clientCa,
    requestCert: true,
    rejectUnauthorized: true,
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    const path = String(headers[":path"]);
    if (headers.authorization !== `Bearer ${options.apiKey}`) {
      proxy.refused++;
      stream.respond(
        {
          ":status": 200,
          "content-type": "application/grpc",
          "grpc-status": String(16), // UNAUTHENTICATED
          "grpc-message": "missing or wrong API key",
        },
        { endStream: true },
      );
      return;
    }
    proxy.forwarded.add(path);
    const call = session().request(forwardable(headers));
    let trailers: OutgoingHttpHeaders | undefined;
    call.on("error", () => {
      if (!stream.headersSent) {
        stream.respond(
          { ":status": 200, "content-type": "application/grpc", "grpc-status": "14" },
          { endStream: true },
        );
      } else stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    });
    call.on("response", (head) => {
      if (call.endAfterHeaders) {
        stream.respond(responseHeaders(head), { endStream: true });
        return;
      }
      stream.respond(responseHeaders(head), { waitForTrailers: true });
      call.pipe(stream);
    });
    call.on("trailers", (t) => {
      trailers = responseHeaders(t);
    });
    stream.on("wantTrailers", () => {
      stream.sendTrailers(trailers ?? { "grpc-status": "14", "grpc-message": "upstream ended" });
    });
    stream.pipe(call);
    stream.on("close", () => {
      if (!call.closed) call.close(constants.NGHTTP2_CANCEL);
    });
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", () => {
    proxy.handshakesFailed++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}
