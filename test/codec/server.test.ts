import assert from 'node:assert/strict';
import { request } from 'node:http';
import { AesGcmPayloadCodec } from '../../src/codec/aes-gcm';
import { parseKeyring } from '../../src/codec/keys';
import { startCodecServer, type CodecServer } from '../../src/codec/server';
import { keyList, newKey } from './helpers';

const UI = 'http://localhost:8233';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function codecFor(active: string, keys: Record<string, string>): AesGcmPayloadCodec {
  const parsed = parseKeyring(keyList(keys), active);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return new AesGcmPayloadCodec(parsed.keyring);
}

interface JsonPayloads {
  payloads: { metadata: Record<string, string>; data: string }[];
}

describe('codec server (HTTP, Temporal codec-server protocol)', () => {
  const k1 = newKey();
  let server: CodecServer;
  before(async () => {
    server = await startCodecServer({ codec: codecFor('k1', { k1 }), port: 0, corsOrigins: [UI], maxBodyBytes: 64 * 1024 });
  });
  after(async () => {
    await server.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('listens on loopback by default', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('encodes and decodes payloads in the proto-JSON form the Web UI sends', async () => {
    const plain = { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('{"email":"user1@example.org"}') }] };
    const enc = await post('/encode', plain, { origin: UI });
    assert.equal(enc.status, 200);
    assert.equal(enc.headers.get('access-control-allow-origin'), UI);
    const encoded = (await enc.json()) as JsonPayloads;
    const sealed = encoded.payloads[0]!;
    assert.equal(Buffer.from(sealed.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
    assert.equal(Buffer.from(sealed.metadata['encryption-key-id']!, 'base64').toString(), 'k1');
    assert.ok(!Buffer.from(sealed.data, 'base64').toString('latin1').includes('user1'));

    const dec = await post('/decode', encoded);
    assert.equal(dec.status, 200);
    assert.deepEqual(await dec.json(), plain);
    const templated = await post('/default/decode', encoded);
    assert.equal(templated.status, 200, 'CLI --codec-endpoint .../{namespace} form');
    assert.deepEqual(await templated.json(), plain);
  });

  it('decodes payloads encrypted elsewhere (the worker) and passes plain ones through', async () => {
    const [sealed] = await codecFor('k1', { k1 }).encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hi"') }]);
    const body = {
      payloads: [
        { metadata: { encoding: Buffer.from(sealed!.metadata!.encoding!).toString('base64'), 'encryption-key-id': b64('k1') }, data: Buffer.from(sealed!.data!).toString('base64') },
        { metadata: { encoding: b64('json/plain') }, data: b64('1') },
      ],
    };
    const res = await post('/decode', body);
    assert.equal(res.status, 200);
    const out = (await res.json()) as JsonPayloads;
    assert.equal(Buffer.from(out.payloads[0]!.data, 'base64').toString(), '"hi"');
    assert.deepEqual(out.payloads[1], body.payloads[1]);
  });

  it('answers 400 naming an unknown key id, without key material', async () => {
    const [sealed] = await codecFor('k7', { k7: newKey() }).encode([{ metadata: {}, data: Buffer.from('x') }]);
    const res = await post('/decode', { payloads: [{ metadata: { encoding: b64('binary/encrypted'), 'encryption-key-id': b64('k7') }, data: Buffer.from(sealed!.data!).toString('base64') }] });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: string };
    assert.match(error, /key id "k7", which this process does not know \(known key ids: k1\)/);
    assert.ok(!error.includes(k1));
  });

  it('answers CORS preflights from the UI origin with the headers the UI sends', async () => {
    const res = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace,authorization' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    for (const h of ['content-type', 'x-namespace', 'authorization']) assert.ok(allowed.includes(h), `${h} allowed`);
  });

  it('refuses other browser origins (preflight and request)', async () => {
    const pre = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(pre.status, 403);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    const res = await post('/decode', { payloads: [] }, { origin: 'http://evil.example' });
    assert.equal(res.status, 403);
  });

  it('answers 413 to huge bodies, 400 to bad ones, 404/405 to other paths and methods', async () => {
    const huge = await post('/decode', { payloads: [{ metadata: {}, data: Buffer.alloc(100 * 1024).toString('base64') }] });
    assert.equal(huge.status, 413);
    assert.equal((await post('/decode', '{ nope')).status, 400);
    const badBase64 = await post('/decode', { payloads: [{ metadata: { encoding: '***' }, data: '' }] });
    assert.equal(badBase64.status, 400);
    assert.match(((await badBase64.json()) as { error: string }).error, /payloads\.0\.metadata\.encoding: metadata values must be base64/);
    assert.equal((await post('/decode', { nope: [] })).status, 400);
    assert.equal((await post('/other', { payloads: [] })).status, 404);
    assert.equal((await post('/a/b/decode', { payloads: [] })).status, 404);
    assert.equal((await fetch(`${server.url}/decode`)).status, 405);
  });

  it('answers 413 to a huge chunked body (no content-length) without reading it all', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/encode`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      for (let i = 0; i < 8; i++) req.write(chunk);
      req.end();
    });
    assert.equal(status, 413);
  });

  it('can gate requests with authorize (e.g. the CLI --codec-auth header)', async () => {
    const gated = await startCodecServer({ codec: codecFor('k1', { k1 }), port: 0, authorize: (req) => req.headers.authorization === 'Bearer t0ken' });
    try {
      const url = `${gated.url}/encode`;
      const body = JSON.stringify({ payloads: [] });
      assert.equal((await fetch(url, { method: 'POST', body })).status, 401);
      assert.equal((await fetch(url, { method: 'POST', body, headers: { authorization: 'Bearer t0ken' } })).status, 200);
    } finally {
      await gated.close();
    }
  });
});
