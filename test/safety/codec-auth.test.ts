/**
 * The codec server decrypts every payload for whoever calls it: it takes a bearer token (by
 * reference: DUO_SYNC_CODEC_SERVER_TOKEN or DUO_SYNC_CODEC_SERVER_TOKEN_FILE) compared in constant
 * time, warns loudly at start-up when CORS allows any origin (`*`), and refuses the `null` origin
 * as a configuration error. Tested in process and against `src/codec/main.ts` as a process.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AesGcmPayloadCodec } from '../../src/codec/aes-gcm';
import { loadCodecServerSettings } from '../../src/codec/config';
import { parseKeyring } from '../../src/codec/keys';
import { startCodecServer, type CodecServer } from '../../src/codec/server';
import { ConfigError } from '../../src/config/env';
import { freePort } from '../support/openldap';
import { keyList, newKey } from '../codec/helpers';

const TOKEN = 'codec-token-0123456789abcdef';
const UI = 'http://localhost:8233';
const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const plain = { payloads: [{ metadata: { encoding: b64('json/plain') }, data: b64('"alice@example.org"') }] };

function codec(key = newKey()): AesGcmPayloadCodec {
  const parsed = parseKeyring(keyList({ k1: key }), 'k1');
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return new AesGcmPayloadCodec(parsed.keyring);
}

const post = (url: string, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${url}/encode`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(plain) });

describe('safety: codec server authentication and CORS', function () {
  this.timeout(60_000);

  describe('in process', () => {
    let server: CodecServer;
    before(async () => {
      server = await startCodecServer({ codec: codec(), port: 0, corsOrigins: [UI], bearerToken: TOKEN });
    });
    after(() => server?.close());

    it('answers only requests that carry the bearer token', async () => {
      assert.equal((await post(server.url)).status, 401);
      assert.equal((await post(server.url, { authorization: 'Bearer wrong-token' })).status, 401);
      assert.equal((await post(server.url, { authorization: `Bearer ${TOKEN}x` })).status, 401);
      assert.equal((await post(server.url, { authorization: TOKEN })).status, 401);
      const unauthorized = await post(server.url, { authorization: 'Bearer wrong-token' });
      assert.equal(unauthorized.headers.get('www-authenticate'), 'Bearer');
      assert.ok(!JSON.stringify(await unauthorized.json()).includes(TOKEN));
      const ok = await post(server.url, { authorization: `Bearer ${TOKEN}`, origin: UI });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('access-control-allow-origin'), UI);
    });

    it('lets CORS preflights through without the token (browsers never send it there)', async () => {
      const pre = await fetch(`${server.url}/decode`, { method: 'OPTIONS', headers: { origin: UI, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' } });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get('access-control-allow-headers') ?? '', /authorization/);
    });

    it('warns loudly at start-up for CORS *, and refuses the null origin', async () => {
      const warnings: string[] = [];
      const open = await startCodecServer({ codec: codec(), port: 0, corsOrigins: ['*'], warn: (m) => warnings.push(m) });
      await open.close();
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /WARNING.*CORS allows any origin \(\*\)/);
      await assert.rejects(startCodecServer({ codec: codec(), port: 0, corsOrigins: [UI, 'null'] }), (err: unknown) => err instanceof ConfigError && /"null"/.test(err.message));
    });
  });

  describe('settings from the environment', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-codec-auth-'));
      await writeFile(path.join(dir, 'token'), `${TOKEN}\n`);
    });
    after(() => rm(dir, { recursive: true, force: true }));

    it('reads the token from the environment or a file, never both, never echoing it', () => {
      assert.equal(loadCodecServerSettings({ DUO_SYNC_CODEC_SERVER_TOKEN: TOKEN }).bearerToken, TOKEN);
      assert.equal(loadCodecServerSettings({ DUO_SYNC_CODEC_SERVER_TOKEN_FILE: path.join(dir, 'token') }).bearerToken, TOKEN);
      assert.equal(loadCodecServerSettings({}).bearerToken, undefined);
      for (const env of [
        { DUO_SYNC_CODEC_SERVER_TOKEN: TOKEN, DUO_SYNC_CODEC_SERVER_TOKEN_FILE: path.join(dir, 'token') },
        { DUO_SYNC_CODEC_SERVER_TOKEN: 'short' },
        { DUO_SYNC_CODEC_SERVER_TOKEN_FILE: path.join(dir, 'missing') },
      ]) {
        assert.throws(() => loadCodecServerSettings(env), (e: unknown) => e instanceof ConfigError && /DUO_SYNC_CODEC_SERVER_TOKEN/.test(e.message) && !e.message.includes(TOKEN) && !e.message.includes('short'));
      }
    });

    it('refuses the null origin with a message that says why', () => {
      assert.throws(
        () => loadCodecServerSettings({ DUO_SYNC_CODEC_CORS_ORIGINS: `${UI},null` }),
        (e: unknown) => e instanceof ConfigError && /DUO_SYNC_CODEC_CORS_ORIGINS/.test(e.message) && /"null" origin/.test(e.message) && /sandboxed/.test(e.message),
      );
    });
  });

  describe('src/codec/main.ts as a process', () => {
    const children = new Set<ChildProcess>();
    afterEach(() => {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      children.clear();
    });

    const run = (env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } => {
      let output = '';
      const c = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(__dirname, '..', '..', 'src', 'codec', 'main.ts')], {
        env: { PATH: process.env.PATH ?? '', DUO_SYNC_CODEC_KEYS: `k1:${newKey()}`, DUO_SYNC_CODEC_ACTIVE_KEY: 'k1', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(c);
      c.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      return { child: c, output: () => output, exited: new Promise((resolve) => c.once('exit', resolve)) };
    };

    it('with CORS * and a token: warns on start-up, then answers only with the token', async () => {
      const port = await freePort();
      const started = run({ DUO_SYNC_CODEC_SERVER_PORT: String(port), DUO_SYNC_CODEC_CORS_ORIGINS: '*', DUO_SYNC_CODEC_SERVER_TOKEN: TOKEN });
      for (let i = 0; i < 300 && !started.output().includes('Ctrl-C to stop'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(started.output(), /WARNING.*CORS allows any origin/);
      assert.match(started.output(), /bearer token required/);
      assert.ok(!started.output().includes(TOKEN), 'the token is never printed');
      const url = `http://127.0.0.1:${port}`;
      assert.equal((await post(url)).status, 401);
      assert.equal((await post(url, { authorization: `Bearer ${TOKEN}` })).status, 200);
      started.child.kill('SIGTERM');
      await started.exited;
    });

    it('with the null origin: exits with the configuration error', async () => {
      const started = run({ DUO_SYNC_CODEC_SERVER_PORT: String(await freePort()), DUO_SYNC_CODEC_CORS_ORIGINS: 'null' });
      assert.equal(await started.exited, 1);
      assert.match(started.output(), /DUO_SYNC_CODEC_CORS_ORIGINS.*"null" origin/);
    });
  });
});
