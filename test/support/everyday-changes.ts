/**
 * Ten everyday changes to the messy directory (test/support/messy-directory.ts), each with the
 * exact Duo writes (per sandbox endpoint) the following full sync must make. Shared by the test on
 * a 50-entry directory and the soak on 1,050 entries (bench/messy-directory.soak.ts): the entries
 * changed exist in both.
 */
import type { ConnectionConfig } from '../../src/domain/connection';
import type { SyncFixture } from './sync-fixture';
import { messyDirectory, MESSY_PHONE_REGION, type MessyDirectory } from './messy-directory';
import { LDAP_ADMIN_DN } from './openldap';
import type { LdapEditor } from './ldap-edits';

export function everydayDirectory(size: number): MessyDirectory {
  return messyDirectory(size, { groups: { eng: ['zoe.angstrom', 'olafur', 'sergei'] } });
}

/** Points the fixture at the directory: memberships from `member`, disabled by employeeType, groups staff and eng (by entryUUID). */
export async function useEverydayDirectory(fx: SyncFixture, directory: MessyDirectory, url: string, passwordEnv: string, edit: LdapEditor): Promise<void> {
  const engId = await edit.entryUuid(`cn=eng,${directory.groupsDn}`);
  fx.config.store = {
    kind: 'ldap',
    url,
    bind: { dn: LDAP_ADMIN_DN, password: { env: passwordEnv } },
    usersDn: directory.usersDn,
    groupsDn: directory.groupsDn,
    membership: 'member',
    disabled: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' },
  } as ConnectionConfig['store'];
  // The engineering group is included by its entryUUID, so renaming it in the directory renames it in Duo.
  fx.config.rules = [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, phoneRegion: MESSY_PHONE_REGION, groups: { include: ['staff', engId] } }] as ConnectionConfig['rules'];
}

export interface EverydayChange {
  name: string;
  apply(edit: LdapEditor, directory: MessyDirectory): Promise<void>;
  /** The sandbox's write requests by endpoint for the full sync after the change. */
  writes: Record<string, number>;
}

function dnOf(directory: MessyDirectory, uid: string): string {
  const dn = directory.entries.find((e) => e.uid === uid)?.dn;
  if (!dn) throw new Error(`no entry ${uid}`);
  return dn;
}

const MODIFY_USER = { 'POST /admin/v1/users/{user_id}': 1 };
const staff = (d: MessyDirectory): string => `cn=staff,${d.groupsDn}`;

export const EVERYDAY_CHANGES: readonly EverydayChange[] = [
  { name: 'rename (modrdn uid)', apply: async (e, d) => void (await e.rename(dnOf(d, 'olafur'), 'uid=olafur.r')), writes: MODIFY_USER },
  { name: 'mail change', apply: (e, d) => e.replace(dnOf(d, 'zoe.angstrom'), { mail: ['zoe@example.com'] }), writes: MODIFY_USER },
  { name: 'disable (employeeType)', apply: (e, d) => e.replace(dnOf(d, 'sergei'), { employeeType: ['disabled'] }), writes: MODIFY_USER },
  { name: 'delete', apply: (e, d) => e.remove(dnOf(d, 'lukasz')), writes: { 'DELETE /admin/v1/users/{user_id}': 1 } },
  { name: 'membership add', apply: (e, d) => e.addValues(staff(d), 'member', [dnOf(d, 'li.lei')]), writes: { 'POST /admin/v1/users/{user_id}/groups': 1 } },
  { name: 'membership remove', apply: (e, d) => e.deleteValues(staff(d), 'member', [dnOf(d, 'both.phones')]), writes: { 'DELETE /admin/v1/users/{user_id}/groups/{group_id}': 1 } },
  {
    // A new number: a phone created and attached, the old one detached and deleted (duo-sync made it and nobody else has it).
    name: 'phone change',
    apply: (e, d) => e.replace(dnOf(d, 'two.mobiles'), { mobile: ['07700 900299'] }),
    writes: { 'DELETE /admin/v1/phones/{phone_id}': 1, 'DELETE /admin/v1/users/{user_id}/phones/{phone_id}': 1, 'POST /admin/v1/phones': 1, 'POST /admin/v1/users/{user_id}/phones': 1 },
  },
  {
    name: 'new hire (in staff, with a mobile)',
    async apply(e, d) {
      const dn = `uid=new.hire,ou=london,${d.usersDn}`;
      await e.add(dn, { objectClass: ['inetOrgPerson'], uid: ['new.hire'], cn: ['New Hire'], sn: ['Hire'], mail: ['new.hire@example.com'], mobile: ['07700 900301'] });
      await e.addValues(staff(d), 'member', [dn]);
    },
    // One new user is one create: a bulk_create call pays off from 6 users (bulkIsCheaper).
    writes: { 'POST /admin/v1/phones': 1, 'POST /admin/v1/users': 1, 'POST /admin/v1/users/{user_id}/groups': 1, 'POST /admin/v1/users/{user_id}/phones': 1 },
  },
  { name: 're-enable', apply: (e, d) => e.replace(dnOf(d, 'sergei'), { employeeType: [] }), writes: MODIFY_USER },
  { name: 'group rename (modrdn cn)', apply: async (e, d) => void (await e.rename(`cn=eng,${d.groupsDn}`, 'cn=engineering')), writes: { 'POST /admin/v1/groups/{group_id}': 1 } },
];

/** The sandbox's write requests by endpoint since its stats were reset (reads left out). */
export function writesOf(fx: SyncFixture): Record<string, number> {
  return Object.fromEntries(
    Object.entries(fx.sandbox.stats().byEndpoint)
      .filter(([key]) => !key.startsWith('GET '))
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
