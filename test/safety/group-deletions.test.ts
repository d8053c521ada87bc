/**
 * Safety: owned Duo groups are deleted only through the deletion guard. Reproduced before: the store
 * listed 1 of 6 included groups and 5 owned Duo groups went in the same run, without approval.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connectionWorkflowId, type FullSyncResult, type RunProgress } from '../../src/contract';
import { startByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { waitFor } from '../support/entity';

const GROUPS = ['g1', 'g2', 'g3', 'g4', 'g5', 'g6'].map((id) => ({ id, name: `Group ${id}` }));

describe('safety: group deletions pass the deletion guard', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  afterEach(() => fx.cleanup());

  it('5 of 6 groups gone from the store wait for approval; approving the planned set deletes exactly them', async () => {
    fx = await makeSyncFixture({ config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: GROUPS.map((g) => g.id) } }] } });
    const users = makeUsers(3).map((u) => ({ ...u, groups: GROUPS.map((g) => g.id) }));
    writeFileSync(fx.storePath, JSON.stringify({ users, groups: GROUPS }));
    const first = (await (await startByHand(fx, 'fullSyncWorkflow', {})).result()) as FullSyncResult;
    assert.equal(first.summary.groups?.created, 6);

    writeFileSync(fx.storePath, JSON.stringify({ users: users.map((u) => ({ ...u, groups: ['g1'] })), groups: GROUPS.slice(0, 1) }));
    const handle = await startByHand(fx, 'fullSyncWorkflow', {});
    const waiting = await waitFor('the run to wait at the guard', async () => {
      const p = await handle.query<RunProgress>('progress');
      return p.phase === 'awaitingApproval' ? p.awaitingApproval : p.phase === 'done' ? assert.fail(`ended without waiting: ${p.note}`) : undefined;
    });
    assert.equal(waiting.plannedDeletions, 5);
    assert.equal(fx.sandbox.store.groups.size, 6, 'nothing deleted while waiting');
    await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId, deletionSetHash: waiting.deletionSetHash }] });
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.summary.groups?.deleted, 5);
    assert.deepEqual([...fx.sandbox.store.groups.values()].map((g) => g.name), ['Group g1']);
  });
});
