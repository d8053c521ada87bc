/**
 * AES-256-GCM payload codec. `encode` serialises each whole Payload (metadata and data), encrypts it
 * with the active key under a fresh random 12-byte IV, and emits a payload whose data is
 * IV ‖ ciphertext ‖ 16-byte auth tag (the layout of Temporal's encryption samples) and whose
 * metadata is `encoding: binary/encrypted` and `encryption-key-id: <keyId>`. `decode` picks the key
 * by that id, so after a rotation payloads written with an older key still decode as long as the
 * key stays in the list; payloads that are not `binary/encrypted` (e.g. plain JSON sent from the Web
 * UI without a codec server) pass through unchanged. Tampering, a wrong key or an unknown key id
 * fail with a PayloadCodecError naming the key id, never the key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import type { CodecKeyring } from './keys';
import { decodePayloadProto, encodePayloadProto } from './payload-proto';

export const ENCODING_KEY = 'encoding';
export const KEY_ID_KEY = 'encryption-key-id';
export const ENCRYPTED_ENCODING = 'binary/encrypted';
const ALGORITHM = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class PayloadCodecError extends Error {
  override readonly name = 'PayloadCodecError';
}

const text = new TextEncoder();
const untext = new TextDecoder();

/** A key id taken from a payload, made safe to quote in a message (it is attacker-controlled). */
function quoted(raw: string): string {
  return JSON.stringify(raw.length > 64 ? `${raw.slice(0, 64)}…` : raw);
}

export class AesGcmPayloadCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, Buffer>;
  readonly activeKeyId: string;

  constructor(keyring: CodecKeyring) {
    const keys = new Map<string, Buffer>();
    for (const [id, key] of keyring.keys) {
      if (key.length !== 32) throw new PayloadCodecError(`key id ${quoted(id)}: AES-256 needs a 32-byte key, got ${key.length} bytes`);
      keys.set(id, Buffer.from(key));
    }
    if (!keys.has(keyring.activeKeyId)) throw new PayloadCodecError(`active key id ${quoted(keyring.activeKeyId)} is not one of the known keys`);
    this.keys = keys;
    this.activeKeyId = keyring.activeKeyId;
  }

  /** The key ids this codec can decrypt. */
  get keyIds(): string[] {
    return [...this.keys.keys()];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.get(this.activeKeyId);
    if (!key) throw new PayloadCodecError(`active key id ${quoted(this.activeKeyId)} is not known`);
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      const sealed = Buffer.concat([iv, cipher.update(encodePayloadProto(payload)), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [ENCODING_KEY]: text.encode(ENCRYPTED_ENCODING), [KEY_ID_KEY]: text.encode(this.activeKeyId) },
        data: new Uint8Array(sealed),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[ENCODING_KEY];
      if (!encoding || untext.decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      const rawKeyId = payload.metadata?.[KEY_ID_KEY];
      if (!rawKeyId) throw new PayloadCodecError(`cannot decrypt payload: it is ${ENCRYPTED_ENCODING} but has no ${KEY_ID_KEY} metadata`);
      const keyId = untext.decode(rawKeyId);
      const key = this.keys.get(keyId);
      if (!key) {
        throw new PayloadCodecError(
          `cannot decrypt payload: it was encrypted with key id ${quoted(keyId)}, which this process does not know (known key ids: ${this.keyIds.join(', ')}); add that key to DUO_SYNC_CODEC_KEYS`,
        );
      }
      const sealed = payload.data ?? new Uint8Array(0);
      if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadCodecError(`cannot decrypt payload with key id ${quoted(keyId)}: data is too short to be AES-GCM output`);
      const decipher = createDecipheriv(ALGORITHM, key, sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new PayloadCodecError(`cannot decrypt payload with key id ${quoted(keyId)}: authentication failed (the payload was altered, or the key for that id is not the one it was encrypted with)`);
      }
      return decodePayloadProto(plain);
    });
  }
}
