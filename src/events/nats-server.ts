/**
 * An embedded NATS server with JetStream, for `oms dev` and the tests: the
 * pinned `nats-server` that scripts/setup.mjs builds from the Go module proxy
 * into .tools/bin. Production points OMS_EVENTS_NATS_URL at its own NATS.
 */
import { existsSync, mkdirSync } from "node:fs";
import { canConnect, spawnServer, stopChild, waitForPort } from "../temporal/dev-server.js";

export interface NatsServerOptions {
  /** Path of the nats-server binary. */
  binPath: string;
  host?: string;
  port: number;
  /** JetStream's storage folder (kept across restarts). */
  storeDir: string;
  startTimeoutMs?: number;
}

export interface NatsServer {
  /** nats://host:port */
  url: string;
  stop(): Promise<void>;
}

export async function startNatsServer(options: NatsServerOptions): Promise<NatsServer> {
  if (!existsSync(options.binPath)) {
    throw new Error(`nats-server not found at ${options.binPath}: run "npm run setup"`);
  }
  const host = options.host ?? "127.0.0.1";
  if (await canConnect(host, options.port)) {
    throw new Error(
      `port ${options.port} on ${host} is already in use (is another oms dev running?); set OMS_NATS_PORT, OMS_EVENTS_NATS_URL to use that server, or OMS_DEV_NATS=false`,
    );
  }
  mkdirSync(options.storeDir, { recursive: true });
  const { child, output, exited } = spawnServer(options.binPath, [
    "--jetstream",
    "--addr",
    host,
    "--port",
    String(options.port),
    "--store_dir",
    options.storeDir,
  ]);
  try {
    await waitForPort(host, options.port, Date.now() + (options.startTimeoutMs ?? 30_000), exited);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`nats-server did not start: ${(err as Error).message}\n${output()}`);
  }
  return { url: `nats://${host}:${options.port}`, stop: () => stopChild(child, exited) };
}
