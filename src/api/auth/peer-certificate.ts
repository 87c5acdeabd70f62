import { TLSSocket } from "node:tls";
import { type ContextValues, createContextKey, createContextValues } from "@connectrpc/connect";
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

type NodeServerRequest = Parameters<NonNullable<ConnectNodeAdapterOptions["contextValues"]>>[0];

/** What the TLS handshake established about the client's certificate. */
export type PeerCertificate =
  | { kind: "none" }
  | { kind: "untrusted"; error: string }
  | { kind: "trusted"; uriSans: string[]; commonName: string | undefined };

/** Set for every call from the connection it arrived on (see peerCertificateValues). */
export const peerCertificateKey = createContextKey<PeerCertificate>(
  { kind: "none" },
  { description: "TLS client certificate of the connection" },
);

/**
 * Context values for connectNodeAdapter: the client certificate of the call's
 * TLS connection (none on cleartext). The server asks for a certificate but
 * does not end the handshake without a trusted one, so that calls get a gRPC
 * status (UNAUTHENTICATED with ErrorInfo) and open services stay reachable.
 */
export function peerCertificateValues(req: NodeServerRequest): ContextValues {
  const values = createContextValues();
  const socket = "stream" in req ? req.stream.session?.socket : req.socket;
  if (socket instanceof TLSSocket) values.set(peerCertificateKey, describePeer(socket));
  return values;
}

function describePeer(socket: TLSSocket): PeerCertificate {
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return { kind: "none" };
  if (!socket.authorized) {
    return { kind: "untrusted", error: String(socket.authorizationError ?? "not authorized") };
  }
  // Node formats subjectaltname as "URI:spiffe://…, DNS:host, …".
  const uriSans = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((san) => san.startsWith("URI:"))
    .map((san) => san.slice(4));
  const cn = cert.subject?.CN;
  return { kind: "trusted", uriSans, commonName: Array.isArray(cn) ? cn[0] : cn };
}

/** The principal of a trusted certificate: its first URI SAN (SPIFFE style), else its CN. */
export function certificatePrincipal(
  peer: Extract<PeerCertificate, { kind: "trusted" }>,
): string | undefined {
  return peer.uriSans[0] ?? peer.commonName;
}
