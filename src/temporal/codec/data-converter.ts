import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { DataConverter } from "@temporalio/common";
import { EncryptionCodec } from "./encryption-codec.js";
import { KEY_BYTES, type Keyring, keyringToJson, readKeyringSetting } from "./keyring.js";

/**
 * The data converter of every Temporal client and worker of oms: payloads
 * encrypted with the keyring, or plain when there is none (OMS_PAYLOAD_KEYS=none).
 * Codecs run outside the workflow sandbox: the workflow bundle is the same either way.
 */
export function payloadDataConverter(keyring: Keyring | undefined): DataConverter {
  return keyring === undefined ? {} : { payloadCodecs: [new EncryptionCodec(keyring)] };
}

/** The development keyring of `oms dev`, `<dataDir>/payload-keys.json`, generated on first use and kept. */
export function ensureDevKeyring(dataDir: string): Keyring {
  const file = path.join(dataDir, "payload-keys.json");
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    const keys = new Map([["dev-1", randomBytes(KEY_BYTES)]]);
    writeFileSync(file, `${JSON.stringify(keyringToJson({ activeKeyId: "dev-1", keys }))}\n`, {
      mode: 0o600,
    });
  }
  return readKeyringSetting(file);
}
