/**
 * Safety: deprovision lookups find a store user by what produced its Duo username. Reproduced before:
 * a rule mapping `username` from `email` planned the deletion of every one of its users on its first
 * sync, because the deprovision pass looked the store up by the Duo username (an email).
 */
import assert from 'node:assert/strict';
import { runByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';

describe('safety: deprovisioning a rule whose username is mapped from another attribute', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  afterEach(() => fx.cleanup());

  it('plans no deletion for users still in the store, and deletes exactly the one that left', async () => {
    const users = makeUsers(12);
    fx = await makeSyncFixture({
      users,
      config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: { username: { from: 'email' } } }] },
    });
    const first = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(first.summary.created, 12);
    assert.ok(fx.duoUser('user3@example.org'), 'Duo usernames are the store emails');
    assert.equal(first.summary.deleted, 0);
    assert.equal(first.deletions, 'applied', 'nothing planned, so nothing waits at the guard');

    const again = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(again.summary.deleted, 0, JSON.stringify(again.summary));
    assert.equal(again.summary.unchanged, 12);

    fx.writeUsers(users.filter((u) => u.username !== 'user3'));
    const gone = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(gone.summary.deleted, 1);
    assert.equal(fx.duoUser('user3@example.org'), undefined);
    assert.equal(fx.duoUsernames().length, 11);
  });
});
