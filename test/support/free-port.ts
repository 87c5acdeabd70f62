import { createServer } from "node:net";

/** A TCP port that was free a moment ago (for servers that cannot bind port 0 themselves). */
export function freePort(): Promise<number> {
  return tryPort(0).then((port) => port ?? 0);
}

/**
 * A free port below 32768, for servers that store a port in a signed 16-bit
 * column (Temporal Server's cluster membership table): ephemeral ports from
 * {@link freePort} are usually above it.
 */
export async function freeLowPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await tryPort(20_000 + Math.floor(Math.random() * 12_000));
    if (port !== undefined) return port;
  }
  throw new Error("no free port found between 20000 and 32000");
}

function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        resolve(typeof address === "object" && address ? address.port : undefined),
      );
    });
  });
}
