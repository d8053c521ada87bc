import assert from 'node:assert/strict';
import { connectionWorkflowId, restoreDeletionsUpdate, type FullSyncResult } from '../../src/contract';
import { ConnectionConfigSchema } from '../../src/domain/connection';
import { ExitCode } from '../../src/cli/main';
import { cliDriver, cliEnv } from '../support/cli';
import { configureEntity, fixtureTaskQueue, runByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';

const DAY_MS = 24 * 3600 * 1000;

describe('removeAction trash and restoreDeletions (real dev server, Duo sandbox, file store)', function () {
  this.timeout(120_000);
  let fx: SyncFixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  const runFullSync = (f: SyncFixture): Promise<FullSyncResult> => runByHand(f, 'fullSyncWorkflow', {});
  const restore = async (f: SyncFixture, runId: string) => {
    await configureEntity(f);
    return testTemporal().client.workflow.getHandle(connectionWorkflowId(f.connectionId)).executeUpdate(restoreDeletionsUpdate, { args: [{ runId }] });
  };

  it('accepts trash as a removeAction and still requires an explicit choice', () => {
    const base = { connectionId: 'c-1', duo: { apiHost: 'api-x.duosecurity.com', integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: { env: 'DUO_SYNC_X' } }, store: { kind: 'file', path: '/tmp/x.json' }, rules: [] };
    assert.equal(ConnectionConfigSchema.parse({ ...base, userActions: { deprovision: true, removeAction: 'trash' } }).userActions.removeAction, 'trash');
    assert.equal(ConnectionConfigSchema.safeParse({ ...base, userActions: { deprovision: true } }).success, false);
  });

  it('sends a run\'s deprovisioned users to Trash in one bulk call per 100, and lists each of them', async () => {
    const users = makeUsers(40);
    fx = await makeSyncFixture({ users });
    fx.config.userActions.removeAction = 'trash';
    await runFullSync(fx);
    fx.writeUsers(users.slice(0, 37));
    fx.sandbox.resetStats();
    const res = await runFullSync(fx);
    assert.equal(res.summary.deleted, 3);
    assert.deepEqual(res.summary.trashed?.map((t) => t.label).sort(), ['user37', 'user38', 'user39']);
    assert.equal(fx.sandbox.stats().byEndpoint['POST /admin/v1/users/bulk_send_to_trash'], 1);
    for (const name of ['user37', 'user38', 'user39']) assert.equal(fx.duoUser(name)?.status, 'pending deletion');
  });

  it('sends deprovisioned users to Trash, restores exactly what a run trashed, and reports users purged after 7 days', async () => {
    let offset = 0;
    const users = makeUsers(30);
    fx = await makeSyncFixture({ users, sandbox: { now: () => Date.now() + offset, maxClockSkewSeconds: 30 * 24 * 3600 } });
    fx.config.userActions.removeAction = 'trash';
    await runFullSync(fx);
    const phonesBefore = fx.sandbox.store.phones.size;

    fx.writeUsers(users.filter((u) => u.username !== 'user3'));
    const trashRun = await runFullSync(fx);
    assert.equal(trashRun.summary.deleted, 1);
    assert.deepEqual(trashRun.summary.trashed?.map((t) => t.label), ['user3']);
    assert.equal(fx.duoUser('user3')?.status, 'pending deletion', 'in Trash, not deleted');
    assert.equal(fx.sandbox.store.phones.size, phonesBefore, 'a trashed user keeps its phones so a restore is complete');

    // Someone else's trashed user is not restored by this run's restore.
    const other = fx.duoUser('user9');
    assert.ok(other);
    fx.sandbox.store.sendToTrash(other.user_id);

    const restored = await restore(fx, trashRun.workflowId);
    assert.equal(restored.restored, 1);
    assert.equal(restored.failed, 0);
    assert.equal(fx.duoUser('user3')?.status, 'active');
    assert.equal(fx.duoUser('user9')?.status, 'pending deletion');
    fx.sandbox.store.restoreFromTrash(other.user_id);

    // A second run trashes user4; 8 days later Duo has purged it, and the restore says so.
    fx.writeUsers(users.filter((u) => u.username !== 'user4'));
    const second = await runFullSync(fx);
    assert.deepEqual(second.summary.trashed?.map((t) => t.label), ['user4']);
    offset = 8 * DAY_MS;
    fx.sandbox.store.purgeExpiredTrash();
    // Through the CLI, as ops do: a purged user fails the restore (exit 1) and is named.
    const taskQueue = await fixtureTaskQueue(fx);
    const { cli } = cliDriver(() => cliEnv(taskQueue));
    const late = await cli('restore', fx.connectionId, second.workflowId);
    assert.equal(late.code, ExitCode.failed, late.out + late.err);
    assert.match(late.out, /restored 0 user\(s\).*1 failed/);
    assert.match(late.out, /user4.*purged/);
    assert.equal(fx.duoUser('user4'), undefined);
    const unknown = await cli('restore', fx.connectionId, 'full-sync/nope');
    assert.notEqual(unknown.code, ExitCode.ok);
    assert.match(unknown.out + unknown.err, /does not exist/);
  });
});
