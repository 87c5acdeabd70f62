import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

const LOGGER = new URL("./logger.ts", import.meta.url).href;

/** Runs `body` in a node process with `logger` (createLogger on stdout) in scope. */
function script(body: string): string[] {
  return [
    "--import",
    "tsx",
    "--input-type=module",
    "-e",
    `import { createLogger } from ${JSON.stringify(LOGGER)}; const logger = createLogger({ logLevel: "info" }); ${body}`,
  ];
}

describe("createLogger", () => {
  it("never prints tokens, keys or customer addresses", () => {
    const lines: string[] = [];
    const logger = createLogger({ logLevel: "info" }, "test", {
      write: (line: string) => lines.push(line),
    });
    logger.info(
      {
        req: { headers: { authorization: "Bearer eyJsecret" } },
        token: "eyJsecret2",
        order: {
          orderId: "o-1",
          shippingAddress: { name: "Ada Lovelace", line1: "12 Analytical Row" },
        },
        keys: { a: "c2VjcmV0a2V5" },
        customer: { email: "ada@example.com", phone: "+44 20 0000" },
      },
      "something happened",
    );
    const text = lines.join("");
    for (const secret of ["eyJsecret", "Ada", "Analytical", "c2VjcmV0a2V5", "ada@", "+44"]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('"orderId":"o-1"');
    expect(text).toContain("[redacted]");
  });

  it("writes every stdout line before the process exits, however soon", () => {
    const out = execFileSync(
      process.execPath,
      script("for (let i = 0; i < 500; i++) logger.info({ i }, 'line'); process.exit(0);"),
      { encoding: "utf8" },
    );
    const lines = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { i: number });
    expect(lines.map((l) => l.i)).toEqual([...Array(500).keys()]);
  });

  it("writes a line logged alone without waiting for more, or for the process to end", async () => {
    // The process lives on for a minute: the line must arrive well before.
    const child = spawn(
      process.execPath,
      script("logger.info('alone'); setTimeout(() => {}, 60_000);"),
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const [chunk] = (await once(child.stdout, "data")) as [Buffer];
      expect(JSON.parse(chunk.toString()).msg).toBe("alone");
    } finally {
      child.kill();
    }
  });
});
