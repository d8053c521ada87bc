/**
 * An entry that failed for its data is not sent to Duo again until it changes, and is still
 * reported on every run ("still failing (unchanged since <run>)"). Real workflows, file store and
 * the Duo sandbox, which refuses notes longer than a limit here: an entry whose store id makes the
 * ownership marker too long is refused by Duo with a 400 on every create.
 */
import assert from 'node:assert/strict';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { runByHand } from '../support/runs';
import { runFullSync } from './support';

const LONG_ID = `id-${'x'.repeat(120)}`;
const users = (extra: Partial<FileUser> = {}): FileUser[] => [
  { id: 'id-ann', username: 'ann', email: 'ann@example.org', phones: [], enabled: true },
  { id: LONG_ID, username: 'long.id', email: 'long.id@example.org', phones: [], enabled: true, ...extra },
  { id: 'id-bad', username: 'bad.mail', email: 'bad@@example.org', phones: [], enabled: true },
];

describe('safety: a data failure is not retried until the entry changes, and is reported on every run', function () {
  this.timeout(120_000);
  let fx: SyncFixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it('Duo’s 400 and a mapping error: reported again, not sent again; a changed entry and a syncUser are retried', async () => {
    fx = await makeSyncFixture({ users: users(), sandbox: { limits: { notesMaxLength: 100 } } });
    const first = await runFullSync(fx);
    assert.equal(first.summary.created, 1, JSON.stringify(first.summary));
    assert.deepEqual(first.summary.failures.map((f) => [f.username, f.code]).sort(), [['bad.mail', 'MappingError'], ['long.id', '40002']]);

    fx.sandbox.resetStats();
    const second = await runFullSync(fx);
    assert.equal(fx.sandbox.stats().writes, 0, `nothing is sent again: ${JSON.stringify(fx.sandbox.stats().byEndpoint)}`);
    assert.equal(second.outcome, 'partial');
    assert.equal(second.summary.failed, 2);
    for (const f of second.summary.failures) assert.match(f.message, /^still failing \(unchanged since full-sync\/c-[^)]+\): /, JSON.stringify(f));
    assert.deepEqual(second.summary.failures.map((f) => [f.username, f.code]).sort(), [['bad.mail', 'MappingError'], ['long.id', '40002']]);

    // Any change of the entry's data retries it (Duo refuses it again: one write, a fresh failure).
    fx.writeUsers(users({ givenName: 'Long' }));
    fx.sandbox.resetStats();
    const third = await runFullSync(fx);
    assert.equal(fx.sandbox.stats().writes, 1, JSON.stringify(fx.sandbox.stats().byEndpoint));
    const retried = third.summary.failures.find((f) => f.username === 'long.id');
    assert.equal(retried?.code, '40002');
    assert.doesNotMatch(retried?.message ?? '', /still failing/);

    // An explicit syncUser always tries again.
    fx.sandbox.resetStats();
    const reconciled = await runByHand(fx, 'reconcileUserWorkflow', { username: 'long.id' });
    assert.equal(reconciled.summary.failed, 1);
    assert.equal(fx.sandbox.stats().writes, 1);
  });
});
