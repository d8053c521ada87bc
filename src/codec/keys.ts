/**
 * Payload-encryption keys: parsing and validating the `keyId:base64key[,keyId:base64key...]` list
 * that DUO_SYNC_CODEC_KEYS (or the file named by DUO_SYNC_CODEC_KEYS_FILE) holds. Every key must be
 * exactly 32 bytes (AES-256). Problems are reported by entry position and, when it is a well-formed
 * id, by key id; key material is never part of a message. A valid key id is at most 32 characters,
 * so even a key pasted where an id belongs (a 32-byte key is 43+ base64 characters) is never echoed.
 * Pure module (no I/O): src/config/env.ts and src/codec/config.ts share it.
 */
import { z } from 'zod';

export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
export const KEY_BYTES = 32;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const KeyIdSchema = z.string().regex(KEY_ID_PATTERN, 'must be a key id: 1-32 characters of A-Z a-z 0-9 . _ - starting with a letter or digit');

/** The keys a process knows: `activeKeyId` encrypts, every key decrypts (so old keys keep working after rotation). */
export interface CodecKeyring {
  readonly activeKeyId: string;
  readonly keys: ReadonlyMap<string, Uint8Array>;
}

/** Parses a key list into key id → 32-byte key; issues never contain key material. */
export const CodecKeyListSchema = z.string().transform((text, ctx): Map<string, Uint8Array> => {
  const keys = new Map<string, Uint8Array>();
  const entries = text.split(/[,\s]+/).filter((e) => e.length > 0);
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'no keys: expected keyId:base64key[,keyId:base64key...]' });
    return keys;
  }
  entries.forEach((entry, index) => {
    const where = `entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      ctx.addIssue({ code: 'custom', message: `${where}: expected keyId:base64key (no ":" found)` });
      return;
    }
    const id = entry.slice(0, colon);
    const material = entry.slice(colon + 1);
    if (!KEY_ID_PATTERN.test(id)) {
      ctx.addIssue({ code: 'custom', message: `${where}: the part before ":" is not a valid key id (1-32 characters of A-Z a-z 0-9 . _ -)` });
      return;
    }
    const named = `${where} (key id "${id}")`;
    if (keys.has(id)) {
      ctx.addIssue({ code: 'custom', message: `${named}: duplicate key id` });
      return;
    }
    if (!BASE64.test(material)) {
      ctx.addIssue({ code: 'custom', message: `${named}: key is not standard base64 (generate one with: openssl rand -base64 32)` });
      return;
    }
    const key = Buffer.from(material, 'base64');
    if (key.length !== KEY_BYTES) {
      ctx.addIssue({ code: 'custom', message: `${named}: key must be exactly ${KEY_BYTES} bytes, got ${key.length} (generate one with: openssl rand -base64 32)` });
      return;
    }
    keys.set(id, new Uint8Array(key));
  });
  return keys;
});

/** Builds a keyring from a key list and the active key id, or returns the problems (no key material). */
export function parseKeyring(keyList: string, activeKeyId: string): { ok: true; keyring: CodecKeyring } | { ok: false; problems: string[] } {
  const parsed = CodecKeyListSchema.safeParse(keyList);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.map((i) => i.message) };
  const active = KeyIdSchema.safeParse(activeKeyId);
  if (!active.success) return { ok: false, problems: [`active key id: ${active.error.issues[0]?.message ?? 'invalid'}`] };
  if (!parsed.data.has(active.data)) {
    return { ok: false, problems: [`active key id "${active.data}" is not one of the configured keys (${[...parsed.data.keys()].join(', ')})`] };
  }
  return { ok: true, keyring: { activeKeyId: active.data, keys: parsed.data } };
}
