import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { configureConnection, connectionStatus, connectionWorkflowId, signalGroupChanged, signalGroupDeleted, signalMembershipChanged, type DuoSyncClient } from '../../src/client';
import { DuoClient } from '../../src/duo';
import type { RuleInput } from '../../src/domain/connection';
import { parseGroupMarker } from '../../src/domain/ownership';
import type { GroupRecord } from '../../src/sandbox/store';
import type { FullSyncInput, FullSyncResult } from '../../src/contract';
import { configureEntity, deleteRuleThroughEntity, runByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type FileUser, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';
import { createTestWorker, testTemporal, uniqueId } from '../support/temporal';
import { waitFor } from '../support/entity';

type FileGroup = { id: string; name: string; description?: string };

const GROUPS: FileGroup[] = [
  { id: 'g-eng', name: 'Engineering', description: 'All engineers' },
  { id: 'g-ops', name: 'Operations' },
  { id: 'g-hr', name: 'HR' },
];

function rule(include: string[], extra: Partial<RuleInput> = {}): RuleInput {
  return { id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include }, ...extra };
}

/** Users 0..n-1; `groupsOf(i)` are the store groups (ids) of user i. */
function usersIn(n: number, groupsOf: (i: number) => string[]): FileUser[] {
  return makeUsers(n).map((u, i) => ({ ...u, groups: groupsOf(i) }));
}

function writeDirectory(fx: SyncFixture, users: FileUser[], groups: FileGroup[] = GROUPS): void {
  writeFileSync(fx.storePath, JSON.stringify({ users, groups }));
}

function duoGroups(fx: SyncFixture): GroupRecord[] {
  return [...fx.sandbox.store.groups.values()];
}

function duoGroup(fx: SyncFixture, name: string): GroupRecord | undefined {
  return duoGroups(fx).find((g) => g.name === name);
}

function groupNamesOf(fx: SyncFixture, username: string): string[] {
  const user = fx.duoUser(username);
  return user ? [...user.groupIds].map((id) => fx.sandbox.store.groups.get(id)?.name ?? id).sort() : [];
}

function runFullSync(fx: SyncFixture, extra: Omit<FullSyncInput, 'connectionId'> = {}, historyName?: string): Promise<FullSyncResult> {
  return runByHand(fx, 'fullSyncWorkflow', extra, historyName ? { historyName } : {});
}

describe('groups and memberships outbound (real dev server, Duo sandbox, file store)', function () {
  this.timeout(180_000);
  const fixtures: SyncFixture[] = [];
  const fixture = async (options: FixtureOptions & { include?: string[] } = {}) => {
    // Group deletions pass the deletion guard like user deletions (test/safety/group-deletions.test.ts); here they may go ahead.
    const fx = await makeSyncFixture({ ...options, config: { rules: [rule(options.include ?? ['g-eng', 'g-ops'])], deletionGuard: { maxFraction: 1 }, ...options.config } });
    fixtures.push(fx);
    return fx;
  };
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((fx) => fx.cleanup()));
  });

  it('creates owned groups with markers and memberships; a re-sync with no change makes zero writes', async () => {
    const fx = await fixture({ include: ['Engineering', 'g-ops'] });
    writeDirectory(fx, usersIn(3, (i) => [['g-eng', 'g-ops'], ['g-eng'], ['g-hr']][i] ?? []));
    const first = await runFullSync(fx, {}, 'full-sync-groups');
    assert.equal(first.outcome, 'succeeded', JSON.stringify(first.summary.failures));
    assert.equal(first.summary.created, 3);
    assert.deepEqual(first.summary.groups, { created: 2, updated: 0, deleted: 0, unchanged: 0, membershipsAdded: 3, membershipsRemoved: 0 });
    assert.deepEqual(duoGroups(fx).map((g) => g.name).sort(), ['Engineering', 'Operations'], 'HR is not included');
    const eng = duoGroup(fx, 'Engineering');
    assert.equal(eng?.desc, `All engineers\n[duo-sync:c=${fx.connectionId};r=staff;g=g-eng]`);
    assert.deepEqual(parseGroupMarker(duoGroup(fx, 'Operations')?.desc), { connectionId: fx.connectionId, ruleId: 'staff', externalId: 'g-ops' });
    assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineering', 'Operations']);
    assert.deepEqual(groupNamesOf(fx, 'user1'), ['Engineering']);
    assert.deepEqual(groupNamesOf(fx, 'user2'), []);

    fx.sandbox.resetStats();
    const second = await runFullSync(fx);
    assert.equal(second.summary.unchanged, 3);
    assert.deepEqual(second.summary.groups, { created: 0, updated: 0, deleted: 0, unchanged: 2, membershipsAdded: 0, membershipsRemoved: 0 });
    const stats = fx.sandbox.stats();
    assert.equal(stats.writes, 0, `no-change re-sync wrote: ${JSON.stringify(stats.byEndpoint)}`);
    // One username_list lookup, one Duo users page (deprovision plan), one Duo groups page.
    assert.ok(stats.reads <= 4, `reads ${stats.reads}: ${JSON.stringify(stats.byEndpoint)}`);
  });

  it('follows the store: rename (same group_id), a user leaving a group, a group removed from include', async () => {
    const fx = await fixture();
    writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops']));
    await runFullSync(fx);
    const engId = duoGroup(fx, 'Engineering')?.group_id;
    assert.ok(engId);

    writeDirectory(
      fx,
      usersIn(2, (i) => (i === 0 ? ['g-eng'] : ['g-eng', 'g-ops'])),
      GROUPS.map((g) => (g.id === 'g-eng' ? { ...g, name: 'Engineers' } : g)),
    );
    const renamed = await runFullSync(fx);
    assert.equal(renamed.outcome, 'succeeded', JSON.stringify(renamed.summary.failures));
    assert.equal(renamed.summary.groups?.updated, 1);
    assert.equal(duoGroup(fx, 'Engineers')?.group_id, engId, 'renamed in place');
    assert.equal(duoGroup(fx, 'Engineering'), undefined);
    assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineers'], 'user0 left Operations');
    assert.deepEqual(groupNamesOf(fx, 'user1'), ['Engineers', 'Operations']);
    assert.equal(renamed.summary.groups?.membershipsRemoved, 1);

    fx.config.rules = [{ ...fx.config.rules[0]!, groups: { include: ['g-eng'] } }];
    const narrowed = await runFullSync(fx);
    assert.equal(narrowed.summary.groups?.deleted, 1);
    assert.deepEqual(duoGroups(fx).map((g) => g.name), ['Engineers']);
    assert.deepEqual(groupNamesOf(fx, 'user1'), ['Engineers']);
  });

  it('an empty read of the store groups deletes nothing and changes no membership; a dry run writes nothing', async () => {
    const fx = await fixture();
    writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops']));
    await configureEntity(fx);
    fx.sandbox.resetStats(); // the connection test's write-permission probe is not the sync's
    const dry = await runFullSync(fx, { dryRun: true });
    assert.equal(dry.summary.groups?.created, 2);
    assert.equal(dry.summary.groups?.membershipsAdded, 4);
    assert.equal(fx.sandbox.stats().writes, 0);
    assert.deepEqual(duoGroups(fx), []);

    await runFullSync(fx);
    assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineering', 'Operations']);
    writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops']), []);
    fx.sandbox.resetStats();
    const result = await runFullSync(fx);
    assert.equal(result.outcome, 'partial');
    const failure = result.summary.failures.find((f) => f.code === 'EmptyGroupRead');
    assert.match(failure?.message ?? '', /the store returned no groups at all, so no Duo group was deleted and no membership changed/);
    assert.equal(fx.sandbox.stats().writes, 0, JSON.stringify(fx.sandbox.stats().byEndpoint));
    assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineering', 'Operations']);
  });

  it('leaves an unowned Duo group with the wanted name untouched and reports it; other groups go on', async () => {
    const fx = await fixture();
    const duo = new DuoClient(fx.sandbox.clientOptions());
    const manual = await duo.createGroup({ name: 'Operations', desc: 'made by hand' });
    const outsider = await duo.createUser({ username: 'outsider' });
    await duo.addUserToGroup(outsider.user_id, manual.group_id);
    writeDirectory(fx, usersIn(1, () => ['g-eng', 'g-ops']));
    const result = await runFullSync(fx);
    assert.equal(result.outcome, 'partial');
    const failure = result.summary.failures.find((f) => f.username === 'group:Operations');
    assert.equal(failure?.code, 'GroupNotOwned');
    assert.match(failure?.message ?? '', new RegExp(`a Duo group named "Operations" exists and is not owned by duo-sync connection ${fx.connectionId}.*rename or delete it in Duo`));
    const after = fx.sandbox.store.groups.get(manual.group_id);
    assert.equal(after?.desc, 'made by hand');
    assert.deepEqual([...(after?.members.keys() ?? [])], [outsider.user_id], 'its members are untouched and user0 is not added');
    assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineering']);

    fx.config.rules = [{ ...fx.config.rules[0]!, groups: { include: [] } }];
    await runFullSync(fx);
    assert.ok(fx.sandbox.store.groups.get(manual.group_id), 'an unowned group is never deleted');
    assert.equal(duoGroup(fx, 'Engineering'), undefined, 'the owned one is');
  });

  it('a user who would exceed 100 Duo groups fails clearly while the others get their memberships', async () => {
    const fx = await fixture({ include: ['g-eng', 'g-ops', 'g-hr'] });
    writeDirectory(fx, usersIn(2, () => []));
    await runFullSync(fx);
    const duo = new DuoClient(fx.sandbox.clientOptions());
    const user0 = fx.duoUser('user0');
    assert.ok(user0);
    for (let i = 0; i < 98; i += 1) {
      const g = await duo.createGroup({ name: `manual-${i}` });
      await duo.addUserToGroup(user0.user_id, g.group_id);
    }
    writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops', 'g-hr']));
    const result = await runFullSync(fx);
    assert.equal(result.outcome, 'partial');
    assert.equal(result.summary.failed, 1);
    const failure = result.summary.failures[0];
    assert.equal(failure?.username, 'user0');
    assert.equal(failure?.code, 'GroupLimit');
    assert.match(failure?.message ?? '', /user0 would be in 101 Duo groups \(3 from rule staff, 98 others\); Duo allows at most 100 groups per user/);
    assert.equal(fx.duoUser('user0')?.groupIds.size, 98, 'nothing added to user0');
    assert.deepEqual(groupNamesOf(fx, 'user1'), ['Engineering', 'HR', 'Operations']);
  });

  it("Duo's HTTP 500 / 50001 on a group add is that user's failure, named as the 100-groups limit", async () => {
    const fx = await fixture({ include: ['g-eng', 'g-ops'], sandbox: { limits: { groupsPerUser: 1 } } });
    writeDirectory(fx, [...usersIn(1, () => ['g-eng', 'g-ops']), ...makeUsers(1, 'solo').map((u) => ({ ...u, groups: ['g-eng'] }))]);
    const result = await runFullSync(fx);
    assert.equal(result.summary.failed, 1);
    const failure = result.summary.failures[0];
    assert.equal(failure?.username, 'user0');
    assert.equal(failure?.code, '50001');
    assert.match(failure?.message ?? '', /Duo allows at most 100 groups per user: adding user0 to group .* was refused/);
    assert.deepEqual(groupNamesOf(fx, 'solo0'), ['Engineering']);
  });

  it('reconcileGroupWorkflow pages through store and Duo members across continue-as-new, touching only owned users', async () => {
    const fx = await fixture();
    writeDirectory(fx, usersIn(6, () => []));
    await runFullSync(fx);
    const duo = new DuoClient(fx.sandbox.clientOptions());
    const ops = duoGroup(fx, 'Operations');
    assert.ok(ops);
    const outsider = await duo.createUser({ username: 'outsider' });
    await duo.addUserToGroup(outsider.user_id, ops.group_id);
    await duo.addUserToGroup(fx.duoUser('user5')!.user_id, ops.group_id);
    writeDirectory(fx, usersIn(6, (i) => (i < 5 ? ['g-ops'] : [])), GROUPS.map((g) => (g.id === 'g-ops' ? { ...g, name: 'Ops' } : g)));
    const workflowId = uniqueId(`reconcile-group/${fx.connectionId}`);
    const result = await runByHand(fx, 'reconcileGroupWorkflow', { group: 'Operations', pageSize: 2, pagesPerRun: 2 }, { workflowId });
    assert.equal(result.outcome, 'succeeded', JSON.stringify(result.summary.failures));
    assert.equal(result.groupsSynced, 1);
    assert.deepEqual(result.summary.groups, { created: 0, updated: 1, deleted: 0, unchanged: 0, membershipsAdded: 5, membershipsRemoved: 1 });
    const members = [...(fx.sandbox.store.groups.get(ops.group_id)?.members.keys() ?? [])].map((id) => fx.sandbox.store.users.get(id)?.username).sort();
    assert.deepEqual(members, ['outsider', 'user0', 'user1', 'user2', 'user3', 'user4'], 'user5 removed; the unowned outsider left alone');
    assert.equal(fx.sandbox.store.groups.get(ops.group_id)?.name, 'Ops');
    const runs = await testTemporal().client.workflow.list({ query: `WorkflowId = '${workflowId}'` });
    let count = 0;
    for await (const run of runs) count += run.workflowId === workflowId ? 1 : 0;
    assert.ok(count >= 2, `expected continue-as-new runs, saw ${count}`);
  });

  for (const deprovision of [true, false]) {
    it(`deleteRuleWorkflow ${deprovision ? 'deletes' : 'releases'} the rule's groups ${deprovision ? 'with' : 'without'} deprovisionOnRuleDeletion`, async () => {
      const fx = await fixture({
        config: {
          userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete', deprovisionOnRuleDeletion: deprovision },
          // Deleting every user of the rule is above any fraction: the approval path has its own tests.
          deletionGuard: { maxFraction: 1 },
        },
      });
      writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops']));
      await runFullSync(fx);
      assert.equal(duoGroups(fx).length, 2);
      const result = await deleteRuleThroughEntity(fx, 'staff');
      assert.equal(result.outcome, 'succeeded');
      if (deprovision) {
        assert.equal(result.summary.groups?.deleted, 2);
        assert.deepEqual(duoGroups(fx), []);
        assert.deepEqual(fx.duoUsernames(), []);
      } else {
        assert.equal(result.summary.groups?.updated, 2);
        assert.deepEqual(duoGroups(fx).map((g) => [g.name, g.desc]).sort(), [['Engineering', 'All engineers'], ['Operations', '']]);
        assert.deepEqual(groupNamesOf(fx, 'user0'), ['Engineering', 'Operations'], 'released groups keep their members');
      }
    });
  }

  describe('signals on connectionWorkflow', () => {
    let dsc: DuoSyncClient;
    let stopWorker: (() => Promise<void>) | undefined;
    afterEach(async () => {
      for (const fx of fixtures) {
        await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).terminate('test done').catch(() => undefined);
      }
      await stopWorker?.();
      stopWorker = undefined;
    });

    it('groupChanged, membershipChanged and groupDeleted reconcile through the entity; an invalid payload is dropped', async () => {
      const fx = await fixture();
      writeDirectory(fx, usersIn(2, (i) => (i === 0 ? ['g-eng', 'g-ops'] : ['g-eng'])));
      const { worker, taskQueue } = await createTestWorker();
      const running = worker.run();
      stopWorker = async () => {
        worker.shutdown();
        await running;
      };
      dsc = { client: testTemporal().client, taskQueue, close: async () => undefined };
      await configureConnection(dsc, fx.config);
      await waitFor('the first full sync', async () => ((await connectionStatus(dsc, fx.connectionId)).lastRuns.some((r) => r.kind === 'fullSync' && r.outcome === 'succeeded') ? true : undefined));
      assert.deepEqual(groupNamesOf(fx, 'user1'), ['Engineering']);

      const handle = testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId));
      await handle.signal('groupChanged', { name: 'no group key' });
      await handle.signal('membershipChanged', { group: 'g-eng' });

      // Store renames Operations and adds user1 to it.
      writeDirectory(fx, usersIn(2, () => ['g-eng', 'g-ops']), GROUPS.map((g) => (g.id === 'g-ops' ? { ...g, name: 'Ops' } : g)));
      await signalGroupChanged(dsc, fx.connectionId, { group: 'g-ops' });
      await waitFor('Operations renamed and user1 added', () => (duoGroup(fx, 'Ops') && groupNamesOf(fx, 'user1').includes('Ops') ? true : undefined));

      // user0 leaves Engineering.
      writeDirectory(fx, usersIn(2, (i) => (i === 0 ? ['g-ops'] : ['g-eng', 'g-ops'])), GROUPS.map((g) => (g.id === 'g-ops' ? { ...g, name: 'Ops' } : g)));
      await signalMembershipChanged(dsc, fx.connectionId, { username: 'user0', group: 'g-eng' });
      await waitFor('user0 removed from Engineering', () => (groupNamesOf(fx, 'user0').join() === 'Ops' ? true : undefined));

      // Ops is deleted in the store.
      writeDirectory(fx, usersIn(2, () => ['g-eng']), GROUPS.filter((g) => g.id !== 'g-ops'));
      await signalGroupDeleted(dsc, fx.connectionId, { group: 'g-ops' });
      await waitFor('Ops deleted in Duo', () => (duoGroup(fx, 'Ops') === undefined ? true : undefined));
      assert.ok(duoGroup(fx, 'Engineering'));

      // The Duo change lands before the child finishes; its run record follows.
      const status = await waitFor('both group reconciles recorded', async () => {
        const st = await connectionStatus(dsc, fx.connectionId);
        return st.lastRuns.filter((r) => r.kind === 'reconcileGroup').length >= 2 ? st : undefined;
      });
      const dropped = status.recentEvents.map((e) => e.message).filter((m) => m.startsWith('dropped invalid'));
      assert.equal(dropped.length, 2, JSON.stringify(dropped));
      assert.match(dropped[0] ?? '', /groupChanged.*group/);
      assert.match(dropped[1] ?? '', /membershipChanged.*username/);
      const groupRuns = status.lastRuns.filter((r) => r.kind === 'reconcileGroup');
      assert.ok(groupRuns.length >= 2 && groupRuns.every((r) => r.outcome === 'succeeded'), JSON.stringify(groupRuns));
      const description = await handle.describe();
      assert.equal(description.status.name, 'RUNNING');
    });
  });
});
