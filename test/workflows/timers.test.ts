/**
 * The entity's and the runs' timers on a real dev server, with a "minute" shortened to a second
 * (the workflows' `minuteMs` tuning): the recurring full-sync schedule, the approval timeout, and
 * an operator's `skip`. Assertions are about what happened, never about how long it took.
 */
import assert from 'node:assert/strict';
import { connectionWorkflowId, type FullSyncResult, type RunProgress } from '../../src/contract';
import { configureEntity, entityStatus, startByHand } from '../support/runs';
import { fixturesPerTest, makeUsers, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { waitFor } from '../support/entity';
import { saveHistory } from '../support/histories';

const SECOND_AS_MINUTE = { minuteMs: 1_000 };

describe('timers: schedule, approval timeout and skip (real dev server, one "minute" = 1 s)', function () {
  this.timeout(120_000);
  const made = fixturesPerTest();
  const fixture = (users: number, config: FixtureOptions['config'] = {}) => made({ users: makeUsers(users), config });

  it('the entity runs a full sync every fullSyncIntervalMinutes by itself, one at a time', async () => {
    const fx = await fixture(3, { fullSyncIntervalMinutes: 1 });
    await configureEntity(fx, {}, { ...SECOND_AS_MINUTE, firstSyncAt: 0 });
    const status = await waitFor('three scheduled full syncs', async () => {
      const s = await entityStatus(fx);
      return s.lastRuns.filter((r) => r.kind === 'fullSync' && r.outcome === 'succeeded').length >= 3 ? s : undefined;
    });
    const syncs = status.lastRuns.filter((r) => r.kind === 'fullSync');
    assert.deepEqual(syncs.slice(0, 3).map((r) => r.workflowId), [1, 2, 3].map((n) => `full-sync/${fx.connectionId}/${n}`), 'started by the schedule, numbered by the entity');
    for (let i = 1; i < 3; i += 1) assert.ok((syncs[i - 1]?.finishedAt ?? '') <= (syncs[i]?.startedAt ?? ''), 'never two at once');
    assert.equal(syncs[0]?.counts?.created, 3);
    assert.equal(syncs[2]?.counts?.unchanged, 3);
    await saveHistory('connection-schedule', connectionWorkflowId(fx.connectionId));
  });

  async function guardedRun(fx: SyncFixture) {
    const handle = await startByHand(fx, 'fullSyncWorkflow', {}, { entity: SECOND_AS_MINUTE });
    const waiting = await waitFor('the run to await approval', async () => {
      const p = await handle.query<RunProgress>('progress');
      return p.phase === 'awaitingApproval' ? p : p.phase === 'done' ? assert.fail(`run ended without waiting: ${p.note}`) : undefined;
    });
    return { handle, waiting };
  }

  it('with no decision before approvalTimeoutMinutes, the run skips its deletions and says so', async () => {
    const fx = await fixture(10, { deletionGuard: { approvalTimeoutMinutes: 2 }, sourceHealth: { maxDropFraction: 1 } });
    await startByHand(fx, 'fullSyncWorkflow', {}, { entity: SECOND_AS_MINUTE }).then((h) => h.result());
    fx.writeUsers(makeUsers(10).slice(0, 6));
    const { handle, waiting } = await guardedRun(fx);
    assert.equal(waiting.awaitingApproval?.plannedDeletions, 4);
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.deletions, 'withheld');
    assert.equal(result.summary.deleted, 0);
    assert.ok(result.notes.some((n) => /no approval within 2 minutes: 4 deprovisions skipped/.test(n)), result.notes.join('\n'));
    assert.equal(fx.duoUsernames().length, 10);
    await saveHistory('full-sync-approval-timeout', handle.workflowId);
  });

  it('an operator skip applies nothing and the run ends succeeded; the entity records it', async () => {
    const fx = await fixture(10, { sourceHealth: { maxDropFraction: 1 } });
    await startByHand(fx, 'fullSyncWorkflow', {}).then((h) => h.result());
    fx.writeUsers(makeUsers(10).slice(0, 6));
    const { handle, waiting } = await guardedRun(fx);
    const client = testTemporal().client;
    await client.workflow
      .getHandle(connectionWorkflowId(fx.connectionId))
      .executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId, deletionSetHash: waiting.awaitingApproval?.deletionSetHash, decision: 'skip' }] });
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.deletions, 'withheld');
    assert.ok(result.notes.some((n) => /deletions skipped by operator: 4 deprovisions not applied/.test(n)), result.notes.join('\n'));
    assert.equal(fx.duoUsernames().length, 10);
    const recorded = await waitFor('the entity to record the run', async () => (await entityStatus(fx)).lastRuns.find((r) => r.workflowId === handle.workflowId && r.outcome !== 'running'));
    assert.equal(recorded.outcome, 'succeeded');
    assert.equal(recorded.byHand, true);
    await saveHistory('full-sync-skip', handle.workflowId);
  });
});
