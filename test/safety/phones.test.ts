/**
 * A phone is an authentication factor: whoever holds it approves logins for every user it is
 * attached to. duo-sync attaches, detaches and deletes only the phones it created (named
 * `duo-sync:<connectionId>`); a store number that matches any other phone in Duo (another
 * person's, or an inventory phone) fails that user with PhoneConflict, and phones people enrolled
 * themselves survive every change. Real full-sync workflows, Duo sandbox, file store.
 */
import assert from 'node:assert/strict';
import { isOwnedPhone, phoneMarker } from '../../src/domain/ownership';
import type { DuoStore } from '../../src/sandbox/store';
import { fixturesPerTest, type FileUser } from '../support/sync-fixture';
import { duoUserNamed, failureCodes, phoneNumbersOf, runFullSync, runReconcileUser } from './support';

const VICTIM_NUMBER = '+15550001111';
const INVENTORY_NUMBER = '+15550002222';
const ENROLLED_NUMBER = '+15550003333';

function person(username: string, phone?: string): FileUser {
  return { username, email: `${username}@example.org`, phones: phone ? [phone] : [], givenName: username, familyName: 'Test', enabled: true, groups: ['staff'] };
}

/** A phone as an administrator or the person creates it in Duo (no duo-sync name), optionally attached. */
function phoneInDuo(store: DuoStore, number: string, options: { name?: string; attachTo?: string } = {}): string {
  const phone = store.createPhone(new Map([['number', number], ['type', 'mobile'], ...(options.name ? [['name', options.name] as [string, string]] : [])]));
  if (options.attachTo) store.associatePhone(options.attachTo, phone.phone_id);
  return phone.phone_id;
}

describe('safety: duo-sync uses only the phones it created', function () {
  this.timeout(180_000);
  const made = fixturesPerTest();
  const fixture = (users: FileUser[]) => made({ users });

  it('names the phones it creates for the connection', async () => {
    const fx = await fixture([person('alice', '+15550009999')]);
    await runFullSync(fx);
    const phone = fx.sandbox.store.findPhone('+15550009999');
    assert.equal(phone?.name, phoneMarker(fx.connectionId));
    assert.ok(isOwnedPhone(phone?.name, fx.connectionId));
    assert.equal(isOwnedPhone(phone?.name, 'other-connection'), false);
  });

  it('a store number equal to another person’s Duo phone is a PhoneConflict, every run; that phone stays theirs alone', async () => {
    const fx = await fixture([person('alice', VICTIM_NUMBER)]);
    const victim = fx.sandbox.store.createUser(new Map([['username', 'victim'], ['notes', 'enrolled by the help desk']]));
    const victimPhone = phoneInDuo(fx.sandbox.store, VICTIM_NUMBER, { attachTo: victim.user_id });
    for (const attempt of [1, 2]) {
      const { summary } = await runFullSync(fx);
      assert.deepEqual(failureCodes(summary), ['PhoneConflict'], `run ${attempt}: ${JSON.stringify(summary)}`);
      assert.match(summary.failures[0]?.message ?? '', new RegExp(`\\${VICTIM_NUMBER}.*victim`));
    }
    assert.deepEqual([...(fx.sandbox.store.phones.get(victimPhone)?.userIds ?? [])], [victim.user_id], 'the victim’s phone approves for nobody else');
    assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'alice')), []);
  });

  it('an unassigned inventory phone with the store number is neither attached nor later deleted', async () => {
    const fx = await fixture([person('alice', INVENTORY_NUMBER)]);
    const inventory = phoneInDuo(fx.sandbox.store, INVENTORY_NUMBER, { name: 'spare handset 4' });
    const first = await runFullSync(fx);
    assert.deepEqual(failureCodes(first.summary), ['PhoneConflict'], JSON.stringify(first.summary));
    assert.equal(fx.sandbox.store.phones.get(inventory)?.userIds.size, 0, 'not attached');

    fx.writeUsers([person('alice', '+15550004444')]);
    const second = await runFullSync(fx);
    assert.equal(second.summary.failed, 0, JSON.stringify(second.summary));
    assert.ok(fx.sandbox.store.phones.get(inventory), 'the inventory phone still exists');
    assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'alice')), ['+15550004444']);
  });

  it('a phone alice enrolled herself is never detached or deleted: not on re-sync, not on a number change, not when she is deleted', async () => {
    const bob = person('bob', '+15550008888');
    const fx = await fixture([person('alice', '+15550005555'), bob]);
    await runFullSync(fx);
    const alice = duoUserNamed(fx, 'alice');
    assert.ok(alice);
    const enrolled = phoneInDuo(fx.sandbox.store, ENROLLED_NUMBER, { name: 'Alice’s iPhone', attachTo: alice.user_id });

    fx.sandbox.resetStats();
    const resync = await runFullSync(fx);
    assert.equal(resync.summary.unchanged, 2, JSON.stringify(resync.summary));
    assert.equal(fx.sandbox.stats().writes, 0, `re-sync wrote: ${JSON.stringify(fx.sandbox.stats().byEndpoint)}`);

    fx.writeUsers([person('alice', '+15550006666'), bob]);
    const changed = await runFullSync(fx);
    assert.equal(changed.summary.updated, 1, JSON.stringify(changed.summary));
    assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'alice')), [ENROLLED_NUMBER, '+15550006666'].sort(), 'our old phone replaced, hers kept');
    assert.equal(fx.sandbox.store.findPhone('+15550005555'), undefined, 'our old phone deleted');

    fx.writeUsers([bob]);
    fx.config.sourceHealth.maxDropFraction = 1;
    fx.config.deletionGuard.maxFraction = 1;
    const gone = await runFullSync(fx);
    assert.equal(gone.summary.deleted, 1, JSON.stringify(gone.summary));
    assert.ok(fx.sandbox.store.phones.get(enrolled), 'her own phone outlives the account');
    assert.equal(fx.sandbox.store.findPhone('+15550006666'), undefined, 'ours is cleaned up');
  });

  it('a number several store users list is a PhoneConflict of each of them, naming the others; with phoneSharing "allow" they share it', async () => {
    const fx = await fixture([person('bob', '+15550007777'), person('carol', '+15550007777'), person('dan', '+15550007777'), person('erin', '+15550008888')]);
    for (const attempt of [1, 2]) {
      const { summary } = await runFullSync(fx);
      assert.equal(summary.created, attempt === 1 ? 4 : 0, JSON.stringify(summary));
      const conflicts = summary.failures.filter((f) => f.code === 'PhoneConflict');
      assert.deepEqual(conflicts.map((f) => [f.username, f.operation]).sort(), [['bob', 'phone'], ['carol', 'phone'], ['dan', 'phone']], `run ${attempt}`);
      assert.match(conflicts.find((f) => f.username === 'bob')?.message ?? '', /\+15550007777.* also the phone of store users "carol", "dan"/);
      assert.match(conflicts.find((f) => f.username === 'dan')?.message ?? '', /"bob", "carol"/);
    }
    assert.equal(fx.sandbox.store.findPhone('+15550007777'), undefined, 'the shared number is attached to nobody');
    assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'erin')), ['+15550008888']);

    fx.config.rules = fx.config.rules.map((r) => ({ ...r, phoneSharing: 'allow' as const }));
    const { summary } = await runFullSync(fx);
    assert.equal(summary.failed, 0, JSON.stringify(summary));
    assert.equal(fx.sandbox.store.findPhone('+15550007777')?.userIds.size, 3, 'one phone, duo-sync’s own, shared by the three');
  });

  it('a single-user reconcile (no view of the whole store) refuses a number another user already has in Duo', async () => {
    const fx = await fixture([person('bob', '+15550007777'), person('carol', '+15550006767')]);
    await runFullSync(fx);
    fx.writeUsers([person('bob', '+15550007777'), person('carol', '+15550007777')]);
    const { summary } = await runReconcileUser(fx, 'carol');
    assert.deepEqual(failureCodes(summary), ['PhoneConflict'], JSON.stringify(summary));
    assert.match(summary.failures[0]?.message ?? '', /"bob"/);
    assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'carol')), ['+15550006767'], 'her old phone stays until she has a phone of her own');
  });
});
