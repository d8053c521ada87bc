/**
 * Safety: Duo paging that does not advance stops the run with a clear message. Reproduced before: a
 * `next_offset` equal to the requested offset kept a full sync paging and continuing as new for good,
 * which also kept its connection from ever starting another sync.
 */
import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { runByHand } from '../support/runs';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';

describe('safety: Duo listings that do not advance', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  afterEach(() => fx.cleanup());

  it('a full sync whose Duo user listing repeats the same offset fails, naming the offsets, instead of looping', async () => {
    // 400 owned users: the deprovision plan lists Duo users in pages of 300, so it needs a second page.
    fx = await makeSyncFixture({ users: makeUsers(400).map((u) => ({ ...u, phones: [] })) });
    const first = await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(first.summary.created, 400);
    fx.sandbox.store.quirks.usersNextOffsetStuck = true;
    await assert.rejects(
      runByHand(fx, 'fullSyncWorkflow', { pagesPerRun: 2 }),
      (err: unknown) => err instanceof WorkflowFailedError && /did not advance \(offset 0 answered next_offset 0 with 300 users\)/.test(String((err.cause?.cause as Error | undefined)?.message ?? err.cause?.message)),
    );
  });
});
