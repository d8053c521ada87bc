/**
 * `npm start`'s demo: it never maps anyone to an administrator (Duo makes an administrator created
 * without a role an Owner), and with real Duo credentials it writes nothing until the operator says
 * `--yes` (or DUO_SYNC_DEMO_WRITE=yes): the connection is configured disabled and one dry run shows
 * what would be written. "Real Duo" here is the Duo sandbox reached through DUO_API_HOST.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectionStatus, connectionWorkflowId, type DuoSyncClient } from '../../src/client';
import { DEMO_CONNECTION_ID, demoSecretPolicy, demoWriteConsent, runFirstDemoSync, startDemoEnvironment, type DemoEnvironment } from '../../src/demo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { createTestWorker, testTemporal } from '../support/temporal';

describe('npm start demo', function () {
  // The first worker of a process bundles the workflow code, which takes minutes on a busy machine.
  this.timeout(300_000);
  let dataDir: string;
  let sandbox: DuoSandbox;
  let demo: DemoEnvironment | undefined;

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'duo-sync-demo-'));
    sandbox = await startDuoSandbox({ seed: 5 });
  });
  afterEach(async () => {
    try {
      await testTemporal().client.workflow.getHandle(connectionWorkflowId(DEMO_CONNECTION_ID)).terminate('test done');
    } catch {
      // never started
    }
    await demo?.stop();
    demo = undefined;
    await sandbox.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The environment of an operator who set real Duo credentials (here: the sandbox's). */
  function realDuoEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const keyFile = join(dataDir, 'skey');
    writeFileSync(keyFile, `${sandbox.account.secretKey}\n`, { mode: 0o600 });
    return { DUO_API_HOST: sandbox.apiHost, DUO_IKEY: sandbox.account.integrationKey, DUO_SKEY_FILE: keyFile, ...extra };
  }

  async function firstSync(env: NodeJS.ProcessEnv, argv: string[]) {
    demo = await startDemoEnvironment(dataDir, env, { write: demoWriteConsent(argv, env) });
    const { worker, taskQueue } = await createTestWorker({ dependencies: { secretPolicy: demoSecretPolicy(dataDir, env) } });
    const dsc: DuoSyncClient = { client: testTemporal().client, taskQueue, close: async () => undefined };
    const current = demo;
    return worker.runUntil(async () => {
      const result = await runFirstDemoSync(dsc, current, 'test');
      return { result, status: await connectionStatus(dsc, DEMO_CONNECTION_ID) };
    });
  }

  it('maps no administrators: no rule maps userType or grants a role, and a full sync creates no administrator', async () => {
    const { result } = await firstSync(realDuoEnv(), ['--yes']);
    for (const rule of demo?.config.rules ?? []) {
      assert.equal(rule.attributeMappings.userType, undefined, `rule ${rule.id} maps no userType`);
      assert.equal(rule.administrators, undefined, `rule ${rule.id} grants no administrator role`);
    }
    assert.ok(result.summary.created > 0, JSON.stringify(result.summary));
    assert.equal(sandbox.store.admins.size, 0, 'no administrator (and so no Owner) was created');
  });

  it('real Duo without --yes: a dry run that says what it would write, a disabled connection, and nothing written', async () => {
    const { result, status } = await firstSync(realDuoEnv(), []);
    assert.equal(result.dryRun, true);
    assert.ok(result.summary.created > 0, `the dry run lists the users it would create: ${JSON.stringify(result.summary)}`);
    assert.equal(sandbox.store.users.size, 0, 'nothing was written to Duo');
    assert.equal(status.enabled, false, 'the entity schedules no full sync of its own');
  });

  it('real Duo with --yes or DUO_SYNC_DEMO_WRITE=yes writes', async () => {
    assert.equal(demoWriteConsent([], {}), false);
    assert.equal(demoWriteConsent(['--yes'], {}), true);
    assert.equal(demoWriteConsent([], { DUO_SYNC_DEMO_WRITE: 'yes' }), true);
    assert.equal(demoWriteConsent([], { DUO_SYNC_DEMO_WRITE: '1' }), false);
    const { result, status } = await firstSync(realDuoEnv({ DUO_SYNC_DEMO_WRITE: 'yes' }), []);
    assert.equal(result.dryRun, false);
    assert.equal(sandbox.store.users.size, result.summary.created, JSON.stringify(result.summary));
    assert.equal(status.enabled, true);
  });
});
