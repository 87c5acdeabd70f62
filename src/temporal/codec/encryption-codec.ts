import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
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
const ENCRYPTED_ENCODING_BYTES = encoder.encode(ENCRYPTED_ENCODING);
const CIPHER_BYTES = encoder.encode(CIPHER);

/**
 * Random IVs, IV_BYTES at a time from a buffer refilled by one call for
 * IV_POOL_SIZE of them: a call into OpenSSL per payload cost more than the
 * encryption of a small one. Each IV is handed out once.
 */
const IV_POOL_SIZE = 256;
let ivPool = Buffer.alloc(0);
let ivNext = 0;
function nextIv(): Buffer {
  if (ivNext + IV_BYTES > ivPool.length) {
    // A new buffer each time: the IVs handed out keep their bytes.
    ivPool = randomFillSync(Buffer.allocUnsafe(IV_BYTES * IV_POOL_SIZE));
    ivNext = 0;
  }
  const iv = ivPool.subarray(ivNext, ivNext + IV_BYTES);
  ivNext += IV_BYTES;
  return iv;
}

/**
 * A Temporal PayloadCodec encrypting every payload (inputs, results, update
 * arguments, memos, failure details) with AES-256-GCM: the whole Payload
 * (metadata and data) becomes `iv | ciphertext | tag`, with the key id in
 * clear metadata and as additional authenticated data. Decoding picks the key
 * by that id, so older keys keep decrypting after rotation; payloads without
 * the encrypted encoding (histories written before encryption) pass through.
 */
export class EncryptionCodec implements PayloadCodec {
  /** Key ids as bytes (additional authenticated data and metadata), made once per id. */
  private readonly keyIdBytes = new Map<string, Uint8Array>();

  constructor(private readonly keyring: Keyring) {}

  private bytesOf(keyId: string): Uint8Array {
    let bytes = this.keyIdBytes.get(keyId);
    if (bytes === undefined) {
      bytes = encoder.encode(keyId);
      this.keyIdBytes.set(keyId, bytes);
    }
    return bytes;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const keyId = this.keyring.activeKeyId;
    const key = this.keyring.keys.get(keyId) as Buffer;
    const keyIdBytes = this.bytesOf(keyId);
    return payloads.map((payload) => {
      const plain = PayloadMessage.encode(payload).finish();
      const iv = nextIv();
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(keyIdBytes);
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      // The metadata values are shared, read-only bytes.
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: ENCRYPTED_ENCODING_BYTES,
          [METADATA_CIPHER_KEY]: CIPHER_BYTES,
          [METADATA_KEY_ID_KEY]: keyIdBytes,
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
      decipher.setAAD(this.bytesOf(keyId));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return PayloadMessage.decode(plain) as Payload;
    });
  }
}
