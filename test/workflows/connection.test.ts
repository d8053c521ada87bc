import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  approveDeletions,
  configureConnection,
  connectionStatus,
  connectionWorkflowId,
  deleteRule,
  signalUserChanged,
  syncNow,
  syncUser,
  type DuoSyncClient,
} from '../../src/client';
import type { ConnectionStatus } from '../../src/contract';
import { parseMarker } from '../../src/domain/ownership';
import { saveHistory } from '../support/histories';
import { makeUsers, type FileUser, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';

describe('connectionWorkflow (entity) with real worker, sandbox and file store', function () {
  this.timeout(180_000);
  let harness: EntityHarness;
  let fx: SyncFixture;
  let dsc: DuoSyncClient;

  async function setUp(options: FixtureOptions = {}): Promise<void> {
    harness = await startEntityHarness(options);
    ({ fx, dsc } = harness);
  }

  afterEach(() => harness.stop());

  async function lastRunDone(previous = 0): Promise<ConnectionStatus> {
    return waitFor('a finished full sync', async () => {
      const status = await connectionStatus(dsc, fx.connectionId);
      const done = status.lastRuns.filter((r) => r.kind === 'fullSync' && r.outcome !== 'running');
      return done.length > previous ? status : undefined;
    });
  }

  it('configure runs the connection test and the first full sync; syncNow returns the run id; invalid input is rejected', async () => {
    await setUp({ users: makeUsers(12) });
    const configured = await configureConnection(dsc, fx.config);
    assert.equal(configured.rules, 1);
    const status = await lastRunDone();
    assert.equal(status.connectionTest?.ok, true, JSON.stringify(status.connectionTest));
    assert.equal(fx.duoUsernames().length, 12);
    const firstRun = status.lastRuns.find((r) => r.kind === 'fullSync');
    assert.equal(firstRun?.counts?.created, 12);
    assert.deepEqual(status.lastGoodInScopeByRule, { staff: 12 });

    const started = await syncNow(dsc, fx.connectionId, { reason: 'test' });
    assert.match(started.workflowId, new RegExp(`^full-sync/${fx.connectionId}/\\d+$`));
    const after = await lastRunDone(1);
    const second = after.lastRuns.find((r) => r.workflowId === started.workflowId);
    assert.equal(second?.counts?.unchanged, 12);

    const handle = testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId));
    await assert.rejects(syncUser(dsc, fx.connectionId, { username: '' }), /invalid syncUser request: username: username is required/);
    await assert.rejects(handle.executeUpdate('syncUser', { args: [{ username: '' }] }), (err: unknown) => err instanceof WorkflowUpdateFailedError && /username is required/.test(String(err.cause?.message)));
    await handle.signal('userChanged', { nope: true });
    const withDrop = await waitFor('dropped signal event', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return s.recentEvents.some((e) => /dropped invalid userChanged/.test(e.message)) ? s : undefined;
    });
    assert.equal(withDrop.configured, true, 'the workflow keeps running after a bad signal');
    await saveHistory('connection-configure-sync', connectionWorkflowId(fx.connectionId));
  });

  it('applies a burst of 1,000 change signals for 100 users so Duo ends at the last state of each', async () => {
    const users = makeUsers(100);
    await setUp({ users });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    let latest: FileUser[] = users;
    for (let round = 0; round < 10; round += 1) {
      latest = users.map((u) => ({ ...u, email: `round${round}.${u.username}@example.org` }));
      fx.writeUsers(latest);
      await Promise.all(latest.map((u) => signalUserChanged(dsc, fx.connectionId, { username: u.username })));
    }
    await waitFor('all changes applied', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return s.pendingChanges === 0 && s.reconcilesInFlight === 0 ? s : undefined;
    }, 150_000);
    for (const u of latest) assert.equal(fx.duoUser(u.username)?.email, u.email, `${u.username} ends at its last change`);
  });

  it('continues-as-new under a small history budget with status, queued syncs and pending changes intact', async () => {
    const users = makeUsers(20);
    await setUp({ users });
    const { client } = testTemporal();
    const workflowId = connectionWorkflowId(fx.connectionId);
    const first = await client.workflow.start('connectionWorkflow', { taskQueue: dsc.taskQueue, workflowId, args: [{ connectionId: fx.connectionId, historyEventBudget: 150 }] });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    // A second request during a run is remembered (queued), never run concurrently.
    const a = await syncNow(dsc, fx.connectionId);
    const b = await syncNow(dsc, fx.connectionId);
    assert.equal(b.workflowId, a.workflowId);
    assert.equal(b.queued, true);
    const latest = users.map((u) => ({ ...u, email: `can.${u.username}@example.org` }));
    fx.writeUsers(latest);
    for (const u of latest) await signalUserChanged(dsc, fx.connectionId, { username: u.username });
    const status = await waitFor('queued sync and changes done after continue-as-new', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      const done = s.lastRuns.filter((r) => r.kind === 'fullSync' && r.outcome !== 'running').length;
      return done >= 3 && s.pendingChanges === 0 && s.reconcilesInFlight === 0 && !s.syncQueued ? s : undefined;
    }, 150_000);
    const description = await client.workflow.getHandle(workflowId).describe();
    assert.notEqual(description.runId, first.firstExecutionRunId, 'the entity continued as new');
    assert.equal(status.lastRuns.filter((r) => r.kind === 'fullSync').length >= 3, true, 'run history survived');
    assert.equal(status.connectionTest?.ok, true, 'connection test survived');
    for (const u of latest) assert.equal(fx.duoUser(u.username)?.email, u.email);
    await saveHistory('connection-continue-as-new', workflowId);
  });

  it('syncNow requests waiting while the history budget runs out are answered: continue-as-new waits for them, not the other way round', async () => {
    // A queued syncNow's handler waits for the entity's loop to start the run, and continue-as-new
    // waits for every handler: the loop must keep serving until then. Requests queued behind a
    // running sync wait across the run's progress signals, which is when a small budget runs out.
    await setUp({ users: makeUsers(3) });
    const { client } = testTemporal();
    const workflowId = connectionWorkflowId(fx.connectionId);
    const first = await client.workflow.start('connectionWorkflow', { taskQueue: dsc.taskQueue, workflowId, args: [{ connectionId: fx.connectionId, historyEventBudget: 100 }] });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    const runIds = new Set<string>([first.firstExecutionRunId]);
    for (let round = 1; runIds.size < 3; round += 1) {
      assert.ok(round <= 6, `the entity continued as new only ${runIds.size - 1} times in 6 rounds`);
      const requests = Promise.all([1, 2, 3].map(() => syncNow(dsc, fx.connectionId, { dryRun: true })));
      const answers = await Promise.race([requests, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000))]);
      assert.ok(answers, `round ${round}: three syncNow requests got no answer within 30 s`);
      const last = answers.at(-1)?.workflowId ?? '';
      await waitFor(`${last} to finish`, async () => ((await connectionStatus(dsc, fx.connectionId)).lastRuns.some((r) => r.workflowId === last && r.outcome !== 'running') ? true : undefined));
      runIds.add((await client.workflow.getHandle(workflowId).describe()).runId);
    }
    await saveHistory('connection-serves-until-continue-as-new', workflowId);
  });

  it('syncUser reconciles one user at once and returns its summary', async () => {
    const users = makeUsers(3);
    await setUp({ users });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    fx.writeUsers([...users, ...makeUsers(1, 'late')]);
    const summary = await syncUser(dsc, fx.connectionId, { username: 'late0' });
    assert.equal(summary.created, 1);
    assert.ok(fx.duoUser('late0'));
  });

  it('deletion guard: pauses in awaitingApproval, approveDeletions with the planned hash releases it', async () => {
    const users = makeUsers(40);
    await setUp({ users, config: { deletionGuard: { maxFraction: 0.1, maxCount: 500 } } });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    fx.writeUsers(users.slice(0, 30));
    const { workflowId } = await syncNow(dsc, fx.connectionId);
    const waiting = await waitFor('awaitingApproval', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return s.currentRun?.phase === 'awaitingApproval' ? s : undefined;
    });
    const pending = waiting.currentRun?.awaitingApproval;
    assert.equal(pending?.plannedDeletions, 10);
    assert.equal(fx.duoUsernames().length, 40, 'nothing deleted while waiting');
    await assert.rejects(approveDeletions(dsc, fx.connectionId, { runId: workflowId, deletionSetHash: 'ffffffffffffffff' }), /does not match/);
    await approveDeletions(dsc, fx.connectionId, { runId: workflowId, deletionSetHash: pending?.deletionSetHash ?? '' });
    const done = await lastRunDone(1);
    const run = done.lastRuns.find((r) => r.workflowId === workflowId);
    assert.equal(run?.counts?.deleted, 10);
    assert.equal(fx.duoUsernames().length, 30);
  });

  it('deleteRule without deprovisioning releases ownership and leaves the users', async () => {
    await setUp({ users: makeUsers(5) });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    const { workflowId } = await deleteRule(dsc, fx.connectionId, 'staff');
    await testTemporal().client.workflow.getHandle(workflowId).result();
    assert.equal(fx.duoUsernames().length, 5);
    assert.equal(parseMarker(fx.duoUser('user0')?.notes), null, 'ownership released');
    const status = await connectionStatus(dsc, fx.connectionId);
    assert.deepEqual(status.rules, []);
  });

  it('deleteRule with deprovisionOnRuleDeletion waits at the deletion guard, then deletes exactly the rule’s users and nobody else', async () => {
    await setUp({
      users: makeUsers(5),
      config: { userActions: { create: true, update: true, disable: true, deprovisionOnRuleDeletion: true, removeAction: 'delete' } },
    });
    const { DuoClient } = await import('../../src/duo');
    await new DuoClient(fx.sandbox.clientOptions()).createUser({ username: 'bystander' });
    await configureConnection(dsc, fx.config);
    await lastRunDone();
    assert.equal(fx.duoUsernames().length, 6);
    const { workflowId } = await deleteRule(dsc, fx.connectionId, 'staff');
    // All 5 owned users of the connection would go: far above the guard's 10%, so it waits.
    const waiting = await waitFor('the rule deletion to await approval', async () => {
      const run = (await connectionStatus(dsc, fx.connectionId)).runsInFlight.find((r) => r.workflowId === workflowId);
      return run?.progress.phase === 'awaitingApproval' ? run.progress.awaitingApproval : undefined;
    });
    assert.equal(waiting.plannedDeletions, 5);
    assert.equal(fx.duoUsernames().length, 6, 'nothing deleted while waiting');
    await approveDeletions(dsc, fx.connectionId, { runId: workflowId, deletionSetHash: waiting.deletionSetHash });
    const result = (await testTemporal().client.workflow.getHandle(workflowId).result()) as { summary: { deleted: number } };
    assert.equal(result.summary.deleted, 5);
    assert.deepEqual(fx.duoUsernames(), ['bystander']);
    await saveHistory('delete-rule-deprovision', workflowId);
  });
});
