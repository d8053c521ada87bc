/**
 * A messy OpenLDAP directory (test/support/messy-directory.ts, 50 entries) synced once, then:
 * a re-sync with no change writes nothing to Duo, and each of ten everyday directory changes,
 * followed by a full sync, makes exactly the Duo writes it needs (counted per endpoint by the
 * sandbox). Real slapd (memberof overlay), real workflows through the entity, the Duo sandbox.
 */
import assert from 'node:assert/strict';
import type { ConnectionConfig } from '../../src/domain/connection';
import { messyDirectory, MESSY_PHONE_REGION } from '../support/messy-directory';
import { LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { ldapEditor, type LdapEditor } from '../support/ldap-edits';
import { makeSyncFixture, type SyncFixture } from '../support/sync-fixture';
import { runFullSync } from '../safety/support';

const PASSWORD_ENV = 'DUO_SYNC_TEST_EVERYDAY_LDAP_PASSWORD';

/** The sandbox's write requests by endpoint (reads left out). */
function writesOf(fx: SyncFixture): Record<string, number> {
  return Object.fromEntries(Object.entries(fx.sandbox.stats().byEndpoint).filter(([key]) => !key.startsWith('GET ')).sort(([a], [b]) => a.localeCompare(b)));
}

describe('everyday LDAP changes: a no-change re-sync writes nothing, each change writes exactly what it needs', function () {
  this.timeout(180_000);
  const directory = messyDirectory(50, { groups: { eng: ['zoe.angstrom', 'olafur', 'sergei'] } });
  const dnOf = (uid: string): string => directory.entries.find((e) => e.uid === uid)?.dn ?? assert.fail(`no entry ${uid}`);
  const staffDn = `cn=staff,${directory.groupsDn}`;
  const engDn = `cn=eng,${directory.groupsDn}`;
  let ldap: OpenLdapServer;
  let edit: LdapEditor;
  let fx: SyncFixture;

  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    ldap = await startOpenLdap(directory.ldif);
    edit = ldapEditor(ldap.url);
    fx = await makeSyncFixture();
    const engId = await edit.entryUuid(engDn);
    fx.config.store = {
      kind: 'ldap',
      url: ldap.url,
      bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } },
      usersDn: directory.usersDn,
      groupsDn: directory.groupsDn,
      membership: 'member',
      disabled: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' },
    } as ConnectionConfig['store'];
    // The engineering group is included by its entryUUID, so renaming it in the directory renames it in Duo.
    fx.config.rules = [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, phoneRegion: MESSY_PHONE_REGION, groups: { include: ['staff', engId] } }] as ConnectionConfig['rules'];
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
    const modify = { 'POST /admin/v1/users/{user_id}': 1 };
    const check = async (change: string, apply: () => Promise<unknown>, expected: Record<string, number>): Promise<void> => {
      assert.deepEqual(await afterChange(async () => void (await apply())), expected, change);
    };
    const olafur = fx.duoUser('olafur')?.user_id;
    await check('rename (modrdn)', () => edit.rename(dnOf('olafur'), 'uid=olafur.r'), modify);
    assert.equal(fx.duoUser('olafur.r')?.user_id, olafur, 'renamed in place');
    assert.equal(fx.duoUser('olafur.r')?.groupIds.size, 1, 'and still in eng');
    await check('mail change', () => edit.replace(dnOf('zoe.angstrom'), { mail: ['zoe@example.com'] }), modify);
    await check('disable', () => edit.replace(dnOf('sergei'), { employeeType: ['disabled'] }), modify);
    assert.equal(fx.duoUser('sergei')?.status, 'disabled');
    await check('delete', () => edit.remove(dnOf('lukasz')), { 'DELETE /admin/v1/users/{user_id}': 1 });
    await check('membership add', () => edit.addValues(staffDn, 'member', [dnOf('li.lei')]), { 'POST /admin/v1/users/{user_id}/groups': 1 });
    await check('membership remove', () => edit.deleteValues(staffDn, 'member', [dnOf('both.phones')]), { 'DELETE /admin/v1/users/{user_id}/groups/{group_id}': 1 });
    // A new number: a phone created and attached, the old one detached and deleted (duo-sync made it and nobody else has it).
    await check('phone change', () => edit.replace(dnOf('two.mobiles'), { mobile: ['07700 900299'] }), {
      'DELETE /admin/v1/phones/{phone_id}': 1,
      'DELETE /admin/v1/users/{user_id}/phones/{phone_id}': 1,
      'POST /admin/v1/phones': 1,
      'POST /admin/v1/users/{user_id}/phones': 1,
    });
    await check(
      'new hire',
      async () => {
        const dn = `uid=new.hire,ou=london,${directory.usersDn}`;
        await edit.add(dn, { objectClass: ['inetOrgPerson'], uid: ['new.hire'], cn: ['New Hire'], sn: ['Hire'], mail: ['new.hire@example.com'], mobile: ['07700 900301'] });
        await edit.addValues(staffDn, 'member', [dn]);
      },
      { 'POST /admin/v1/phones': 1, 'POST /admin/v1/users/{user_id}/groups': 1, 'POST /admin/v1/users/{user_id}/phones': 1, 'POST /admin/v1/users/bulk_create': 1 },
    );
    await check('re-enable', () => edit.replace(dnOf('sergei'), { employeeType: [] }), modify);
    assert.equal(fx.duoUser('sergei')?.status, 'active');
    await check('group rename (modrdn)', () => edit.rename(engDn, 'cn=engineering'), { 'POST /admin/v1/groups/{group_id}': 1 });
    assert.ok([...fx.sandbox.store.groups.values()].some((g) => g.name === 'engineering'));
    assert.deepEqual(await afterChange(async () => {}), {}, 'and a re-sync after all of them writes nothing');
  });
});
