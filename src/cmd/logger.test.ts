import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

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
});
