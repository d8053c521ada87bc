import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { connectionWorkflowId, type FullSyncResult } from '../../src/contract';
import { configureEntityOn } from '../support/runs';
import { saveHistory } from '../support/histories';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { createTestWorker, testTemporal, uniqueId, withWorker } from '../support/temporal';

const root = resolve(__dirname, '../..');

describe('crash recovery: a worker process killed in the middle of a full sync', function () {
  this.timeout(420_000);
  let fx: SyncFixture | undefined;
  afterEach(async () => fx?.cleanup());

  it('finishes on a new worker with every user created exactly once and consistent counts', async () => {
    const total = 1000;
    fx = await makeSyncFixture({ users: makeUsers(total) });
    const { client, server } = { client: testTemporal().client, server: testTemporal().server };
    const taskQueue = uniqueId('tq-crash');
    // The connection's entity lives on the same queue; it is configured before the doomed worker starts.
    const test = await withWorker({ taskQueue }, () => configureEntityOn(fx as SyncFixture, taskQueue));
    assert.equal(test?.ok, true, JSON.stringify(test));
    // A real worker process (src/worker.ts), so the kill is a real crash: no graceful shutdown.
    const doomed = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/worker.ts'], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace, TEMPORAL_TASK_QUEUE: taskQueue },
      stdio: 'ignore',
    });
    const exited = new Promise<void>((r) => doomed.once('exit', () => r()));
    const workflowId = uniqueId(`full-sync/${fx.connectionId}`);
    const handle = await client.workflow.start('fullSyncWorkflow', { taskQueue, workflowId, args: [{ connectionId: fx.connectionId, pagesPerRun: 5 }] });

    const deadline = Date.now() + 180_000;
    while (fx.sandbox.store.users.size < 300) {
      assert.ok(Date.now() < deadline, 'the first worker never got going');
      await new Promise((r) => setTimeout(r, 100));
    }
    doomed.kill('SIGKILL');
    await exited;
    const createdBeforeCrash = fx.sandbox.store.users.size;
    assert.ok(createdBeforeCrash < total, 'the crash happened mid-sync');

    const { worker } = await createTestWorker({ taskQueue });
    const result = (await worker.runUntil(async () => {
      const done = (await handle.result()) as FullSyncResult;
      await client.workflow.getHandle(connectionWorkflowId(fx!.connectionId)).terminate('test done');
      return done;
    })) as FullSyncResult;

    assert.equal(result.summary.failed, 0, JSON.stringify(result.summary.failures.slice(0, 3)));
    assert.equal(fx.sandbox.store.users.size, total, 'every user exists');
    assert.equal(fx.sandbox.store.phones.size, total, 'no phone created twice');
    for (const user of fx.sandbox.store.users.values()) assert.equal(user.phoneIds.size, 1, `${user.username} has one phone`);
    // Users finished by the killed attempt are re-planned as unchanged; ones it created but had not yet
    // given their phone are re-planned as updates (attach phone). A page creates its new users in one
    // bulk call before giving them phones, so that is at most the page in flight. Never is anyone created twice.
    const cutOffAtCrash = 100; // default page size; pages run one at a time
    assert.equal(result.summary.created + result.summary.updated + result.summary.unchanged, total);
    assert.ok(result.summary.updated <= cutOffAtCrash, `updated ${result.summary.updated}: only users of the page cut off mid-create may need finishing`);
    assert.ok(result.summary.created >= createdBeforeCrash - 200 && result.summary.created <= total, `created ${result.summary.created}`);
    await saveHistory('full-sync-worker-crash', workflowId);
  });
});
