import { existsSync, readFileSync } from "node:fs";

/** Bytes of an AES-256 key. */
export const KEY_BYTES = 32;

/**
 * The payload encryption keys: new payloads are encrypted with the active
 * key; every key in the ring still decrypts. Rotation adds a key, makes it
 * active, and removes the old one only once no open history needs it.
 */
export interface Keyring {
  activeKeyId: string;
  keys: ReadonlyMap<string, Buffer>;
}

/**
 * The JSON form (OMS_PAYLOAD_KEYS, inline or in a file):
 * `{"activeKeyId":"2026-11","keys":{"2026-11":"<base64 of 32 bytes>","2026-10":"…"}}`.
 */
export interface KeyringJson {
  activeKeyId: string;
  keys: Record<string, string>;
}

/** Parses and checks a keyring; throws an Error saying what is wrong (never echoing a key). */
export function parseKeyring(json: unknown, activeOverride?: string): Keyring {
  const raw = json as Partial<KeyringJson> | null;
  if (
    raw === null ||
    typeof raw !== "object" ||
    typeof raw.keys !== "object" ||
    raw.keys === null
  ) {
    throw new Error('expected {"activeKeyId": "...", "keys": {"<id>": "<base64 key>"}}');
  }
  const keys = new Map<string, Buffer>();
  for (const [id, value] of Object.entries(raw.keys)) {
    const key = typeof value === "string" ? Buffer.from(value, "base64") : Buffer.alloc(0);
    if (key.length !== KEY_BYTES) {
      throw new Error(`key "${id}" must be ${KEY_BYTES} bytes, base64-encoded`);
    }
    keys.set(id, key);
  }
  const activeKeyId = activeOverride ?? raw.activeKeyId;
  if (typeof activeKeyId !== "string" || !keys.has(activeKeyId)) {
    throw new Error(`the active key id ${JSON.stringify(activeKeyId)} is not in the keyring`);
  }
  return { activeKeyId, keys };
}

/** OMS_PAYLOAD_KEYS: the JSON itself (starting with "{") or the path of a file holding it. */
export function readKeyringSetting(value: string, activeOverride?: string): Keyring {
  const text = value.trimStart().startsWith("{") ? value : readKeyringFile(value);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error("not valid JSON");
  }
  return parseKeyring(json, activeOverride);
}

function readKeyringFile(file: string): string {
  if (!existsSync(file)) throw new Error(`no such file ${file}`);
  return readFileSync(file, "utf8");
}

export function keyringToJson(keyring: Keyring): KeyringJson {
  return {
    activeKeyId: keyring.activeKeyId,
    keys: Object.fromEntries([...keyring.keys].map(([id, key]) => [id, key.toString("base64")])),
  };
}
