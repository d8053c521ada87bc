/**
 * A messy OpenLDAP directory (test/support/messy-directory.ts, 50 entries) synced once, then:
 * a re-sync with no change writes nothing to Duo, and each of ten everyday directory changes,
 * followed by a full sync, makes exactly the Duo writes it needs (counted per endpoint by the
 * sandbox). Real slapd (memberof overlay), real workflows through the entity, the Duo sandbox.
 * The same changes run on 1,050 entries in `npm run soak:messy`.
 */
import assert from 'node:assert/strict';
import { EVERYDAY_CHANGES, everydayDirectory, useEverydayDirectory, writesOf } from '../support/everyday-changes';
import { LDAP_ADMIN_PASSWORD, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { ldapEditor, type LdapEditor } from '../support/ldap-edits';
import { makeSyncFixture, type SyncFixture } from '../support/sync-fixture';
import { runFullSync } from '../safety/support';

const PASSWORD_ENV = 'DUO_SYNC_TEST_EVERYDAY_LDAP_PASSWORD';

describe('everyday LDAP changes: a no-change re-sync writes nothing, each change writes exactly what it needs', function () {
  this.timeout(180_000);
  const directory = everydayDirectory(50);
  let ldap: OpenLdapServer;
  let edit: LdapEditor;
  let fx: SyncFixture;

  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    ldap = await startOpenLdap(directory.ldif);
    edit = ldapEditor(ldap.url);
    fx = await makeSyncFixture();
    await useEverydayDirectory(fx, directory, ldap.url, PASSWORD_ENV, edit);
    const first = await runFullSync(fx);
    assert.equal(first.summary.groups?.created, 2, JSON.stringify(first.summary));
  });
  after(async () => {
    await fx?.cleanup();
    await ldap?.stop();
    delete process.env[PASSWORD_ENV];
  });

  /** Applies a change, runs a full sync and returns its Duo writes by endpoint. */
  async function afterChange(change: () => Promise<void>): Promise<Record<string, number>> {
    await change();
    fx.sandbox.resetStats();
    const run = await runFullSync(fx);
    assert.notEqual(run.outcome, 'failed', JSON.stringify(run));
    return writesOf(fx);
  }

  it('re-sync with no change: no writes', async () => {
    assert.deepEqual(await afterChange(async () => {}), {});
  });

  it('ten everyday changes, each with exactly its writes', async () => {
    const olafur = fx.duoUser('olafur')?.user_id;
    for (const change of EVERYDAY_CHANGES) assert.deepEqual(await afterChange(() => change.apply(edit, directory)), change.writes, change.name);
    assert.equal(fx.duoUser('olafur.r')?.user_id, olafur, 'renamed in place');
    assert.equal(fx.duoUser('olafur.r')?.groupIds.size, 1, 'and still in eng');
    assert.equal(fx.duoUser('zoe.angstrom')?.email, 'zoe@example.com');
    assert.equal(fx.duoUser('sergei')?.status, 'active', 'disabled, then enabled again');
    assert.equal(fx.duoUser('lukasz'), undefined);
    assert.ok(fx.duoUser('new.hire'));
    assert.ok([...fx.sandbox.store.groups.values()].some((g) => g.name === 'engineering'));
    assert.deepEqual(await afterChange(async () => {}), {}, 'and a re-sync after all of them writes nothing');
  });
});
