import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { startHarness } from "./harness.js";

/** A Connect GetStock over node:http (HTTP/1.1) on `agent`'s keep-alive connection. */
function http1GetStock(url: string, agent: http.Agent) {
  return new Promise<{ status: number; socket: net.Socket }>((resolve, reject) => {
    const req = http.request(
      `${url}/inventory.v1.InventoryService/GetStock`,
      { method: "POST", agent, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, socket: req.socket as net.Socket }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end("{}");
  });
}

describe("stopping the reference services", () => {
  it("ends calls in flight and closes every connection: h2c, HTTP/1.1 keep-alive, silent", async () => {
    const h = await startHarness({ faults: { shipping: { addedLatencyMs: 60_000 } } });
    const agent = new http.Agent({ keepAlive: true });
    let silent: net.Socket | undefined;
    try {
      // HTTP/1.1 on the same port as gRPC: a finished call leaves an idle keep-alive socket.
      const answered = await http1GetStock(h.services.url, agent);
      expect(answered.status).toBe(200);
      expect(answered.socket.destroyed).toBe(false);
      const idleClosed = once(answered.socket, "close");

      // A connection that never says which protocol it speaks.
      silent = net.connect(h.services.port, "127.0.0.1");
      silent.on("error", () => {});
      await once(silent, "connect");
      const silentClosed = once(silent, "close");

      // A gRPC call over h2c that would wait a minute for its injected latency.
      const inFlight = h.shipping.getShipment({ shipmentId: "held-by-latency" }).then(
        () => "answered",
        (err: unknown) => err,
      );
      await h.inventory.getStock({}); // the HTTP/2 session is up, the slow call sent on it

      const started = Date.now();
      await h.stop();
      // The call in flight had its grace (1 s), then was cut off.
      const took = Date.now() - started;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(10_000);
      await Promise.all([idleClosed, silentClosed]);
      expect(await inFlight).toBeInstanceOf(Error);

      // The port is closed.
      const refused = net.connect(h.services.port, "127.0.0.1");
      const [err] = (await once(refused, "error")) as [NodeJS.ErrnoException];
      expect(err.code).toBe("ECONNREFUSED");
    } finally {
      silent?.destroy();
      agent.destroy();
    }
  });
});
