import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { InventoryService } from "../../gen/inventory/v1/inventory_service_pb.js";
import { tokenFileBearer } from "./credentials.js";

describe("tokenFileBearer", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "oms-token-file-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A client whose every call resolves with the authorization header the service saw. */
  const clientWith = (file: string) => {
    const seen: (string | null)[] = [];
    const transport = createRouterTransport(
      ({ service }) => {
        service(InventoryService, {
          getStock(_req, ctx) {
            seen.push(ctx.requestHeader.get("authorization"));
            return {};
          },
        });
      },
      { transport: { interceptors: [tokenFileBearer(file)] } },
    );
    const client = createClient(InventoryService, transport);
    return {
      call: async () => {
        await client.getStock({});
        return seen.at(-1);
      },
    };
  };

  it("sends the file's token, and the new one from the next call after the file changes", async () => {
    const file = path.join(dir, "rotating");
    writeFileSync(file, "token-one\n");
    const { call } = clientWith(file);
    expect(await call()).toBe("Bearer token-one");
    writeFileSync(file, "token-two-longer");
    expect(await call()).toBe("Bearer token-two-longer");
    // Gone (a rotator swapping files) or empty: the last token is kept.
    unlinkSync(file);
    expect(await call()).toBe("Bearer token-two-longer");
    writeFileSync(file, "");
    expect(await call()).toBe("Bearer token-two-longer");
  });

  it("fails the call while it has never read a token", async () => {
    const { call } = clientWith(path.join(dir, "missing"));
    await expect(call()).rejects.toThrow(/downstream token file .*missing/);
  });
});
