import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { AesGcmPayloadCodec, ENCRYPTED_ENCODING, PayloadCodecError } from '../../src/codec/aes-gcm';
import { dataConverterFromConfig, loadCodecKeyring } from '../../src/codec/config';
import { failureConverter } from '../../src/codec/failure-converter';
import { parseKeyring, type CodecKeyring } from '../../src/codec/keys';
import { decodePayloadProto, encodePayloadProto } from '../../src/codec/payload-proto';
import { ConfigError, describeProcessConfig, loadProcessConfig } from '../../src/config/env';
import { containsBytes, keyList, newKey } from './helpers';

const str = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array(0)).toString('utf8');

function keyring(active: string, keys: Record<string, string>): CodecKeyring {
  const parsed = parseKeyring(keyList(keys), active);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.keyring;
}

const PII = { username: 'user1', email: 'user1@example.org' };

describe('AES-256-GCM payload codec', () => {
  const k1 = newKey();
  const k2 = newKey();

  it('round-trips payloads and hides their content and encoding', async () => {
    const codec = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const plain = [defaultPayloadConverter.toPayload(PII), defaultPayloadConverter.toPayload(undefined), { metadata: {}, data: new Uint8Array(0) }];
    const encoded = await codec.encode(plain);
    assert.equal(encoded.length, 3);
    for (const p of encoded) {
      assert.deepEqual(Object.keys(p.metadata ?? {}).sort(), ['encoding', 'encryption-key-id']);
      assert.equal(str(p.metadata?.encoding), ENCRYPTED_ENCODING);
      assert.equal(str(p.metadata?.['encryption-key-id']), 'k1');
      assert.ok(!containsBytes(p.data ?? new Uint8Array(0), 'user1'));
      assert.ok(!containsBytes(p.data ?? new Uint8Array(0), 'json/plain'));
    }
    const decoded = await codec.decode(encoded);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded[0]!), PII);
    assert.equal(defaultPayloadConverter.fromPayload(decoded[1]!), undefined);
    assert.equal(decoded[2]!.data?.length ?? 0, 0);
  });

  it('uses a fresh IV per payload (same input, different ciphertext)', async () => {
    const codec = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const p = defaultPayloadConverter.toPayload(PII);
    const [a, b] = await codec.encode([p, p]);
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
    assert.notDeepEqual(Buffer.from(a!.data!).subarray(0, 12), Buffer.from(b!.data!).subarray(0, 12));
  });

  it('serialises payloads exactly as temporal.api.common.v1.Payload does', () => {
    const payload: Payload = { metadata: { encoding: Buffer.from('json/plain'), 'x-ünïcode': Buffer.from([0, 1, 255]) }, data: Buffer.from('{"a":"é"}') };
    const ours = encodePayloadProto(payload);
    const official = temporal.api.common.v1.Payload.decode(ours);
    assert.equal(Buffer.from(official.data).toString(), '{"a":"é"}');
    assert.deepEqual(Buffer.from(official.metadata['x-ünïcode']!), Buffer.from([0, 1, 255]));
    const back = decodePayloadProto(temporal.api.common.v1.Payload.encode(payload).finish());
    assert.deepEqual(Buffer.from(back.data!), Buffer.from(payload.data!));
    assert.deepEqual(Object.keys(back.metadata!).sort(), ['encoding', 'x-ünïcode']);
    assert.equal(str(back.metadata!.encoding), 'json/plain');
  });

  it('detects tampering with the ciphertext, the IV, the tag or the key id', async () => {
    const codec = new AesGcmPayloadCodec(keyring('k1', { k1, k2 }));
    const [good] = await codec.encode([defaultPayloadConverter.toPayload(PII)]);
    const flip = (index: number): Payload => {
      const data = Buffer.from(good!.data!);
      const i = index < 0 ? data.length + index : index;
      data[i] = data[i]! ^ 0x01;
      return { metadata: good!.metadata, data };
    };
    for (const tampered of [flip(0), flip(20), flip(-1)]) {
      await assert.rejects(codec.decode([tampered]), (err: unknown) => err instanceof PayloadCodecError && /key id "k1": authentication failed/.test(err.message));
    }
    const otherKey = { metadata: { ...good!.metadata, 'encryption-key-id': Buffer.from('k2') }, data: good!.data };
    await assert.rejects(codec.decode([otherKey]), /key id "k2": authentication failed/);
    await assert.rejects(codec.decode([{ metadata: good!.metadata, data: Buffer.from(good!.data!).subarray(0, 20) }]), /too short/);
  });

  it('rotates keys: payloads under an old key id still decode, new ones use the active key', async () => {
    const before = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const after = new AesGcmPayloadCodec(keyring('k2', { k1, k2 }));
    const old = await before.encode([defaultPayloadConverter.toPayload(PII)]);
    assert.deepEqual(defaultPayloadConverter.fromPayload((await after.decode(old))[0]!), PII);
    const fresh = await after.encode([defaultPayloadConverter.toPayload(PII)]);
    assert.equal(str(fresh[0]!.metadata?.['encryption-key-id']), 'k2');
  });

  it('fails clearly on an unknown key id, naming it and the known ids but no key', async () => {
    const writer = new AesGcmPayloadCodec(keyring('k9', { k9: k2 }));
    const reader = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const payloads = await writer.encode([defaultPayloadConverter.toPayload(PII)]);
    await assert.rejects(reader.decode(payloads), (err: unknown) => {
      assert.ok(err instanceof PayloadCodecError);
      assert.match(err.message, /encrypted with key id "k9", which this process does not know \(known key ids: k1\)/);
      assert.ok(!err.message.includes(k1) && !err.message.includes(k2));
      return true;
    });
  });

  it('passes unencrypted payloads through unchanged', async () => {
    const codec = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const plain = defaultPayloadConverter.toPayload(PII);
    const [out] = await codec.decode([plain]);
    assert.equal(out, plain);
  });

  it('encrypts failure messages and stack traces when combined with the encrypting failure converter', async () => {
    const codec = new AesGcmPayloadCodec(keyring('k1', { k1 }));
    const failure = failureConverter.errorToFailure(new Error('cannot provision user1@example.org'), defaultPayloadConverter);
    assert.equal(failure.message, 'Encoded failure');
    assert.ok(!(failure.stackTrace ?? '').includes('user1@example.org'));
    const [sealed] = await codec.encode([failure.encodedAttributes!]);
    assert.ok(!containsBytes(sealed!.data!, 'user1@example.org'));
    const [opened] = await codec.decode([sealed!]);
    const error = failureConverter.failureToError({ ...failure, encodedAttributes: opened }, defaultPayloadConverter);
    assert.equal(error.message, 'cannot provision user1@example.org');
  });
});

describe('payload-encryption configuration (env, zod)', () => {
  const k1 = newKey();
  const k2 = newKey();
  const noKeyMaterial = (message: string, ...keys: string[]) => {
    for (const key of keys) {
      assert.ok(!message.includes(key), 'message contains key material');
      assert.ok(!message.includes(key.slice(0, 12)), 'message contains part of a key');
    }
  };
  const rejects = (env: Record<string, string>, pattern: RegExp, ...keys: string[]) =>
    assert.throws(() => loadProcessConfig(env), (err: unknown) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'));
      noKeyMaterial(err.message, ...keys);
      return true;
    });

  it('is off without codec variables and on with a valid key list', () => {
    assert.equal(dataConverterFromConfig(loadProcessConfig({})), undefined);
    const config = loadProcessConfig({ DUO_SYNC_CODEC_KEYS: ` k1:${k1} , k2:${k2}\n`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k2' });
    const ring = loadCodecKeyring(config);
    assert.equal(ring?.activeKeyId, 'k2');
    assert.deepEqual([...(ring?.keys.keys() ?? [])], ['k1', 'k2']);
    const dc = dataConverterFromConfig(config);
    assert.equal(dc?.payloadCodecs?.length, 1);
    assert.match(dc?.failureConverterPath ?? '', /codec[\\/]failure-converter\.(ts|js)$/);
    const described = describeProcessConfig(config);
    assert.match(described, /payloads=aes-256-gcm\(active key "k2"\)/);
    noKeyMaterial(described, k1, k2);
  });

  it('rejects bad key lists with one line that never contains key material', () => {
    const short = Buffer.alloc(16, 7).toString('base64');
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${short}`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /DUO_SYNC_CODEC_KEYS: entry 1 \(key id "k1"\): key must be exactly 32 bytes, got 16/, short);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1},k2:${k2.slice(0, -4)}!!!=`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /entry 2 \(key id "k2"\): key is not standard base64/, k1, k2);
    rejects({ DUO_SYNC_CODEC_KEYS: k1, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /entry 1: expected keyId:base64key/, k1);
    rejects({ DUO_SYNC_CODEC_KEYS: `${k1}:k1`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /entry 1: the part before ":" is not a valid key id/, k1);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1},k1:${k2}`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /entry 2 \(key id "k1"\): duplicate key id/, k1, k2);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1}`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k3' }, /active key id "k3" is not one of the configured keys \(k1\)/, k1);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1}` }, /DUO_SYNC_CODEC_ACTIVE_KEY: required with DUO_SYNC_CODEC_KEYS/, k1);
    rejects({ DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /DUO_SYNC_CODEC_ACTIVE_KEY="k1": needs DUO_SYNC_CODEC_KEYS or DUO_SYNC_CODEC_KEYS_FILE/);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1}`, DUO_SYNC_CODEC_KEYS_FILE: '/tmp/x', DUO_SYNC_CODEC_ACTIVE_KEY: 'k1' }, /not both/, k1);
    rejects({ DUO_SYNC_CODEC_KEYS: `k1:${k1}`, DUO_SYNC_CODEC_ACTIVE_KEY: 'bad id!' }, /DUO_SYNC_CODEC_ACTIVE_KEY="bad id!": must be a key id/, k1);
  });

  it('reads DUO_SYNC_CODEC_KEYS_FILE and reports its problems without key material', () => {
    const dir = mkdtempSync(join(tmpdir(), 'duo-sync-codec-'));
    try {
      const file = join(dir, 'keys');
      writeFileSync(file, `old:${k1}\nnew:${k2}\n`);
      const ring = loadCodecKeyring(loadProcessConfig({ DUO_SYNC_CODEC_KEYS_FILE: file, DUO_SYNC_CODEC_ACTIVE_KEY: 'new' }));
      assert.deepEqual([...(ring?.keys.keys() ?? [])], ['old', 'new']);

      writeFileSync(file, `old:${k1}\nnew:${k2.slice(0, 20)}\n`);
      assert.throws(() => loadCodecKeyring(loadProcessConfig({ DUO_SYNC_CODEC_KEYS_FILE: file, DUO_SYNC_CODEC_ACTIVE_KEY: 'new' })), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^invalid configuration: DUO_SYNC_CODEC_KEYS_FILE \(.*keys\): entry 2 \(key id "new"\)/);
        noKeyMaterial(err.message, k1, k2);
        return true;
      });
      assert.throws(
        () => loadCodecKeyring(loadProcessConfig({ DUO_SYNC_CODEC_KEYS_FILE: join(dir, 'missing'), DUO_SYNC_CODEC_ACTIVE_KEY: 'new' })),
        /DUO_SYNC_CODEC_KEYS_FILE \(.*missing\): cannot read the file \(ENOENT\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
