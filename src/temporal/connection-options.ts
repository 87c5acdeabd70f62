import { readFileSync } from "node:fs";
import type { TLSConfig } from "@temporalio/client";
import type { Config } from "../config/config.js";

/** What both the client `Connection` and the worker's `NativeConnection` need. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/**
 * Connection options for a Temporal cluster or Temporal Cloud, named as
 * Temporal's own tools name them (TEMPORAL_TLS_CERT, TEMPORAL_API_KEY, …).
 * An API key implies TLS, as Temporal Cloud requires.
 */
export function temporalConnectionOptions(
  temporal: Config["temporal"],
  address: string,
): TemporalConnectionOptions {
  const { tls, apiKey } = temporal;
  const useTls =
    tls.enabled || tls.certPath !== undefined || tls.caPath !== undefined || apiKey !== undefined;
  const options: TemporalConnectionOptions = { address };
  if (apiKey !== undefined) options.apiKey = apiKey;
  if (!useTls) return options;
  const tlsConfig: TLSConfig = {};
  if (tls.serverName !== undefined) tlsConfig.serverNameOverride = tls.serverName;
  if (tls.caPath !== undefined) tlsConfig.serverRootCACertificate = readFileSync(tls.caPath);
  if (tls.certPath !== undefined && tls.keyPath !== undefined) {
    tlsConfig.clientCertPair = { crt: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) };
  }
  options.tls = tlsConfig;
  return options;
}
