/**
 * Nested store groups on a real OpenLDAP, a real SCIM server and a JSON file: a rule's
 * `groups.nested` is `direct` (the default: a user is in the Duo groups of the store groups it is
 * a direct member of) or `flatten` (also in every group that contains one of those, transitively).
 * Each directory has the same cycle (eng contains backend, backend contains eng), which flattening
 * must survive.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionConfig } from '../../src/domain/connection';
import { LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_SUFFIX, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { createStore, type IdentityStore, type StoreGroup } from '../../src/stores';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
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

/** The shared scenario: company ⊃ {ann, eng}; eng ⊃ {bob, backend}; backend ⊃ {cat, eng}. */
function nestedScenario(getFx: () => SyncFixture): void {
  const rule = (nested?: 'direct' | 'flatten') =>
    [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['company', 'eng', 'backend'], ...(nested ? { nested } : {}) } }] as ConnectionConfig['rules'];
  const groupsOf = (username: string): string[] =>
    [...(getFx().duoUser(username)?.groupIds ?? [])].map((id) => getFx().sandbox.store.groups.get(id)?.name ?? id).sort();

  it('direct (the default): each user is in the Duo groups of its own store groups only', async () => {
    const fx = getFx();
    fx.config.rules = rule();
    const run = await runFullSync(fx);
    assert.equal(run.summary.failed, 0, JSON.stringify(run.summary.failures));
    assert.deepEqual(groupsOf('ann'), ['company']);
    assert.deepEqual(groupsOf('bob'), ['eng']);
    assert.deepEqual(groupsOf('cat'), ['backend']);
  });

  it('flatten: also in every group that contains one of them, through the cycle; a re-sync writes nothing', async () => {
    const fx = getFx();
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
}

/** Every group by name with the names of the groups that contain it, read one group per page. */
async function parentsByName(store: IdentityStore): Promise<Record<string, string[]>> {
  const all: StoreGroup[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: StoreGroup[]; nextCursor: string | null } = await store.listGroups({ cursor, pageSize: 1 });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  const name = new Map(all.map((g) => [g.externalId, g.name]));
  return Object.fromEntries(all.map((g) => [g.name, (g.groupIds ?? []).map((id) => name.get(id) ?? id).sort()]));
}

const EXPECTED_PARENTS = { company: [], eng: ['backend', 'company'], backend: ['eng'] };

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

  nestedScenario(() => fx);
});

describe('nested store groups on a real SCIM server: members of type Group (RFC 7643 §4.2)', function () {
  this.timeout(120_000);
  const TOKEN_ENV = 'DUO_SYNC_TEST_NESTED_SCIM_TOKEN';
  let scim: ScimTestServer;
  let fx: SyncFixture;
  before(async () => {
    process.env[TOKEN_ENV] = 'nested-token';
    // The server also lists indirect groups on users (RFC 7643 §4.1.2): `direct` must not take them.
    scim = await startScimServer({ bearerTokens: ['nested-token'], indirectGroups: true });
    scim.seed(
      [
        { userName: 'ann', email: 'ann@example.org', groups: ['company'] },
        { userName: 'bob', email: 'bob@example.org', groups: ['eng'] },
        { userName: 'cat', email: 'cat@example.org', groups: ['backend'] },
      ],
      [{ name: 'company' }, { name: 'eng', groups: ['company', 'backend'] }, { name: 'backend', groups: ['eng'] }],
    );
    fx = await makeSyncFixture();
    fx.config.store = { kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 } as ConnectionConfig['store'];
  });
  after(async () => {
    await fx?.cleanup();
    await scim?.close();
    delete process.env[TOKEN_ENV];
  });

  it('the adapter reports, for each group, the groups whose members include it', async () => {
    const store = createStore(fx.config.store);
    try {
      assert.deepEqual(await parentsByName(store), EXPECTED_PARENTS);
    } finally {
      await store.close();
    }
  });

  nestedScenario(() => fx);
});

// Flattening itself is the same code for every store (covered above); here only what the file reports.
describe('nested store groups in a JSON file: a group lists the groups it is in', function () {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-nested-'));
    const users = [
      ['ann', 'company'],
      ['bob', 'eng'],
      ['cat', 'backend'],
    ].map(([u, g]) => ({ username: u as string, groups: [g as string] }));
    const groups = [{ name: 'company' }, { name: 'eng', groups: ['company', 'Backend'] }, { name: 'backend', groups: ['eng', 'no-such-group'] }];
    writeFileSync(join(dir, 'directory.json'), JSON.stringify({ users, groups }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the adapter reports the groups each group is in, by id or name; unknown names are left out', async () => {
    const store = createStore({ kind: 'file', path: join(dir, 'directory.json') });
    try {
      assert.deepEqual(await parentsByName(store), EXPECTED_PARENTS);
    } finally {
      await store.close();
    }
  });
});
