/**
 * Nested store groups on a real OpenLDAP: a rule's `groups.nested` is `direct` (the default: a
 * user is in the Duo groups of the store groups it is a direct member of) or `flatten` (also in
 * every group that contains one of those, transitively). The directory has a cycle (eng contains
 * backend, backend contains eng), which flattening must survive.
 */
import assert from 'node:assert/strict';
import type { ConnectionConfig } from '../../src/domain/connection';
import { LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_SUFFIX, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { makeSyncFixture, type SyncFixture } from '../support/sync-fixture';
import { runFullSync } from '../safety/support';

const PASSWORD_ENV = 'DUO_SYNC_TEST_NESTED_LDAP_PASSWORD';
const group = (cn: string): string => `cn=${cn},${LDAP_GROUPS_DN}`;
const user = (uid: string): string => `uid=${uid},${LDAP_USERS_DN}`;

/** company ⊃ {ann, eng}; eng ⊃ {bob, backend}; backend ⊃ {cat, eng}: a cycle. memberOf as the overlay writes it. */
function directory(): string {
  const entries = [
    [`dn: ${LDAP_SUFFIX}`, 'objectClass: dcObject', 'objectClass: organization', 'dc: example', 'o: Example'],
    [`dn: ${LDAP_USERS_DN}`, 'objectClass: organizationalUnit', 'ou: people'],
    [`dn: ${LDAP_GROUPS_DN}`, 'objectClass: organizationalUnit', 'ou: groups'],
    ...[
      ['ann', 'company'],
      ['bob', 'eng'],
      ['cat', 'backend'],
    ].map(([uid, g]) => [`dn: ${user(uid as string)}`, 'objectClass: inetOrgPerson', `uid: ${uid}`, `cn: ${uid}`, `sn: ${uid}`, `mail: ${uid}@example.org`, `memberOf: ${group(g as string)}`]),
    [`dn: ${group('company')}`, 'objectClass: groupOfNames', 'cn: company', `member: ${user('ann')}`, `member: ${group('eng')}`],
    [`dn: ${group('eng')}`, 'objectClass: groupOfNames', 'cn: eng', `member: ${user('bob')}`, `member: ${group('backend')}`, `memberOf: ${group('company')}`, `memberOf: ${group('backend')}`],
    [`dn: ${group('backend')}`, 'objectClass: groupOfNames', 'cn: backend', `member: ${user('cat')}`, `member: ${group('eng')}`, `memberOf: ${group('eng')}`],
  ];
  return `${entries.map((e) => e.join('\n')).join('\n\n')}\n`;
}

describe('nested store groups: groups.nested direct or flatten (real OpenLDAP, with a cycle)', function () {
  this.timeout(120_000);
  let ldap: OpenLdapServer;
  let fx: SyncFixture;
  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    ldap = await startOpenLdap(directory());
    fx = await makeSyncFixture();
    fx.config.store = { kind: 'ldap', url: ldap.url, bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } }, usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN } as ConnectionConfig['store'];
  });
  after(async () => {
    await fx?.cleanup();
    await ldap?.stop();
    delete process.env[PASSWORD_ENV];
  });

  const rule = (nested?: 'direct' | 'flatten') =>
    [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['company', 'eng', 'backend'], ...(nested ? { nested } : {}) } }] as ConnectionConfig['rules'];
  const groupsOf = (username: string): string[] =>
    [...(fx.duoUser(username)?.groupIds ?? [])].map((id) => fx.sandbox.store.groups.get(id)?.name ?? id).sort();

  it('direct (the default): each user is in the Duo groups of its own store groups only', async () => {
    fx.config.rules = rule();
    const run = await runFullSync(fx);
    assert.equal(run.summary.failed, 0, JSON.stringify(run.summary.failures));
    assert.deepEqual(groupsOf('ann'), ['company']);
    assert.deepEqual(groupsOf('bob'), ['eng']);
    assert.deepEqual(groupsOf('cat'), ['backend']);
  });

  it('flatten: also in every group that contains one of them, through the cycle; a re-sync writes nothing', async () => {
    fx.config.rules = rule('flatten');
    const run = await runFullSync(fx);
    assert.equal(run.summary.failed, 0, JSON.stringify(run.summary.failures));
    assert.equal(run.summary.groups?.membershipsAdded, 4, JSON.stringify(run.summary.groups));
    assert.deepEqual(groupsOf('ann'), ['company']);
    assert.deepEqual(groupsOf('bob'), ['backend', 'company', 'eng']);
    assert.deepEqual(groupsOf('cat'), ['backend', 'company', 'eng']);
    fx.sandbox.resetStats();
    await runFullSync(fx);
    assert.equal(fx.sandbox.stats().writes, 0, JSON.stringify(fx.sandbox.stats().byEndpoint));
  });
});
