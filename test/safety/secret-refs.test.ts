/**
 * Secret references are bounded by an allow-list the worker's operator sets (environment-variable
 * prefixes and secret directories): whoever can send `configure` can name only secrets inside it.
 * File references are resolved with realpath, so `..` and symlinks cannot leave the directories,
 * and a directory entry with `{connectionId}` keeps each connection to its own secrets.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createConnectionResources } from '../../src/activities/resources';
import { ConfigError } from '../../src/config/env';
import { loadSecretPolicy, resolveSecret, SecretRefusedError, type SecretPolicy, type SecretRef } from '../../src/config/secrets';
import { ConnectionConfigSchema, type ConnectionConfig } from '../../src/domain/connection';
import { StoreError } from '../../src/stores';

async function refused(p: Promise<unknown>, ...mentions: string[]): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SecretRefusedError, `expected SecretRefusedError, got ${String(err)}`);
    for (const m of mentions) assert.ok(err.message.includes(m), `message should mention ${m}: ${err.message}`);
    return err.message;
  }
  assert.fail('expected the reference to be refused');
}

describe('safety: secret references stay inside the worker\'s allow-list', () => {
  let root: string;
  let secrets: string;
  const env: NodeJS.ProcessEnv = { DUO_SYNC_SKEY: 'duo-secret', HOME: '/home/somebody', DUO_SYNC_CODEC_KEYS: 'k1:AAAA', OTHER_APP_TOKEN: 'x' };
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'duo-sync-secrets-'));
    secrets = path.join(root, 'secrets');
    await mkdir(path.join(secrets, 'tenants', 'acme'), { recursive: true });
    await mkdir(path.join(secrets, 'tenants', 'globex'), { recursive: true });
    await writeFile(path.join(secrets, 'duo.key'), 'file-secret\n');
    await writeFile(path.join(root, 'outside.key'), 'outside-secret\n');
    await writeFile(path.join(secrets, 'tenants', 'acme', 'token'), 'acme-token\n');
    await writeFile(path.join(secrets, 'tenants', 'globex', 'token'), 'globex-token\n');
    await symlink(path.join(root, 'outside.key'), path.join(secrets, 'sneaky.key'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('by default only DUO_SYNC_* variables, never the worker\'s own settings, and no files', async () => {
    const policy = loadSecretPolicy({});
    assert.deepEqual(policy, { envPrefixes: ['DUO_SYNC_'], dirs: [] });
    assert.equal(await resolveSecret({ env: 'DUO_SYNC_SKEY' }, env, { policy }), 'duo-secret');
    await refused(resolveSecret({ env: 'HOME' }, env, { policy }), 'environment variable HOME', 'DUO_SYNC_', 'DUO_SYNC_SECRET_ENV_PREFIXES');
    await refused(resolveSecret({ env: 'DUO_SYNC_CODEC_KEYS' }, env, { policy }), 'DUO_SYNC_CODEC_KEYS', "worker's own settings");
    await refused(resolveSecret({ file: path.join(secrets, 'duo.key') }, env, { policy }), path.join(secrets, 'duo.key'), 'no secret directories', 'DUO_SYNC_SECRET_DIRS');
  });

  it('the default resolver reads the allow-list from the same environment', async () => {
    await refused(resolveSecret({ env: 'HOME' }, env), 'HOME');
    assert.equal(await resolveSecret({ env: 'OTHER_APP_TOKEN' }, { ...env, DUO_SYNC_SECRET_ENV_PREFIXES: 'OTHER_APP_' }), 'x');
  });

  it('files under a secret directory are read; .. and symlinks out of it are refused, exists or not', async () => {
    const policy = loadSecretPolicy({ DUO_SYNC_SECRET_DIRS: secrets, DUO_SYNC_SECRET_ENV_PREFIXES: 'none' });
    assert.deepEqual(policy.envPrefixes, []);
    await refused(resolveSecret({ env: 'DUO_SYNC_SKEY' }, env, { policy }), 'no environment variables');
    assert.equal(await resolveSecret({ file: path.join(secrets, 'duo.key') }, env, { policy }), 'file-secret');
    const dotdot = path.join(secrets, '..', 'outside.key');
    await refused(resolveSecret({ file: dotdot }, env, { policy }), 'outside.key', secrets);
    await refused(resolveSecret({ file: path.join(secrets, 'sneaky.key') }, env, { policy }), 'sneaky.key', 'leads outside');
    // The same answer for a file outside that does not exist: no probing the worker's disk.
    const missing = await refused(resolveSecret({ file: '/etc/no-such-file' }, env, { policy }), '/etc/no-such-file');
    const present = await refused(resolveSecret({ file: '/etc/hostname' }, env, { policy }), '/etc/hostname');
    assert.equal(missing.replace('/etc/no-such-file', 'X'), present.replace('/etc/hostname', 'X'));
  });

  it('a {connectionId} directory keeps each connection to its own secrets', async () => {
    const policy = loadSecretPolicy({ DUO_SYNC_SECRET_DIRS: path.join(secrets, 'tenants', '{connectionId}') });
    const acmeToken: SecretRef = { file: path.join(secrets, 'tenants', 'acme', 'token') };
    assert.equal(await resolveSecret(acmeToken, env, { policy, connectionId: 'acme' }), 'acme-token');
    await refused(resolveSecret(acmeToken, env, { policy, connectionId: 'globex' }), path.join(secrets, 'tenants', 'globex'));
    await refused(resolveSecret(acmeToken, env, { policy }), 'acme');
  });

  it('a bad allow-list is a configuration error naming the variable', () => {
    assert.throws(() => loadSecretPolicy({ DUO_SYNC_SECRET_DIRS: 'relative/dir' }), (e: unknown) => e instanceof ConfigError && /DUO_SYNC_SECRET_DIRS/.test(e.message) && /absolute/.test(e.message));
    assert.throws(() => loadSecretPolicy({ DUO_SYNC_SECRET_ENV_PREFIXES: 'OK_,bad-prefix' }), (e: unknown) => e instanceof ConfigError && /DUO_SYNC_SECRET_ENV_PREFIXES/.test(e.message));
  });

  describe('activities resolve through the allow-list', () => {
    const config = (connectionId: string, duoSecret: SecretRef, scimToken: SecretRef): ConnectionConfig =>
      ConnectionConfigSchema.parse({
        connectionId,
        duo: { apiHost: 'api-12345678.duosecurity.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: duoSecret },
        store: { kind: 'scim', baseUrl: 'http://127.0.0.1:9/scim/v2', auth: { kind: 'bearer', token: scimToken } },
        rules: [{ id: 'all', direction: 'outbound', scope: { kind: 'all' } }],
      });

    it('a Duo secret key outside the allow-list fails the connection, naming the reference and the allow-list', async () => {
      const policy: SecretPolicy = { envPrefixes: ['DUO_SYNC_'], dirs: [] };
      const resources = createConnectionResources({ secretPolicy: policy });
      try {
        await assert.rejects(resources.duo(config('acme', { env: 'HOME' }, { env: 'DUO_SYNC_X' })), (err: unknown) => {
          assert.ok(err instanceof ApplicationFailure);
          assert.equal(err.nonRetryable, true);
          assert.match(err.message, /environment variable HOME is outside this worker's secret allow-list/);
          return true;
        });
      } finally {
        await resources.close();
      }
    });

    it('a store token of another connection is refused, even when the store settings are identical', async () => {
      const policy = loadSecretPolicy({ DUO_SYNC_SECRET_DIRS: path.join(secrets, 'tenants', '{connectionId}') });
      const resources = createConnectionResources({ secretPolicy: policy });
      const token: SecretRef = { file: path.join(secrets, 'tenants', 'acme', 'token') };
      try {
        // acme's own token resolves (the server is down: the failure is reaching it, not the secret).
        const acme = await resources.store(config('acme', { env: 'DUO_SYNC_X' }, token));
        await assert.rejects(acme.check(), (err: unknown) => err instanceof StoreError && err.kind === 'unavailable');
        const globex = await resources.store(config('globex', { env: 'DUO_SYNC_X' }, token));
        assert.notEqual(globex, acme, 'a store is never shared between connections');
        await assert.rejects(globex.check(), (err: unknown) => {
          assert.ok(err instanceof StoreError);
          assert.equal(err.kind, 'invalid_config');
          assert.match(err.message, /outside this worker's secret allow-list/);
          assert.ok(!err.message.includes('acme-token'));
          return true;
        });
      } finally {
        await resources.close();
      }
    });
  });
});
