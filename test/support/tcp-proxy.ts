import { createConnection, createServer, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  /** Drops every connection and refuses new ones, as a network outage would. */
  cut(): void;
  /** Lets connections through again. */
  restore(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy to `host:port` whose link a test can cut and restore. */
export function startTcpProxy(host: string, port: number): Promise<TcpProxy> {
  let cut = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host, port });
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.once("error", () => upstream.destroy());
    upstream.once("error", () => client.destroy());
    client.once("close", () => upstream.destroy());
    upstream.once("close", () => client.destroy());
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : 0,
        cut() {
          cut = true;
          for (const socket of sockets) socket.destroy();
        },
        restore() {
          cut = false;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
