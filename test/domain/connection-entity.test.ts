/**
 * The connection entity's transitions as a plain class, no server: what each message does, and what
 * `nextAction` asks the workflow to do at a given time (schedule, coalescing, approvals, claims).
 */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { entityConfig, HASH, MIN, readyEntity, T0 } from './entity-fixtures';
import { ConnectionEntity, MAX_PENDING_CHANGES, RUN_CHECK_INTERVAL_MINUTES, type EntityAction } from '../../src/domain/entity/connection-entity';

const config = entityConfig;
const ready = (extra: Record<string, unknown> = {}, maxConcurrentReconciles = 2): ConnectionEntity => readyEntity(extra, { maxConcurrentReconciles });

function started(action: EntityAction): { kind: string; workflowId: string; dryRun: boolean } {
  assert.equal(action.kind, 'startRun', JSON.stringify(action));
  return (action as Extract<EntityAction, { kind: 'startRun' }>).run;
}

function refusedAs(type: string): (err: unknown) => boolean {
  return (err) => err instanceof ApplicationFailure && err.type === type;
}

const counts = { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 3, skipped: 0, failed: 0 };

describe('ConnectionEntity (the entity as a plain state machine)', () => {
  it('waits without a timer until configured, and provisions nothing until the connection test passes', () => {
    const e = new ConnectionEntity({ connectionId: 'acme', minuteMs: MIN, maxConcurrentReconciles: 2 });
    assert.deepEqual(e.nextAction(T0), { kind: 'wait' });
    e.configure(T0, e.checkConfigure(config()));
    assert.equal(e.nextAction(T0).kind, 'wait', 'not tested yet');
    assert.match(e.blockedReason() ?? '', /connection test has not passed/);
    e.connectionTested(T0, { ok: true, testedAt: '', checks: [] });
    assert.equal(started(e.nextAction(T0)).kind, 'fullSync', 'the first full sync is due at configure time');
  });

  it('schedules the next full sync one interval after the last one started, never two at once', () => {
    const e = ready();
    const first = started(e.nextAction(T0));
    assert.equal(first.workflowId, 'full-sync/acme/1');
    const waiting = e.nextAction(T0 + 1);
    assert.equal(waiting.kind, 'wait');
    e.requestSync(T0 + 2, { dryRun: false });
    assert.equal(e.nextAction(T0 + 3).kind, 'wait', 'a queued request waits for the running sync');
    e.runFinished(T0 + 5 * MIN, { workflowId: first.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts, inScopeByRule: { staff: 3 } });
    const queued = started(e.nextAction(T0 + 5 * MIN));
    assert.equal(queued.workflowId, 'full-sync/acme/2', 'the queued request runs right after');
    e.runFinished(T0 + 6 * MIN, { workflowId: queued.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    const idle = e.nextAction(T0 + 6 * MIN);
    assert.deepEqual(idle, { kind: 'wait', untilMs: T0 + 5 * MIN + 30 * MIN });
    assert.equal(started(e.nextAction(T0 + 35 * MIN)).workflowId, 'full-sync/acme/3');
  });

  it('a dry-run request does not move the schedule; a real request wins over a queued dry run', () => {
    const e = ready();
    const first = started(e.nextAction(T0));
    e.requestSync(T0, { dryRun: true });
    e.requestSync(T0, { dryRun: false });
    e.requestSync(T0, { dryRun: true });
    e.runFinished(T0 + MIN, { workflowId: first.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    const next = started(e.nextAction(T0 + MIN));
    assert.equal(next.dryRun, false);
    e.runFinished(T0 + 2 * MIN, { workflowId: next.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    e.requestSync(T0 + 2 * MIN, { dryRun: true });
    assert.equal(started(e.nextAction(T0 + 2 * MIN)).dryRun, true);
    assert.equal(e.status().nextFullSyncAt, new Date(T0 + MIN + 30 * MIN).toISOString(), 'only real syncs reset the schedule');
  });

  it('a full sync of all rules is followed by the inbound sync when there is an inbound rule', () => {
    const e = ready({ rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }, { id: 'duo-users', direction: 'inbound', scope: { kind: 'all' } }] });
    const full = started(e.nextAction(T0));
    assert.equal(full.kind, 'fullSync');
    assert.equal(e.status().syncQueued, true, 'the inbound half is queued');
    e.runFinished(T0 + MIN, { workflowId: full.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    assert.equal(started(e.nextAction(T0 + MIN)).kind, 'inboundSync');
  });

  it('only a complete, real full sync of all rules sets the source-health baseline, per rule', () => {
    const e = ready();
    const dry = (() => {
      e.requestSync(T0, { dryRun: true });
      return started(e.nextAction(T0));
    })();
    e.runFinished(T0, { workflowId: dry.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: true, counts, inScopeByRule: { staff: 99 } });
    assert.deepEqual(e.status().lastGoodInScopeByRule, {});
    const real = started(e.nextAction(T0));
    e.runFinished(T0, { workflowId: real.workflowId, kind: 'fullSync', outcome: 'partial', dryRun: false, counts, inScopeByRule: { staff: 42 } });
    assert.deepEqual(e.status().lastGoodInScopeByRule, { staff: 42 });
  });

  it('drops invalid, forged and stale run reports with a recorded reason', () => {
    const e = ready();
    const run = started(e.nextAction(T0));
    e.runProgress(T0, { workflowId: run.workflowId, phase: 'upsert' });
    assert.match(e.status().recentEvents.at(-1)?.message ?? '', /dropped invalid runProgress signal/);
    e.runProgress(T0, { workflowId: 'full-sync/other/1', phase: 'awaitingApproval', pagesDone: 1, usersSeen: 1, counts, awaitingApproval: { plannedDeletions: 1, ownedCount: 1, deletionSetHash: HASH, reason: 'forged' } });
    assert.equal(e.status().currentRun?.phase, 'upsert', 'progress of a run the entity does not track is ignored');
    e.runFinished(T0, { workflowId: 'full-sync/other/1', kind: 'fullSync', outcome: 'succeeded', dryRun: false });
    assert.equal(e.status().runsInFlight.length, 1);
  });

  it('approveDeletions names the waiting run and its exact deletion set; the decision is closed', () => {
    const e = ready();
    const run = started(e.nextAction(T0));
    const approve = (payload: unknown) => () => e.checkApproveDeletions(payload);
    assert.equal(e.approvalReadiness(approve({ runId: run.workflowId, deletionSetHash: HASH })()), 'pending', 'a tracked run whose wait is not reported yet');
    assert.throws(() => e.confirmApproveDeletions({ runId: run.workflowId, deletionSetHash: HASH, decision: 'approve' }), refusedAs('NotAwaitingApproval'));
    e.runProgress(T0, { workflowId: run.workflowId, phase: 'awaitingApproval', pagesDone: 3, usersSeen: 10, counts, awaitingApproval: { plannedDeletions: 5, ownedCount: 10, deletionSetHash: HASH, reason: 'guard' } });
    assert.throws(approve({ runId: run.workflowId }), refusedAs('InvalidInput'), 'the hash is required');
    assert.throws(approve({ runId: run.workflowId, deletionSetHash: HASH, decision: 'reject' }), refusedAs('InvalidInput'));
    assert.throws(approve({ runId: run.workflowId, deletionSetHash: 'ffffffffffffffff' }), refusedAs('DeletionSetMismatch'));
    assert.throws(approve({ runId: 'full-sync/acme/99', deletionSetHash: HASH }), refusedAs('NotAwaitingApproval'));
    assert.deepEqual(e.checkApproveDeletions({ runId: run.workflowId, deletionSetHash: HASH }), { runId: run.workflowId, deletionSetHash: HASH, decision: 'approve' });
    assert.equal(e.approvalReadiness({ runId: run.workflowId, deletionSetHash: HASH, decision: 'approve' }), 'ready');
    assert.equal(e.checkApproveDeletions({ runId: run.workflowId, deletionSetHash: HASH, decision: 'skip' }).decision, 'skip');
  });

  it('a run started by hand claims the configuration and is tracked: no scheduled sync starts beside it', () => {
    const e = ready();
    const claim = e.claimRun(T0, e.checkClaimRun({ workflowId: 'by-hand-1', kind: 'fullSync', dryRun: false }));
    assert.equal(claim.config.connectionId, 'acme');
    assert.equal(e.nextAction(T0).kind, 'wait', 'the due scheduled sync waits for the hand-started one');
    assert.throws(() => e.claimRun(T0, { workflowId: 'by-hand-2', kind: 'inboundSync', dryRun: false }), refusedAs('RunAlreadyRunning'));
    assert.equal(e.claimRun(T0, { workflowId: 'by-hand-1', kind: 'fullSync', dryRun: false }).config.connectionId, 'acme', 'claiming again (a retried activity) is fine');
    e.runFinished(T0 + MIN, { workflowId: 'by-hand-1', kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    assert.equal(e.status().lastRuns.find((r) => r.workflowId === 'by-hand-1')?.byHand, true);
    assert.equal(started(e.nextAction(T0 + MIN)).kind, 'fullSync');
  });

  it('claims obey the entity: nothing written while paused or disabled (a dry run may), no cleanup of a live rule', () => {
    const e = ready();
    e.pause(T0, { reason: 'freeze' });
    assert.throws(() => e.claimRun(T0, { workflowId: 'x', kind: 'reconcileUser', dryRun: false }), refusedAs('NotProvisioning'));
    assert.equal(e.claimRun(T0, { workflowId: 'x', kind: 'reconcileUser', dryRun: true }).config.connectionId, 'acme');
    e.resume(T0);
    assert.throws(() => e.claimRun(T0, { workflowId: 'd', kind: 'deleteRule', dryRun: false, ruleId: 'staff' }), refusedAs('RuleStillConfigured'));
    const deletion = e.deleteRule(T0, e.checkDeleteRule({ ruleId: 'staff' }));
    const claim = e.claimRun(T0, { workflowId: deletion.workflowId, kind: 'deleteRule', dryRun: false });
    assert.equal(claim.deletedRule?.id, 'staff', 'the deletion run gets the removed rule');
    e.runFinished(T0, { workflowId: deletion.workflowId, kind: 'deleteRule', outcome: 'succeeded', dryRun: false });
    assert.equal(e.claimRun(T0, { workflowId: 'again', kind: 'deleteRule', dryRun: false, ruleId: 'staff' }).deletedRule, undefined, 'forgotten once its deletion finished');
  });

  it('asks Temporal about runs that never report, and ends them as failed', () => {
    const e = ready();
    const run = started(e.nextAction(T0));
    const waiting = e.nextAction(T0 + 1);
    assert.deepEqual(waiting, { kind: 'wait', untilMs: T0 + RUN_CHECK_INTERVAL_MINUTES * MIN });
    assert.deepEqual(e.nextAction(T0 + RUN_CHECK_INTERVAL_MINUTES * MIN), { kind: 'checkRuns', workflowIds: [run.workflowId] });
    e.runsClosed(T0 + RUN_CHECK_INTERVAL_MINUTES * MIN, [{ workflowId: run.workflowId, status: 'TERMINATED' }]);
    const record = e.status().lastRuns.find((r) => r.workflowId === run.workflowId);
    assert.equal(record?.outcome, 'failed');
    assert.match(record?.note ?? '', /closed \(TERMINATED\) without reporting/);
    assert.equal(e.status().runsInFlight.length, 0);
  });

  it('user changes coalesce per user, run in arrival order within the concurrency limit, and never two for one user', () => {
    const e = ready({}, 2);
    started(e.nextAction(T0));
    e.userChanged(T0, { username: 'alice' });
    e.userChanged(T0, { username: 'bob' });
    e.userChanged(T0, { username: 'ALICE' });
    e.userChanged(T0, { username: 'carol' });
    e.userChanged(T0, { nope: 1 });
    const a = e.nextAction(T0);
    const b = e.nextAction(T0);
    assert.deepEqual([a, b].map((x) => (x.kind === 'reconcileUser' ? x.change.username : x.kind)), ['bob', 'ALICE']);
    assert.equal(e.nextAction(T0).kind, 'wait', 'two reconciles in flight: carol waits');
    e.userChanged(T0, { username: 'bob' });
    e.endUserReconcile('bob');
    const c = e.nextAction(T0);
    assert.equal(c.kind === 'reconcileUser' ? c.change.username : c.kind, 'carol', 'bob is queued again but carol came first');
    assert.match(e.status().recentEvents.map((x) => x.message).join('\n'), /dropped invalid userChanged signal: username/);
  });

  it('draining for continue-as-new hands out no reconciles but still starts a requested sync, and the changes travel in the carried state', () => {
    const e = ready({}, 2);
    const first = started(e.nextAction(T0));
    e.userChanged(T0, { username: 'alice' });
    assert.equal(e.nextAction(T0, { draining: true }).kind, 'wait', 'alice is not reconciled while draining');
    e.syncNow(T0, { reason: 'asked while draining' });
    e.runLaunched(first.workflowId);
    e.runFinished(T0, { workflowId: first.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    const queued = started(e.nextAction(T0, { draining: true }));
    assert.equal(e.readyToContinueAsNew(), false, 'not while the queued run is being started');
    e.runLaunched(queued.workflowId);
    assert.equal(e.readyToContinueAsNew(), true);
    const carried = new ConnectionEntity({ connectionId: 'acme', minuteMs: MIN, maxConcurrentReconciles: 2 }, e.carry());
    assert.equal(carried.status().pendingChanges, 1, 'alice waits in the carried state');
  });

  it('a flood of distinct changes becomes one full sync instead', () => {
    const e = ready();
    for (let i = 0; i <= MAX_PENDING_CHANGES; i += 1) e.userChanged(T0, { username: `u${i}` });
    assert.equal(e.status().pendingChanges, 0);
    assert.equal(e.status().syncQueued, true);
  });

  it('carries everything through continue-as-new', () => {
    const e = ready();
    const run = started(e.nextAction(T0));
    e.userChanged(T0, { username: 'alice' });
    e.pause(T0, {});
    const again = new ConnectionEntity({ connectionId: 'acme', minuteMs: MIN, maxConcurrentReconciles: 2 }, JSON.parse(JSON.stringify(e.carry())));
    assert.deepEqual(again.status(), e.status());
    again.runFinished(T0, { workflowId: run.workflowId, kind: 'fullSync', outcome: 'succeeded', dryRun: false, counts });
    assert.equal(again.status().runsInFlight.length, 0, 'a run started before continue-as-new still reports to the new run');
  });

  it('rejects a configuration for another connection and a rule that would break the connection', () => {
    const e = ready();
    assert.throws(() => e.checkConfigure({ ...config(), connectionId: 'other' }), refusedAs('InvalidInput'));
    assert.throws(() => e.checkUpsertRule({ id: 'Bad Id', direction: 'outbound', scope: { kind: 'all' } }), refusedAs('InvalidInput'));
    e.upsertRule(T0, e.checkUpsertRule({ id: 'in1', direction: 'inbound', scope: { kind: 'all' } }));
    assert.throws(() => e.checkUpsertRule({ id: 'in2', direction: 'inbound', scope: { kind: 'all' } }), refusedAs('InvalidInput'));
  });
});
