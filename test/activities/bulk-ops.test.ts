/**
 * Plans through Duo's bulk operations against the sandbox, without Temporal: waves keep each user's
 * ops in order and stop a user at its first failure, and a wave whose answer was lost after Duo
 * applied it is sent again without applying anything twice or miscounting.
 */
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { applyLeadingOpsInBulk, bulkIsCheaper, type LeadsApplied } from '../../src/activities/bulk-ops';
import { DuoClient, DuoError, type DuoBulkOperation, type DuoItemResult, type DuoUser } from '../../src/duo';
import type { PlanOp } from '../../src/domain/plan';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';

/** A client whose first bulk answer is lost after Duo applied it (a timeout on the way back). */
class LosesFirstAnswer extends DuoClient {
  lost = 0;
  override async bulkOperations(ops: readonly DuoBulkOperation[]): Promise<Array<DuoItemResult<DuoUser | undefined>>> {
    const results = await super.bulkOperations(ops);
    if (this.lost > 0) return results;
    this.lost += 1;
    const error = new DuoError({ kind: 'timeout', operation: `bulk operations (${ops.length})`, method: 'POST', path: '/admin/v1/bulk' });
    return results.map(() => ({ ok: false as const, error }));
  }
}

describe('bulk operations in waves (Duo sandbox)', () => {
  let sandbox: DuoSandbox;
  before(async () => {
    sandbox = await startDuoSandbox({ seed: 11 });
  });
  after(async () => {
    await sandbox.stop();
  });

  const user = (name: string): string => sandbox.store.createUser(new Map([['username', name]])).user_id;

  it('runs each user\'s ops in order, and a user whose op Duo refuses sends nothing more', async () => {
    sandbox.resetStats();
    const group = sandbox.store.createGroup(new Map([['name', 'wave-staff']])).group_id;
    const bad = user('wave-bad');
    const good = user('wave-good');
    const plans: PlanOp[][] = [
      [
        { op: 'update', userId: bad, username: 'wave-bad', changes: { email: 'not an email' } },
        { op: 'addToGroup', userId: bad, username: 'wave-bad', groupId: group, groupName: 'wave-staff' },
      ],
      [
        { op: 'update', userId: good, username: 'wave-good', changes: { email: 'good@example.org' } },
        { op: 'addToGroup', userId: good, username: 'wave-good', groupId: group, groupName: 'wave-staff' },
        { op: 'attachPhone', userId: good, username: 'wave-good', number: '+15550000001', type: 'mobile' },
      ],
    ];
    // Waves this small would go as single calls (bulkIsCheaper); here they are sent in bulk to show the waves.
    const { leads, error } = await applyLeadingOpsInBulk(new DuoClient(sandbox.clientOptions()), plans, { cheaperOnly: false });
    assert.equal(error, undefined);
    const failure = leads[0] && 'failure' in leads[0] ? leads[0].failure : undefined;
    assert.equal(failure?.operation, 'update');
    assert.equal(failure?.code, '40002');
    // The phone is not a bulk operation: the plan continues from it one call at a time.
    assert.deepEqual(leads[1], { done: 2 });
    assert.equal(sandbox.store.users.get(bad)?.groupIds.size, 0, 'not added after its update failed');
    assert.equal(sandbox.store.users.get(good)?.groupIds.has(group), true);
    assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/bulk'], 2, 'one call per wave');
  });

  it('sends bulk calls only when they cost less of Duo\'s limits than single calls (6 ops per call)', () => {
    assert.deepEqual([0, 1, 5, 6, 50, 51, 100].map((n) => bulkIsCheaper(n, 50)), [false, false, false, true, true, true, true]);
    // Two calls of a batch of 10 need 12 ops.
    assert.deepEqual([11, 12].map((n) => bulkIsCheaper(n, 10)), [false, true]);
  });

  it('sends a wave again when its answer was lost, applying nothing twice', async () => {
    const group = sandbox.store.createGroup(new Map([['name', 'lost-staff']])).group_id;
    const ids = ['lost-a', 'lost-b', 'lost-c'].map(user);
    const gone = user('lost-gone');
    const plans: PlanOp[][] = [
      ...ids.map((id, i): PlanOp[] => [{ op: 'addToGroup', userId: id, username: `lost-${i}`, groupId: group, groupName: 'lost-staff' }]),
      [{ op: 'delete', userId: gone, username: 'lost-gone' }],
    ];
    const duo = new LosesFirstAnswer(sandbox.clientOptions());
    let applied: LeadsApplied | undefined;
    await new MockActivityEnvironment().run(async () => {
      applied = await applyLeadingOpsInBulk(duo, plans, { cheaperOnly: false });
    });
    assert.equal(applied?.error, undefined);
    assert.deepEqual(applied?.leads, plans.map(() => ({ done: 1 })));
    assert.equal(duo.lost, 1);
    assert.equal(sandbox.store.groups.get(group)?.members.size, 3);
    assert.equal(sandbox.store.users.has(gone), false);
  });
});
