/**
 * The per-worker client cache against the Duo sandbox: a secret changed in its file is used on the
 * next call without a restart, the client is rebuilt only when the value changed, and the
 * connection's signatureVersion and caCertificates reach the Duo client.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnectionResources } from '../../src/activities/resources';
import { ConnectionConfigSchema, type ConnectionConfig } from '../../src/domain/connection';
import { DuoClient, DuoError, type DuoClientOptions } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { MockActivityEnvironment } from '@temporalio/testing';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n';

describe('connection resources: secrets and per-connection Duo settings', () => {
  let sandbox: DuoSandbox;
  let dir: string;
  let secretFile: string;
  let config: ConnectionConfig;

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 3 });
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-resources-'));
    secretFile = join(dir, 'duo_skey');
    config = ConnectionConfigSchema.parse({
      connectionId: 'rotate',
      duo: { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { file: secretFile } },
      store: { kind: 'file', path: join(dir, 'none.json') },
    });
  });

  after(async () => {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const policy = () => ({ envPrefixes: [], dirs: [dir] });

  it('picks up a fixed secret file on the next call after the TTL, without a restart', async () => {
    let clock = 0;
    const resources = createConnectionResources({ secretPolicy: policy(), secretTtlMs: 30_000, now: () => clock });
    writeFileSync(secretFile, 'not-the-right-secret-key-00000000000000\n');
    const wrong = await resources.duo(config);
    await assert.rejects(wrong.listUsers({ limit: 1 }), (err) => err instanceof DuoError && err.kind === 'authentication');
    writeFileSync(secretFile, `${sandbox.account.secretKey}\n`);
    clock += 29_000;
    assert.equal(await resources.duo(config), wrong, 'within the TTL the cached client is used');
    clock += 2_000;
    const fixed = await resources.duo(config);
    assert.notEqual(fixed, wrong, 'rebuilt with the new secret');
    assert.equal((await fixed.listUsers({ limit: 1 })).items.length, 0);
    clock += 60_000;
    assert.equal(await resources.duo(config), fixed, 'an unchanged secret keeps the client (and its pacing state)');
    await resources.close();
  });

  it('fails with SecretUnavailable, naming the reference, when the file goes away', async () => {
    const resources = createConnectionResources({ secretPolicy: policy(), secretTtlMs: 0 });
    writeFileSync(secretFile, sandbox.account.secretKey);
    await resources.duo(config);
    rmSync(secretFile);
    await assert.rejects(resources.duo(config), (err: Error & { type?: string }) => err.type === 'SecretUnavailable' && /Duo secret key: .*duo_skey/.test(err.message));
    await resources.close();
  });

  it('builds the Duo client with the connection\'s signatureVersion and caCertificates (inline or by reference)', async () => {
    writeFileSync(secretFile, sandbox.account.secretKey);
    writeFileSync(join(dir, 'proxy-ca.pem'), PEM);
    const seen: DuoClientOptions[] = [];
    const resources = createConnectionResources({
      secretPolicy: policy(),
      createDuoClient: (o) => {
        seen.push(o);
        return new DuoClient(o);
      },
    });
    const v2 = ConnectionConfigSchema.parse({ ...config, duo: { ...config.duo, signatureVersion: 2, caCertificates: { file: join(dir, 'proxy-ca.pem') } } });
    const client = await resources.duo(v2);
    assert.equal(seen[0]?.signatureVersion, 2);
    assert.equal(seen[0]?.caCertificates, PEM.trimEnd(), 'read through the secret allow-list (trailing newline dropped)');
    const created = await client.createUser({ username: 'v2-user' });
    assert.equal(created.username, 'v2-user', 'the sandbox accepts the v2-signed form POST');
    await resources.duo(ConnectionConfigSchema.parse({ ...config, connectionId: 'inline', duo: { ...config.duo, caCertificates: { pem: PEM } } }));
    assert.equal(seen[1]?.signatureVersion, 5, 'the default');
    assert.equal(seen[1]?.caCertificates, PEM);
    await assert.rejects(
      resources.duo(ConnectionConfigSchema.parse({ ...config, connectionId: 'outside', duo: { ...config.duo, caCertificates: { file: '/etc/hostname' } } })),
      (err: Error & { type?: string }) => err.type === 'SecretUnavailable' && /caCertificates \(file \/etc\/hostname\).*allow-list/.test(err.message),
    );
    await resources.close();
  });

  it('the Duo client of an activity heartbeats while a request waits for the pacer, so a long wait does not time the page out', async () => {
    writeFileSync(secretFile, sandbox.account.secretKey);
    // 60 get-page calls a minute: the third request waits about 2 s; the client beats every 100 ms meanwhile.
    const resources = createConnectionResources({ secretPolicy: policy(), pacing: { limits: { getPage: 60 } }, pacingHeartbeatMs: 100 });
    const env = new MockActivityEnvironment();
    let heartbeats = 0;
    env.on('heartbeat', () => (heartbeats += 1));
    await env.run(async () => {
      const duo = await resources.duo(ConnectionConfigSchema.parse({ ...config, connectionId: 'beats' }));
      await Promise.all([duo.listUsers({ limit: 1 }), duo.listUsers({ limit: 1 }), duo.listUsers({ limit: 1 })]);
    });
    assert.ok(heartbeats >= 10, `heartbeat ${heartbeats} times during about 2 s of waiting`);
    // Outside an activity (the CLI) the same client waits without heartbeating, and without failing.
    const duo = await resources.duo(ConnectionConfigSchema.parse({ ...config, connectionId: 'beats' }));
    await Promise.all([duo.listUsers({ limit: 1 }), duo.listUsers({ limit: 1 })]);
    await resources.close();
  });
});
