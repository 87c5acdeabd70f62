import { randomBytes } from "node:crypto";
import { defaultPayloadConverter, METADATA_ENCODING_KEY } from "@temporalio/common";
import { describe, expect, it } from "vitest";
import { EncryptionCodec, METADATA_KEY_ID_KEY } from "./encryption-codec.js";
import type { Keyring } from "./keyring.js";
import { parseKeyring, readKeyringSetting } from "./keyring.js";

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ring = (active: string, keys: Record<string, Buffer>): Keyring => ({
  activeKeyId: active,
  keys: new Map(Object.entries(keys)),
});
const text = (bytes: Uint8Array | null | undefined) => new TextDecoder().decode(bytes ?? undefined);
const customer = { name: "Grace Hopper", line1: "7 Compiler Lane" };

describe("EncryptionCodec", () => {
  it("encrypts a payload so that neither its data nor its encoding shows, and decodes it back", async () => {
    const codec = new EncryptionCodec(ring("a", { a: keyA }));
    const plain = defaultPayloadConverter.toPayload(customer);
    const [encrypted] = await codec.encode([plain]);
    expect(text(encrypted?.metadata?.[METADATA_ENCODING_KEY])).toBe("binary/encrypted");
    expect(text(encrypted?.metadata?.[METADATA_KEY_ID_KEY])).toBe("a");
    expect(Buffer.from(encrypted?.data ?? []).toString("latin1")).not.toContain("Grace");
    expect(Buffer.from(encrypted?.data ?? []).toString("latin1")).not.toContain("json/plain");
    const [decoded] = await codec.decode([encrypted as never]);
    expect(defaultPayloadConverter.fromPayload(decoded as never)).toEqual(customer);
  });

  it("uses a fresh IV per payload", async () => {
    const codec = new EncryptionCodec(ring("a", { a: keyA }));
    const plain = defaultPayloadConverter.toPayload(customer);
    const [one, two] = await codec.encode([plain, plain]);
    expect(Buffer.from(one?.data ?? []).equals(Buffer.from(two?.data ?? []))).toBe(false);
    // Across calls and past every refill of the IV pool (256 at a time):
    // no IV twice, and every payload decodes with the IV it was given.
    const many = (
      await Promise.all(Array.from({ length: 5 }, () => codec.encode(Array(150).fill(plain))))
    ).flat();
    const ivs = new Set(
      many.map((p) =>
        Buffer.from(p.data ?? [])
          .subarray(0, 12)
          .toString("hex"),
      ),
    );
    expect(ivs.size).toBe(750);
    const decoded = await codec.decode(many);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual(
      Array(750).fill(customer),
    );
  });

  it("after rotation encrypts with the new key and still decrypts the old one's payloads", async () => {
    const before = new EncryptionCodec(ring("a", { a: keyA }));
    const after = new EncryptionCodec(ring("b", { a: keyA, b: keyB }));
    const [old] = await before.encode([defaultPayloadConverter.toPayload(customer)]);
    const [fresh] = await after.encode([defaultPayloadConverter.toPayload(customer)]);
    expect(text(fresh?.metadata?.[METADATA_KEY_ID_KEY])).toBe("b");
    const decoded = await after.decode([old as never, fresh as never]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([
      customer,
      customer,
    ]);
    await expect(
      new EncryptionCodec(ring("b", { b: keyB })).decode([old as never]),
    ).rejects.toThrow(/key "a", which is not in the keyring/);
  });

  it("passes plain payloads through (histories written before encryption)", async () => {
    const codec = new EncryptionCodec(ring("a", { a: keyA }));
    const plain = defaultPayloadConverter.toPayload(customer);
    expect(await codec.decode([plain])).toEqual([plain]);
  });

  it("refuses a tampered payload or a key id swapped for another key's", async () => {
    const codec = new EncryptionCodec(ring("a", { a: keyA, b: keyA }));
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload(customer)]);
    const data = Buffer.from(encrypted?.data ?? []);
    data[20] = (data[20] ?? 0) ^ 1;
    await expect(codec.decode([{ ...encrypted, data }])).rejects.toThrow();
    const relabelled = {
      ...encrypted,
      metadata: { ...encrypted?.metadata, [METADATA_KEY_ID_KEY]: new TextEncoder().encode("b") },
    };
    await expect(codec.decode([relabelled])).rejects.toThrow();
  });
});

describe("keyring", () => {
  it("reads inline JSON with an active key override, and names what is wrong", () => {
    const json = JSON.stringify({
      activeKeyId: "a",
      keys: { a: keyA.toString("base64"), b: keyB.toString("base64") },
    });
    expect(readKeyringSetting(json).activeKeyId).toBe("a");
    expect(readKeyringSetting(json, "b").activeKeyId).toBe("b");
    expect(() => readKeyringSetting(json, "c")).toThrow(/"c" is not in the keyring/);
    expect(() => parseKeyring({ activeKeyId: "a", keys: { a: "c2hvcnQ=" } })).toThrow(/32 bytes/);
    expect(() => readKeyringSetting("/no/such/file.json")).toThrow(/no such file/);
  });
});
