import assert from 'node:assert/strict';
import type { FullSyncResult } from '../../src/contract';
import { runByHand } from '../support/runs';
import { fixturesPerTest, makeUsers, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';

const BULK = 'POST /admin/v1/bulk';
const BULK_CREATE = 'POST /admin/v1/users/bulk_create';
const ADD_GROUP = 'POST /admin/v1/users/{user_id}/groups';

/**
 * The initial sync's memberships are most of its writes (a user in two groups: three writes, two of
 * them memberships). With bulk on they follow the bulk_create in /admin/v1/bulk calls of 50, as an
 * existing user's do, instead of one call each.
 */
describe('memberships of users created in bulk go in bulk operations (real dev server, Duo sandbox, file store)', function () {
  this.timeout(120_000);
  const fixture = fixturesPerTest();
  const options = (): FixtureOptions => ({
    // Half of them with a phone: a phone is a single call either way, and must not keep the memberships out of bulk.
    users: makeUsers(60).map((u, i) => (i % 2 === 0 ? u : { ...u, phones: [] })),
    config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['staff'] } }] },
  });

  it('60 new users in a group (half with a phone) cost one bulk_create and ceil(60/50) bulk operations, no single adds; same result as bulk off', async () => {
    const bulk = await fixture(options());
    const single = await fixture(options());
    single.config.duo.bulk = false;
    const withBulk: FullSyncResult = await runByHand(bulk, 'fullSyncWorkflow', {});
    const without: FullSyncResult = await runByHand(single, 'fullSyncWorkflow', {});
    const calls = bulk.sandbox.stats().byEndpoint;
    assert.equal(calls[BULK_CREATE], 1, JSON.stringify(calls));
    assert.equal(calls[ADD_GROUP] ?? 0, 0, JSON.stringify(calls));
    assert.equal(calls[BULK], Math.ceil(60 / 50), JSON.stringify(calls));
    assert.equal(single.sandbox.stats().byEndpoint[ADD_GROUP], 60);
    assert.equal(withBulk.summary.created, 60);
    assert.deepEqual(withBulk.summary, without.summary);
    const members = (fx: SyncFixture) => fx.duoUsernames().map((name) => [name, fx.duoUser(name)?.groupIds.size]);
    assert.deepEqual(members(bulk), members(single));
    assert.ok(members(bulk).every(([, n]) => n === 1));
  });
});
