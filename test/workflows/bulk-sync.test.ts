import assert from 'node:assert/strict';
import type { FullSyncResult } from '../../src/contract';
import { formatMarker } from '../../src/domain/ownership';
import { runByHand } from '../support/runs';
import { fixturesPerTest, makeUsers, type SyncFixture } from '../support/sync-fixture';

const BULK_CREATE = 'POST /admin/v1/users/bulk_create';
const CREATE = 'POST /admin/v1/users';

describe('full sync through Duo bulk endpoints (real dev server, Duo sandbox, file store)', function () {
  this.timeout(180_000);
  const fixture = fixturesPerTest();
  const runFullSync = (fx: SyncFixture): Promise<FullSyncResult> => runByHand(fx, 'fullSyncWorkflow', {});

  it('creates 250 users in ceil(250/100) bulk_create calls, the same users and counts as one call per user, and re-syncs with zero writes', async () => {
    const users = makeUsers(250);
    const bulk = await fixture({ users });
    const single = await fixture({ users });
    single.config.duo.bulk = false;

    const withBulk = await runFullSync(bulk);
    const bulkStats = bulk.sandbox.stats();
    const without = await runFullSync(single);
    const singleStats = single.sandbox.stats();

    assert.ok((bulkStats.byEndpoint[BULK_CREATE] ?? 0) <= Math.ceil(250 / 100), JSON.stringify(bulkStats.byEndpoint));
    assert.equal(bulkStats.byEndpoint[CREATE] ?? 0, 0, JSON.stringify(bulkStats.byEndpoint));
    assert.equal(singleStats.byEndpoint[CREATE], 250);
    assert.equal(singleStats.byEndpoint[BULK_CREATE] ?? 0, 0);
    // Phones and group memberships cost the same: only the 250 creates became bulk calls.
    assert.equal(bulkStats.writes, singleStats.writes - 250 + (bulkStats.byEndpoint[BULK_CREATE] ?? 0));
    assert.deepEqual(withBulk.summary, without.summary);
    assert.equal(withBulk.summary.created, 250);
    assert.deepEqual(bulk.duoUsernames(), single.duoUsernames());
    assert.equal(bulk.duoUser('user17')?.phoneIds.size, 1);

    bulk.sandbox.resetStats();
    const again = await runFullSync(bulk);
    assert.equal(again.summary.unchanged, 250);
    assert.equal(bulk.sandbox.stats().writes, 0);
  });

  it('a bulk_create answered 429 is sent again within the page: the page is not re-run (no lookups of what it had just created)', async () => {
    const users = makeUsers(100).map((u) => ({ ...u, phones: [] }));
    const fx = await fixture({ users });
    fx.sandbox.setFaults([{ endpoint: BULK_CREATE, failCalls: [1], failWith: 'rateLimit' }], 5);
    fx.sandbox.resetStats();
    const res = await runFullSync(fx);
    assert.equal(res.summary.created, 100, JSON.stringify(res.summary));
    assert.equal(res.summary.updated, 0);
    const calls = fx.sandbox.stats().byEndpoint;
    assert.equal(calls[BULK_CREATE], 2, JSON.stringify(calls));
    // The permission probe and the rename pass's listing; a re-run page would look its 100 users up (1 more).
    assert.equal(calls['GET /admin/v1/users'], 2, JSON.stringify(calls));
  });

  it('a user Duo refuses inside a bulk create fails alone; the others are created with their phones', async () => {
    // Duo's notes limit set just above the marker of a short store id: the long one is refused.
    const notesMaxLength = formatMarker({ connectionId: 'c-00000000', ruleId: 'staff', storeId: 'user0' }).length + 10;
    const users = [...makeUsers(5), { ...makeUsers(1, 'long')[0], id: 'x'.repeat(60) }] as ReturnType<typeof makeUsers>;
    const fx = await fixture({ users, sandbox: { limits: { notesMaxLength } } });
    const res = await runFullSync(fx);
    assert.equal(fx.sandbox.stats().byEndpoint[BULK_CREATE], 1);
    assert.equal(res.summary.created, 5);
    assert.equal(res.summary.failed, 1);
    assert.equal(res.summary.failures[0]?.username, 'long0');
    assert.equal(res.summary.failures[0]?.operation, 'create');
    assert.equal(fx.duoUser('long0'), undefined);
    assert.equal(fx.duoUser('user4')?.phoneIds.size, 1);
  });
});
