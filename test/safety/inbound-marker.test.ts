/**
 * Safety: a store user cannot opt out of outbound management by writing the inbound marker into
 * their own record. Reproduced before: with an inbound rule on the connection, a provisioned user
 * who set `duoSyncOwner` to the inbound marker was skipped from then on, so disabling them in the
 * store never disabled them in Duo.
 */
import assert from 'node:assert/strict';
import { formatInboundMarker } from '../../src/domain/inbound';
import { runByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';

describe('safety: the inbound marker is not an opt-out', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  afterEach(() => fx.cleanup());

  it('an outbound-owned user who writes the inbound marker is still disabled when the store disables them', async () => {
    const users = makeUsers(2);
    fx = await makeSyncFixture({
      users,
      config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }, { id: 'duo-users', direction: 'inbound', scope: { kind: 'all' } }] },
    });
    const first = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(first.summary.created, 2);
    const marker = formatInboundMarker({ connectionId: fx.connectionId, ruleId: 'duo-users' });
    fx.writeUsers(users.map((u) => (u.username === 'user0' ? { ...u, enabled: false, attributes: { duoSyncOwner: marker } } : u)));
    const second = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(second.summary.disabled, 1, JSON.stringify(second.summary));
    assert.equal(fx.duoUser('user0')?.status, 'disabled');
  });
});
