/**
 * Messy directory data through a real full sync (dev server, Duo sandbox, file store): phones
 * reach Duo as E.164 with extension and the type of their attribute, an unreadable phone fails
 * only that phone, an invalid email fails its user before any Duo call, a disabled user is
 * disabled whatever its phone, and a username with surrounding spaces is created once, not on
 * every run.
 */
import assert from 'node:assert/strict';
import type { FullSyncResult } from '../../src/contract';
import { runByHand } from '../support/runs';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';

/** A full sync started by hand against the fixture's entity, configured with the fixture's config. */
function runFullSync(fx: SyncFixture): Promise<FullSyncResult> {
  return runByHand(fx, 'fullSyncWorkflow', {});
}

const person = (username: string, extra: Partial<FileUser> = {}): FileUser => ({ username, email: `${username.trim()}@example.org`, phones: [], enabled: true, groups: ['staff'], ...extra });

describe('full sync of messy directory data (real dev server, Duo sandbox, file store)', function () {
  this.timeout(120_000);
  let fx: SyncFixture | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });

  it('phones, invalid values, disabled users and padded usernames come out right, and a re-sync writes nothing', async () => {
    fx = await makeSyncFixture({
      users: [
        person('desk.and.mobile', { attributes: { telephoneNumber: '020 7946 0100 x204', mobile: '07700 900100' } }),
        person('desk.only', { attributes: { telephoneNumber: '020 7946 0101 x204' } }),
        person('tel.uri', { attributes: { mobile: 'tel:+49-30-9009-0102' } }),
        person('bad.phone', { attributes: { mobile: '013-0481' } }),
        person('bad.mail', { email: 'bad@@example.org', attributes: { mobile: '07700 900103' } }),
        person('gone', { enabled: false, attributes: { mobile: 'ask reception' } }),
        person(' padded ', { attributes: { mobile: '07700 900104' } }),
      ],
      // No deletion guard: a user the store "loses" (a padded username looked up unnormalised) would be deleted, and show.
      config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, phoneRegion: 'GB' }], deletionGuard: { maxFraction: 1 } },
    });
    const sandbox = fx.sandbox;
    const phonesOf = (username: string) =>
      [...(fx!.duoUser(username)?.phoneIds ?? [])].map((id) => {
        const p = sandbox.store.getPhone(id);
        return { number: p.number, extension: p.extension, type: p.type };
      });

    const first = await runFullSync(fx);
    assert.equal(first.outcome, 'partial');
    assert.equal(first.summary.created, 5, 'everyone but the invalid email and the disabled user');
    assert.equal(first.summary.skipped, 1, 'the disabled user is not created (not failed)');
    assert.equal(first.summary.deleted, 0, 'every created user is found in the store again');
    assert.deepEqual(
      first.summary.failures.map((f) => [f.username, f.operation, f.code]).sort(),
      [
        ['bad.mail', 'map', 'MappingError'],
        ['bad.phone', 'phone', 'InvalidPhone'],
      ],
    );
    assert.match(first.summary.failures.find((f) => f.code === 'InvalidPhone')?.message ?? '', /mobile "013-0481" cannot be read as a GB number/);
    assert.deepEqual(phonesOf('desk.and.mobile'), [{ number: '+447700900100', extension: '', type: 'Mobile' }], 'mobile wins, as a mobile');
    assert.deepEqual(phonesOf('desk.only'), [{ number: '+442079460101', extension: '204', type: 'Landline' }]);
    assert.deepEqual(phonesOf('tel.uri'), [{ number: '+493090090102', extension: '', type: 'Mobile' }]);
    assert.deepEqual(phonesOf('bad.phone'), [], 'provisioned without the phone');
    assert.equal(fx.duoUser('bad.mail'), undefined, 'never sent to Duo');
    assert.equal(fx.duoUser('padded')?.username, 'padded');
    assert.deepEqual(phonesOf('padded'), [{ number: '+447700900104', extension: '', type: 'Mobile' }]);

    sandbox.resetStats();
    const second = await runFullSync(fx);
    assert.equal(second.summary.created, 0, 'the padded username is found, not created again');
    assert.equal(second.summary.unchanged, 5);
    assert.equal(sandbox.stats().writes, 0, `re-sync wrote: ${JSON.stringify(sandbox.stats().byEndpoint)}`);
  });
});
