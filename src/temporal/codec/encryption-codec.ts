import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from "@temporalio/common";
import proto from "@temporalio/proto";
import type { Keyring } from "./keyring.js";

// A CommonJS package: Node's ESM loader sees only its default export.
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;

/** Metadata of an encrypted payload (what the Web UI and `temporal` CLI show without a codec). */
export const ENCRYPTED_ENCODING = "binary/encrypted";
export const METADATA_CIPHER_KEY = "encryption-cipher";
export const METADATA_KEY_ID_KEY = "encryption-key-id";
const CIPHER = "AES256-GCM";
const IV_BYTES = 12;
const TAG_BYTES = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A Temporal PayloadCodec encrypting every payload (inputs, results, update
 * arguments, memos, failure details) with AES-256-GCM: the whole Payload
 * (metadata and data) becomes `iv | ciphertext | tag`, with the key id in
 * clear metadata and as additional authenticated data. Decoding picks the key
 * by that id, so older keys keep decrypting after rotation; payloads without
 * the encrypted encoding (histories written before encryption) pass through.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.activeKeyId;
    const key = this.keyring.keys.get(keyId) as Buffer;
    return payloads.map((payload) => {
      const plain = PayloadMessage.encode(payload).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(encoder.encode(keyId));
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: encoder.encode(ENCRYPTED_ENCODING),
          [METADATA_CIPHER_KEY]: encoder.encode(CIPHER),
          [METADATA_KEY_ID_KEY]: encoder.encode(keyId),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (encoding === undefined || decoder.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const idBytes = payload.metadata?.[METADATA_KEY_ID_KEY];
      const keyId = idBytes === undefined ? "" : decoder.decode(idBytes);
      const key = this.keyring.keys.get(keyId);
      if (key === undefined) {
        throw new Error(`payload encrypted with key "${keyId}", which is not in the keyring`);
      }
      const data = Buffer.from(payload.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error("encrypted payload is truncated");
      const decipher = createDecipheriv("aes-256-gcm", key, data.subarray(0, IV_BYTES));
      decipher.setAAD(encoder.encode(keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return PayloadMessage.decode(plain) as Payload;
    });
  }
}
