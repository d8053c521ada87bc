/**
 * Safety: what was approved is exactly what is applied (real dev server, Duo sandbox, file store).
 * An approval names the run and its deletion-set hash; the apply pass acts only on the approved
 * objects that still qualify; the source-health gate is checked again after the wait; every
 * approval payload is validated; runs cannot be handed a configuration that bypasses the entity.
 */
import assert from 'node:assert/strict';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { connectionWorkflowId, DeleteRuleInputSchema, FullSyncInputSchema, InboundSyncInputSchema, type FullSyncResult, type RunProgress } from '../../src/contract';
import { startByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { waitFor } from '../support/entity';

describe('safety: approvals apply exactly the approved set', function () {
  this.timeout(120_000);
  const fixtures: SyncFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((fx) => fx.cleanup()));
  });

  /** Ten owned users v0..v9; the store then loses v0-v2, and a full sync waits at the guard for them. */
  async function waitingRun() {
    const users = makeUsers(10, 'v');
    const fx = await makeSyncFixture({ users, config: { sourceHealth: { maxDropFraction: 1 } } });
    fixtures.push(fx);
    await (await startByHand(fx, 'fullSyncWorkflow', {})).result();
    fx.writeUsers(users.slice(3));
    const handle = await startByHand(fx, 'fullSyncWorkflow', {});
    const waiting = await waitFor('the run to await approval', async () => {
      const p = await handle.query<RunProgress>('progress');
      return p.phase === 'awaitingApproval' ? p.awaitingApproval : undefined;
    });
    assert.equal(waiting.plannedDeletions, 3);
    return { fx, users, handle, hash: waiting.deletionSetHash };
  }

  const approve = (fx: SyncFixture, runId: string, deletionSetHash: string) =>
    testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).executeUpdate('approveDeletions', { args: [{ runId, deletionSetHash }] });

  it('users that newly qualify while the run waits are not deleted; approved users that came back are skipped', async () => {
    const { fx, users, handle, hash } = await waitingRun();
    // While the run waits: v0-v2 come back, v7-v9 leave. The approval covers {v0,v1,v2} only.
    fx.writeUsers([...users.slice(0, 7)]);
    await approve(fx, handle.workflowId, hash);
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.summary.deleted, 0, JSON.stringify(result.summary));
    assert.equal(result.summary.skipped, 3, 'the approved users no longer qualify');
    assert.deepEqual(fx.duoUsernames(), users.map((u) => u.username).sort(), 'v7-v9 wait for the next plan');
  });

  it('the source-health gate is checked again after the wait: an emptied store deletes nobody', async () => {
    const { fx, handle, hash } = await waitingRun();
    fx.writeUsers([]);
    await approve(fx, handle.workflowId, hash);
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.deletions, 'withheld');
    assert.equal(result.summary.deleted, 0);
    assert.ok(result.notes.some((n) => /approved, but source-health gate: rule staff: the store returned no users in scope/.test(n)), result.notes.join('\n'));
    assert.equal(fx.duoUsernames().length, 10);
  });

  it('the run drops approval signals without its runId and hash or with another decision; the entity refuses them too', async () => {
    const { fx, handle, hash } = await waitingRun();
    await handle.signal('approveDeletions', { decision: 'reject' });
    await handle.signal('approveDeletions', { runId: handle.workflowId, decision: 'approve' });
    await handle.signal('approveDeletions', { runId: 'full-sync/other/1', deletionSetHash: hash });
    await handle.signal('approveDeletions', { runId: handle.workflowId, deletionSetHash: hash, decision: 'reject' });
    const entity = testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId));
    const refusedFor = (pattern: RegExp) => (err: unknown) => err instanceof WorkflowUpdateFailedError && pattern.test(err.cause?.message ?? '');
    await assert.rejects(entity.executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId }] }), refusedFor(/deletionSetHash/));
    await assert.rejects(entity.executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId, deletionSetHash: hash, decision: 'reject' }] }), refusedFor(/decision/));
    assert.equal((await handle.query<RunProgress>('progress')).phase, 'awaitingApproval', 'still waiting after every invalid decision');
    assert.equal(fx.duoUsernames().length, 10);
    await handle.signal('approveDeletions', { runId: handle.workflowId, deletionSetHash: hash });
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.summary.deleted, 3);
  });

  it('runs take no inline configuration: a run started with one is refused before it touches anything', async () => {
    const fx = await makeSyncFixture({ users: makeUsers(3) });
    fixtures.push(fx);
    assert.match(FullSyncInputSchema.safeParse({ connectionId: fx.connectionId, config: fx.config }).error?.message ?? '', /config/);
    assert.match(InboundSyncInputSchema.safeParse({ connectionId: fx.connectionId, config: fx.config }).error?.message ?? '', /config/);
    assert.match(DeleteRuleInputSchema.safeParse({ connectionId: fx.connectionId, ruleId: 'staff', rule: fx.config.rules[0] }).error?.message ?? '', /rule/);
    const refused = await startByHand(fx, 'fullSyncWorkflow', { config: fx.config } as never);
    await assert.rejects(refused.result(), (err: unknown) => err instanceof WorkflowFailedError && /invalid fullSyncWorkflow input.*unknown key "config"/.test(err.cause?.message ?? ''));
    assert.equal(fx.duoUsernames().length, 0);
  });
});
