import assert from 'node:assert/strict';
import type { DeleteRuleResult, FullSyncResult } from '../../src/contract';
import { deleteRuleThroughEntity, runByHand } from '../support/runs';
import { fixturesPerTest, makeUsers, type FileUser, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';

const BULK = 'POST /admin/v1/bulk';
const LIST = 'GET /admin/v1/users';
const MODIFY = 'POST /admin/v1/users/{user_id}';
const DELETE = 'DELETE /admin/v1/users/{user_id}';
const GET_USER = 'GET /admin/v1/users/{user_id}';
const ADD_GROUP = 'POST /admin/v1/users/{user_id}/groups';
const REMOVE_GROUP = 'DELETE /admin/v1/users/{user_id}/groups/{group_id}';

/** Users without phones: phones are single calls either way and only slow the test down. */
const people = (n: number, groups: (i: number) => string[] = () => ['staff']): FileUser[] => makeUsers(n).map((u, i) => ({ ...u, phones: [], groups: groups(i) }));
const withGroups: FixtureOptions['config'] = { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['staff'] } }] };

describe('updates, memberships and deprovisioning through Duo bulk operations (real dev server, Duo sandbox, file store)', function () {
  this.timeout(180_000);
  const fixture = fixturesPerTest();
  const runFullSync = (fx: SyncFixture): Promise<FullSyncResult> => runByHand(fx, 'fullSyncWorkflow', {});
  const count = (fx: SyncFixture, endpoint: string): number => fx.sandbox.stats().byEndpoint[endpoint] ?? 0;
  const state = (fx: SyncFixture) => fx.duoUsernames().map((name) => {
    const u = fx.duoUser(name);
    return { name, email: u?.email, status: u?.status, groups: u?.groupIds.size };
  });

  it('N updates cost ceil(N/50) bulk calls, with the same end state and counts as single calls on an account without the endpoint (404)', async () => {
    const users = people(60);
    const bulk = await fixture({ users });
    const missing = await fixture({ users, sandbox: { bulk: { enabled: false } } });
    for (const fx of [bulk, missing]) await runFullSync(fx);
    const changed = users.map((u) => ({ ...u, email: `new.${u.email}` }));
    for (const fx of [bulk, missing]) {
      fx.writeUsers(changed);
      fx.sandbox.resetStats();
    }
    const withBulk = await runFullSync(bulk);
    const fallback = await runFullSync(missing);
    assert.equal(count(bulk, BULK), Math.ceil(60 / 50), JSON.stringify(bulk.sandbox.stats().byEndpoint));
    assert.equal(count(bulk, MODIFY), 0);
    // The account without the endpoint: at most one 404 per client (remembered), then single calls.
    assert.ok(count(missing, BULK) <= 1);
    assert.equal(count(missing, MODIFY), 60);
    assert.equal(withBulk.summary.updated, 60);
    assert.deepEqual(withBulk.summary, fallback.summary);
    assert.deepEqual(state(bulk), state(missing));
  });

  it('membership adds and removes go in bulk, and a refused item fails its user exactly as with duo.bulk false (single calls)', async () => {
    const users = people(60, (i) => (i % 2 === 0 ? ['staff'] : []));
    // Duo's groups-per-user limit at 1: user1, already in another group, cannot be added to staff.
    const options: FixtureOptions = { users, config: withGroups, sandbox: { limits: { groupsPerUser: 1 } } };
    const bulk = await fixture(options);
    const single = await fixture(options);
    single.config.duo.bulk = false;
    const flipped = users.map((u, i) => ({ ...u, groups: i % 2 === 0 ? [] : ['staff'] }));
    const created = await runFullSync(bulk);
    // New users' memberships follow their bulk create in bulk too: 60 creates in one bulk_create, 30 adds in one bulk call.
    assert.equal(created.summary.created, 60);
    assert.equal(count(bulk, ADD_GROUP), 0, JSON.stringify(bulk.sandbox.stats().byEndpoint));
    assert.equal(count(bulk, BULK), 1);
    await runFullSync(single);
    for (const fx of [bulk, single]) {
      const other = fx.sandbox.store.createGroup(new Map([['name', 'other']]));
      fx.sandbox.store.addUserToGroup(fx.sandbox.store.findUserIdByName('user1') as string, other.group_id);
      fx.writeUsers(flipped);
      fx.sandbox.resetStats();
    }
    const withBulk = await runFullSync(bulk);
    const without = await runFullSync(single);
    assert.equal(count(bulk, BULK), Math.ceil(60 / 50), JSON.stringify(bulk.sandbox.stats().byEndpoint));
    assert.equal(count(bulk, ADD_GROUP) + count(bulk, REMOVE_GROUP), 0);
    assert.equal(count(single, ADD_GROUP) + count(single, REMOVE_GROUP), 60);
    assert.equal(withBulk.summary.failed, 1);
    assert.equal(withBulk.summary.failures[0]?.username, 'user1');
    assert.equal(withBulk.summary.failures[0]?.operation, 'addToGroup');
    assert.deepEqual(withBulk.summary, without.summary);
    assert.deepEqual(state(bulk), state(single));
  });

  it('a no-change re-sync reads every Duo user once when that is cheaper than username lookups (no phone or single-user reads), and looks users up when the account is much larger', async () => {
    const users = makeUsers(150);
    const fx = await fixture({ users });
    await runFullSync(fx);
    fx.sandbox.resetStats();
    const again = await runFullSync(fx);
    assert.equal(again.summary.unchanged, 150);
    // The rename pass's listing (1 call for 150 users) doubles as the snapshot for the pages (instead of 2
    // lookups) and for the deprovision plan (instead of listing again). Phones come with the users: nothing else is read.
    assert.deepEqual(fx.sandbox.stats().byEndpoint, { [LIST]: 1 });

    // 1,500 more Duo users: listing them (6 calls) costs more than looking the 150 up (2 calls).
    for (let i = 0; i < 1500; i++) fx.sandbox.store.createUser(new Map([['username', `other${i}`]]));
    fx.sandbox.resetStats();
    const dry = await runByHand(fx, 'fullSyncWorkflow', { dryRun: true });
    assert.equal(dry.summary.unchanged, 150);
    // A dry run has no rename pass: one first page tells Duo's user count, then 2 lookups, then the plan's 6 listing pages.
    assert.deepEqual(fx.sandbox.stats().byEndpoint, { [LIST]: 1 + 2 + 6 });
  });

  it("a connection's first full sync reads Duo's users once (the rename pass's listing serves its pages and its deprovision plan), and a later one deprovisions from the same listing", async () => {
    const users = people(150);
    const fx = await fixture({ users, config: { deletionGuard: { maxFraction: 1, maxCount: 1000 }, sourceHealth: { maxDropFraction: 1 } } });
    fx.config.userActions.removeAction = 'disable';
    fx.sandbox.resetStats();
    const first = await runFullSync(fx);
    assert.equal(first.summary.created, 150);
    // No in-scope count yet: the listing already made is free, so no username lookups, and the plan
    // lists nothing again. The other call is the client's permission probe (limit=1) on first use.
    assert.equal(count(fx, LIST), 2, JSON.stringify(fx.sandbox.stats().byEndpoint));

    fx.writeUsers(users.slice(0, 140));
    fx.sandbox.store.createUser(new Map([['username', 'not-ours']]));
    fx.sandbox.resetStats();
    const second = await runFullSync(fx);
    assert.equal(second.summary.disabled, 10, JSON.stringify(second.summary));
    // The listing, then the approved batch read again by id (user_id_list, same endpoint) before it is applied.
    assert.equal(count(fx, LIST), 2, JSON.stringify(fx.sandbox.stats().byEndpoint));
    assert.deepEqual(users.slice(140).map((u) => fx.duoUser(u.username)?.status), Array(10).fill('disabled'));
    assert.equal(fx.duoUser('user0')?.status, 'active');
    assert.equal(fx.duoUser('not-ours')?.status, 'active');
  });

  it('deprovisions in bulk (disable in a full sync, delete on rule deletion), reading the approved users in batches', async () => {
    const users = people(60);
    const fx = await fixture({ users, config: { deletionGuard: { maxFraction: 1, maxCount: 1000 }, sourceHealth: { maxDropFraction: 1 } } });
    fx.config.userActions.removeAction = 'disable';
    fx.config.userActions.deprovisionOnRuleDeletion = true;
    await runFullSync(fx);
    fx.writeUsers(users.slice(0, 5));
    fx.sandbox.resetStats();
    const res = await runFullSync(fx);
    assert.equal(res.summary.disabled, 55);
    // The driver applies 50 per batch: one bulk call; the last 5 are too few to pay for one (bulkIsCheaper) and go singly.
    assert.equal(count(fx, BULK), 1, JSON.stringify(fx.sandbox.stats().byEndpoint));
    assert.equal(count(fx, MODIFY), 5);
    assert.equal(count(fx, GET_USER), 0);
    assert.equal(fx.duoUser('user59')?.status, 'disabled');

    fx.config.userActions.removeAction = 'delete';
    fx.sandbox.resetStats();
    const deleted: DeleteRuleResult = await deleteRuleThroughEntity(fx, 'staff');
    assert.equal(deleted.summary.deleted, 60, JSON.stringify(deleted));
    assert.equal(count(fx, BULK), Math.ceil(60 / 50), JSON.stringify(fx.sandbox.stats().byEndpoint));
    assert.equal(count(fx, DELETE) + count(fx, GET_USER), 0);
    assert.deepEqual(fx.duoUsernames(), []);
  });
});
