import assert from 'node:assert/strict';
import { ConnectionConfigSchema } from '../../src/domain/connection';
import { CarriedConnectionStateSchema, ConnectionState, groupChangeKey, MAX_PENDING_CHANGES, MAX_PENDING_GROUP_CHANGES } from '../../src/workflows/connection-state';

const config = ConnectionConfigSchema.parse({
  connectionId: 'acme',
  duo: { apiHost: 'api-test.duosecurity.com', integrationKey: 'DIABCDEFGHIJKLMNOPQR', secretKey: { env: 'DUO_SKEY' } },
  store: { kind: 'file', path: '/tmp/x.json' },
  rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
});

function fresh(): ConnectionState {
  return new ConnectionState('acme', CarriedConnectionStateSchema.parse({}));
}

describe('ConnectionState (pure entity state)', () => {
  it('coalesces a burst per user (case-insensitive) and keeps the latest change', () => {
    const s = fresh();
    s.addChange({ username: 'Alice' });
    s.addChange({ username: 'bob' });
    s.addChange({ username: 'alice', ruleId: 'staff' });
    assert.equal(s.pending.size, 2);
    const taken = s.takeDispatchable(10);
    assert.deepEqual(taken, [{ username: 'bob' }, { username: 'alice', ruleId: 'staff' }]);
  });

  it('never dispatches a user whose reconcile is still in flight (per-user order) and respects room', () => {
    const s = fresh();
    s.reconciling.add('alice');
    for (const u of ['alice', 'bob', 'carol', 'dave']) s.addChange({ username: u });
    assert.deepEqual(s.takeDispatchable(2).map((c) => c.username), ['bob', 'carol']);
    assert.deepEqual([...s.pending.keys()], ['alice', 'dave']);
  });

  it('coalesces group changes per group (case-insensitive), keeps per-group order, carries them over, caps the backlog', () => {
    const s = fresh();
    s.addGroupChange({ group: 'Engineering' });
    s.addGroupChange({ group: 'ops' });
    s.addGroupChange({ group: 'engineering' });
    s.addGroupChange({ group: 'ops', ruleId: 'staff' });
    assert.equal(s.pendingGroups.size, 3);
    assert.equal(s.status().pendingChanges, 3);
    s.reconcilingGroups.add(groupChangeKey({ group: 'OPS' }));
    assert.deepEqual(s.takeDispatchableGroups(1), [{ group: 'engineering' }]);
    assert.deepEqual(s.takeDispatchableGroups(5), [{ group: 'ops', ruleId: 'staff' }], 'ops (all rules) waits for its reconcile in flight');
    const next = new ConnectionState('acme', CarriedConnectionStateSchema.parse(s.carry()));
    assert.deepEqual([...next.pendingGroups.values()], [{ group: 'ops' }]);
    // One carried change plus 500 new ones passes the cap.
    for (let i = 0; i < MAX_PENDING_GROUP_CHANGES; i += 1) next.addGroupChange({ group: `g${i}` });
    assert.equal(next.pendingGroups.size, 0);
    assert.deepEqual(next.syncRequest, { dryRun: false });
  });

  it('turns an unbounded backlog into one full sync instead of growing without limit', () => {
    const s = fresh();
    for (let i = 0; i <= MAX_PENDING_CHANGES; i += 1) s.addChange({ username: `u${i}` });
    assert.equal(s.pending.size, 0);
    assert.deepEqual(s.syncRequest, { dryRun: false });
  });

  it('a queued real sync wins over a queued dry run', () => {
    const s = fresh();
    s.requestSync({ dryRun: true });
    s.requestSync({ dryRun: false });
    s.requestSync({ dryRun: true });
    assert.deepEqual(s.syncRequest, { dryRun: false });
  });

  it('explains why nothing may be provisioned', () => {
    const s = fresh();
    assert.match(s.blockedReason() ?? '', /not configured/);
    s.config = config;
    assert.match(s.blockedReason() ?? '', /connection test has not passed/);
    s.connectionTest = { ok: true, testedAt: 'now', checks: [] };
    assert.equal(s.blockedReason(), null);
    s.paused = true;
    s.pauseReason = 'freeze';
    assert.match(s.blockedReason() ?? '', /paused \(freeze\)/);
    s.paused = false;
    s.config = { ...config, enabled: false };
    assert.match(s.blockedReason() ?? '', /disabled/);
  });

  it('carries everything through continue-as-new', () => {
    const s = fresh();
    s.config = config;
    s.addChange({ username: 'alice' });
    s.requestSync({ dryRun: false });
    s.nextId('full-sync');
    s.tracked = [{ kind: 'fullSync', workflowId: 'full-sync/acme/1', startedAt: 'then', dryRun: false }];
    const again = new ConnectionState('acme', CarriedConnectionStateSchema.parse(JSON.parse(JSON.stringify(s.carry()))));
    assert.deepEqual(again.status(), s.status());
    assert.equal(again.nextId('full-sync'), 'full-sync/acme/2', 'ids keep counting, so none is reused');
    assert.deepEqual([...again.pending.values()], [{ username: 'alice' }]);
  });
});
