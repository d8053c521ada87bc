import assert from 'node:assert/strict';
import type { FullSyncInput, FullSyncResult } from '../../src/contract';
import { parseMarker } from '../../src/domain/ownership';
import { configureEntity, runByHand } from '../support/runs';
import { fixturesPerTest, makeUsers, type SyncFixture } from '../support/sync-fixture';

/** A full sync started by hand against the fixture's entity, configured with the fixture's current config. */
function runFullSync(fx: SyncFixture, extra: Omit<FullSyncInput, 'connectionId'> = {}, historyName?: string): Promise<FullSyncResult> {
  return runByHand(fx, 'fullSyncWorkflow', extra, historyName ? { historyName } : {});
}

describe('fullSyncWorkflow (real dev server, Duo sandbox, file store)', function () {
  this.timeout(120_000);
  const fixture = fixturesPerTest();

  it('creates every in-scope user with an ownership marker, then re-syncs with zero writes', async () => {
    const fx = await fixture({ users: makeUsers(250) });
    const first = await runFullSync(fx, { pagesPerRun: 2 }, 'full-sync-initial');
    assert.equal(first.outcome, 'succeeded');
    assert.equal(first.summary.created, 250);
    assert.equal(first.summary.failed, 0);
    assert.equal(fx.duoUsernames().length, 250);
    const u = fx.duoUser('user7');
    assert.ok(u);
    assert.deepEqual(parseMarker(u.notes), { connectionId: fx.connectionId, ruleId: 'staff' });
    assert.equal(u.email, 'user7@example.org');
    assert.equal(u.realname, 'Given7 Family7');
    assert.equal(u.phoneIds.size, 1);

    fx.sandbox.resetStats();
    const second = await runFullSync(fx);
    assert.equal(second.summary.unchanged, 250);
    assert.equal(second.summary.created + second.summary.updated + second.summary.deleted, 0);
    const stats = fx.sandbox.stats();
    assert.equal(stats.writes, 0, `no-change re-sync wrote: ${JSON.stringify(stats.byEndpoint)}`);
    // 3 username_list lookups (100 per call) + 1 list page (300 per page).
    assert.ok(stats.reads <= Math.ceil(250 / 100) + Math.ceil(250 / 300) + 10, `reads ${stats.reads}`);
  });

  it('honours create=off (nothing created) and dryRun (nothing written, plan counted)', async () => {
    const fx = await fixture({ users: makeUsers(5) });
    await configureEntity(fx);
    fx.sandbox.resetStats(); // the connection test's write-permission probe is not the sync's
    const dry = await runFullSync(fx, { dryRun: true });
    assert.equal(dry.summary.created, 5);
    assert.equal(fx.duoUsernames().length, 0);
    assert.equal(fx.sandbox.stats().writes, 0);

    fx.config.userActions.create = false;
    const off = await runFullSync(fx);
    assert.equal(off.summary.skipped, 5);
    assert.equal(fx.duoUsernames().length, 0);
  });

  it('updates and clears attributes when update is on, leaves them when it is off', async () => {
    const users = makeUsers(3);
    const fx = await fixture({ users });
    await runFullSync(fx);
    const changed = users.map((u) => (u.username === 'user1' ? { ...u, email: 'new1@example.org', familyName: undefined, givenName: undefined } : u));
    fx.writeUsers(changed);

    fx.config.userActions.update = false;
    fx.config.userActions.disable = false;
    const off = await runFullSync(fx);
    assert.equal(off.summary.updated, 0);
    assert.equal(fx.duoUser('user1')?.email, 'user1@example.org');

    fx.config.userActions.update = true;
    const on = await runFullSync(fx);
    assert.equal(on.summary.updated, 1);
    const u1 = fx.duoUser('user1');
    assert.equal(u1?.email, 'new1@example.org');
    assert.equal(u1?.lastname, '', 'a cleared source attribute clears the Duo field');
    assert.equal(u1?.firstname, '');
  });

  it('disables source-disabled users only with update+disable', async () => {
    const users = makeUsers(2);
    const fx = await fixture({ users, config: { userActions: { create: true, update: true } } });
    await runFullSync(fx);
    fx.writeUsers(users.map((u) => (u.username === 'user0' ? { ...u, enabled: false } : u)));
    await runFullSync(fx);
    assert.equal(fx.duoUser('user0')?.status, 'active', 'disable is off');

    fx.config.userActions.disable = true;
    const res = await runFullSync(fx);
    assert.equal(res.summary.disabled, 1);
    assert.equal(fx.duoUser('user0')?.status, 'disabled');
    assert.equal(fx.duoUser('user1')?.status, 'active');
  });

  it('deprovisions users gone from the store: removeAction delete vs disable, and not at all when off', async () => {
    const users = makeUsers(30);
    const fx = await fixture({ users });
    await runFullSync(fx);
    fx.writeUsers(users.filter((u) => u.username !== 'user3'));

    fx.config.userActions.deprovision = false;
    await runFullSync(fx);
    assert.ok(fx.duoUser('user3'), 'deprovision off keeps the user');

    fx.config.userActions.deprovision = true;
    fx.config.userActions.removeAction = 'disable';
    const disabled = await runFullSync(fx);
    assert.equal(disabled.summary.disabled, 1);
    assert.equal(fx.duoUser('user3')?.status, 'disabled');

    fx.config.userActions.removeAction = 'delete';
    const deleted = await runFullSync(fx);
    assert.equal(deleted.summary.deleted, 1);
    assert.equal(fx.duoUser('user3'), undefined);
    assert.equal(fx.duoUsernames().length, 29);
  });

  it('never touches a Duo user it does not own', async () => {
    const fx = await fixture({ users: makeUsers(2) });
    const { DuoClient } = await import('../../src/duo');
    const duo = new DuoClient(fx.sandbox.clientOptions());
    await duo.createUser({ username: 'user1', email: 'manual@example.org', notes: 'created by hand' });
    const res = await runFullSync(fx);
    assert.equal(res.summary.created, 1);
    assert.equal(res.summary.skipped, 1);
    assert.equal(fx.duoUser('user1')?.email, 'manual@example.org');
    fx.writeUsers([]);
    fx.config.sourceHealth.maxDropFraction = 1;
    await runFullSync(fx);
    assert.ok(fx.duoUser('user1'), 'not-owned user survives deprovisioning');
  });

  it('provisions userType admin through the administrators endpoint and fails an invalid userType clearly', async () => {
    const users = makeUsers(3);
    users[0] = { ...users[0]!, attributes: { userType: 'admin' } };
    users[1] = { ...users[1]!, attributes: { userType: 'superuser' } };
    const rules = [{ id: 'staff', direction: 'outbound' as const, scope: { kind: 'all' as const }, attributeMappings: { userType: { from: 'attr:userType' } }, administrators: { role: 'Help Desk' as const } }];
    const fx = await fixture({ users, config: { rules } });
    const res = await runFullSync(fx);
    assert.equal(res.summary.created, 2);
    assert.equal(res.summary.failed, 1);
    assert.match(res.summary.failures[0]?.message ?? '', /user1.*userType "superuser" is not valid/);
    const admins = [...fx.sandbox.store.admins.values()].map((a) => `${a.email} ${a.role}`);
    assert.deepEqual(admins.filter((e) => e.startsWith('user')), ['user0@example.org Help Desk']);
    assert.equal(fx.duoUser('user1'), undefined);
    fx.sandbox.resetStats();
    const again = await runFullSync(fx);
    assert.equal(again.summary.unchanged, 2, 'an existing admin is unchanged on re-sync');
    assert.equal(fx.sandbox.stats().writes, 0);
  });

  it('replaces a changed phone and deletes the unused one unless cleanup is off', async () => {
    const users = makeUsers(1);
    const fx = await fixture({ users });
    await runFullSync(fx);
    const oldNumber = users[0]!.phones![0]!;
    fx.writeUsers([{ ...users[0]!, phones: ['+15550009999'] }]);
    await runFullSync(fx);
    assert.equal(fx.sandbox.store.findPhone(oldNumber), undefined, 'old phone deleted');
    assert.ok(fx.sandbox.store.findPhone('+15550009999'));

    fx.config.userActions.cleanupUnusedPhones = false;
    fx.writeUsers([{ ...users[0]!, phones: ['+15550008888'] }]);
    await runFullSync(fx);
    assert.ok(fx.sandbox.store.findPhone('+15550009999'), 'cleanup off keeps the old phone');
    const u = fx.duoUser('user0');
    assert.equal(u?.phoneIds.size, 1);
  });

  it('source-health gate: an emptied store deprovisions nobody and says why', async () => {
    const fx = await fixture({ users: makeUsers(20) });
    const first = await runFullSync(fx);
    assert.equal(first.inScopeCount, 20);
    fx.writeUsers([]);
    const res = await runFullSync(fx, {}, 'full-sync-health-gate');
    assert.equal(res.summary.deleted, 0);
    assert.equal(fx.duoUsernames().length, 20);
    assert.ok(res.notes.some((n) => /source-health gate/.test(n)), res.notes.join('\n'));
  });

  it('an unreadable store deprovisions nobody and marks the run partial', async () => {
    const fx = await fixture({ users: makeUsers(10) });
    await runFullSync(fx);
    const { writeFileSync } = await import('node:fs');
    writeFileSync(fx.storePath, '{ not json');
    const res = await runFullSync(fx);
    assert.equal(res.outcome, 'partial');
    assert.equal(res.inScopeCount, null);
    assert.equal(fx.duoUsernames().length, 10);
    assert.ok(res.notes.some((n) => /reading the store failed/.test(n)), res.notes.join('\n'));
  });

  it('completes correctly while the sandbox answers 20% of calls with 429s and 5xx', async function () {
    this.timeout(300_000);
    const fx = await fixture({ users: makeUsers(20) });
    await configureEntity(fx);
    fx.sandbox.setFaults([{ endpoint: '*', errorRate: 0.1, rateLimitRate: 0.1, errorStatus: 503 }], 11);
    const res = await runFullSync(fx);
    fx.sandbox.setFaults([]);
    assert.equal(res.summary.failed, 0, JSON.stringify(res.summary.failures.slice(0, 3)));
    assert.equal(fx.duoUsernames().length, 20);
    assert.ok(fx.sandbox.stats().faultsInjected > 0, 'faults were injected');
    for (const name of ['user0', 'user10', 'user19']) assert.equal(fx.duoUser(name)?.phoneIds.size, 1, `${name} has exactly one phone`);
  });
});
