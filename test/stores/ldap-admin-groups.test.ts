/**
 * Administrator groups on a real OpenLDAP: `administrators.groups` names groups by cn (or by
 * entryUUID), resolved once against the directory, and a member's role comes from the first
 * listed group it is in (its memberOf, read as store group ids).
 */
import assert from 'node:assert/strict';
import { MockActivityEnvironment } from '@temporalio/testing';
import { resolveAdminGroups, type AdminGroupsResolution } from '../../src/activities/admins';
import { desiredAdminRole } from '../../src/domain/admins';
import { RuleSchema } from '../../src/domain/connection';
import { createStore, type IdentityStore } from '../../src/stores';
import { buildLdif, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';

const PASSWORD_ENV = 'DUO_SYNC_TEST_LDAP_ADMIN_GROUPS_PASSWORD';

describe('stores/ldap: administrator groups', function () {
  this.timeout(60_000);
  let server: OpenLdapServer;
  let store: IdentityStore;
  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    server = await startOpenLdap(
      buildLdif(
        [
          { uid: 'ann', mail: 'ann@example.org', groups: ['staff', 'Duo Helpdesk', 'Duo Admins'] },
          { uid: 'ben', mail: 'ben@example.org', groups: ['staff', 'Duo Helpdesk'] },
          { uid: 'cat', mail: 'cat@example.org', groups: ['staff'] },
        ],
        [{ cn: 'staff' }, { cn: 'Duo Admins' }, { cn: 'Duo Helpdesk' }],
      ),
    );
    store = createStore({ kind: 'ldap', url: server.url, bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } }, usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN });
  });
  after(async () => {
    await store?.close();
    await server?.stop();
    delete process.env[PASSWORD_ENV];
  });

  it('resolves groups by cn (case-insensitively) to entryUUIDs, reports the unknown one, and gives each member the first listed group’s role', async () => {
    const rule = RuleSchema.parse({
      id: 'staff',
      direction: 'outbound',
      scope: { kind: 'groups', groups: ['staff'] },
      administrators: { groups: [{ group: 'duo admins', role: 'Administrator' }, { group: 'Duo Helpdesk', role: 'Help Desk' }, { group: 'Duo Owners', role: 'Billing' }] },
    });
    // Resolution runs inside an activity (it heartbeats per store page).
    const { groups, problems } = await new MockActivityEnvironment().run((): Promise<AdminGroupsResolution> => resolveAdminGroups(store, rule));
    assert.deepEqual(groups.map((g) => g.role), ['Administrator', 'Help Desk']);
    assert.ok(groups.every((g) => /^[0-9a-f-]{36}$/.test(g.externalId)), 'entryUUIDs, not names');
    assert.match(problems.join(), /"Duo Owners" .* matches no group in the store/);
    const users = (await store.listUsers(rule.scope, { pageSize: 10 })).items;
    const roleOf = Object.fromEntries(users.map((u) => [u.username, desiredAdminRole(rule.administrators, 'user', u.groupIds, groups)]));
    assert.deepEqual(roleOf, { ann: 'Administrator', ben: 'Help Desk', cat: null });
  });
});
