import { createServer } from "node:net";

/**
 * Ports for processes a test spawns, which bind them later. They are taken
 * below 32768, outside Linux's ephemeral range (32768–60999): an ephemeral
 * port picked early can be taken as the local port of any outgoing connection
 * before the spawned process binds it (seen as EADDRINUSE in CI), while a port
 * below the range is only ever taken by a bind.
 *
 * Test files run in parallel in several vitest workers; each worker (and the
 * global setup, which has no pool id) hands out ports from its own slice,
 * in turn, so two tests never pick the same port while neither has bound it.
 * Below 32768 also suits Temporal Server, which stores its cluster membership
 * ports in a signed 16-bit column.
 */
const FIRST = 20_000;
const SLICE = 1_500;
const poolId = Number(process.env.VITEST_POOL_ID ?? 0);
const sliceStart = FIRST + (Number.isInteger(poolId) && poolId >= 0 ? poolId % 8 : 0) * SLICE;
let next = Math.floor(Math.random() * SLICE);

/** A free port below 32768 that this process has not handed out recently. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < SLICE; attempt++) {
    const candidate = sliceStart + (next++ % SLICE);
    const port = await tryPort(candidate);
    if (port !== undefined) return port;
  }
  throw new Error(`no free port between ${sliceStart} and ${sliceStart + SLICE}`);
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
