/**
 * LDAP store against a real OpenLDAP (slapd started per suite by test/support/openldap.ts): the
 * shared contract, 10k users through the paged-results control, filter escaping, `member`-mode
 * membership, and resuming a cursor after the paging connection is gone.
 */
import assert from 'node:assert/strict';
import { createStore, toLdapFilter, escapeLdapFilterValue, type IdentityStore, type StoreConfig } from '../../src/stores';
import { buildLdif, freePort, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, type LdifUser } from '../support/openldap';
import { collect, largeDirectoryContract, storeContract, type StoreHarness } from './contract';
import { contractDataset, type Dataset } from './fixtures';

const PASSWORD_ENV = 'DUO_SYNC_TEST_LDAP_PASSWORD';
const WRONG_PASSWORD_ENV = 'DUO_SYNC_TEST_LDAP_WRONG_PASSWORD';

function* toLdif(data: Dataset): Generator<LdifUser> {
  for (const u of data.users) {
    yield {
      uid: u.username,
      sn: u.familyName ?? u.username,
      ...(u.givenName ? { givenName: u.givenName } : {}),
      ...(u.displayName ? { displayName: u.displayName, cn: u.displayName } : {}),
      ...(u.email ? { mail: u.email } : {}),
      // Second phone in `mobile`, to exercise multi-attribute phones.
      telephoneNumber: (u.phones ?? []).slice(0, 1),
      mobile: (u.phones ?? []).slice(1),
      ...(u.enabled === false ? { employeeType: 'disabled' } : {}),
      ...(u.title ? { title: u.title } : {}),
      groups: u.groups ?? [],
    };
  }
}

function ldapConfig(url: string, extra: Partial<Extract<StoreConfig, { kind: 'ldap' }>> = {}): StoreConfig {
  return {
    kind: 'ldap',
    url,
    bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } },
    usersDn: LDAP_USERS_DN,
    groupsDn: LDAP_GROUPS_DN,
    disabled: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' },
    ...extra,
  };
}

const ldapHarness: StoreHarness = {
  name: 'ldap',
  async start(data) {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    process.env[WRONG_PASSWORD_ENV] = 'wrong-secret';
    const server = await startOpenLdap(buildLdif(toLdif(data), data.groups.map((g) => ({ cn: g.name, ...(g.description ? { description: g.description } : {}) }))));
    const closedPort = await freePort();
    return {
      store: (o) => createStore(ldapConfig(server.url, { readOnly: o?.readOnly ?? false })),
      unreachable: () => createStore(ldapConfig(`ldap://127.0.0.1:${closedPort}`, { connectTimeoutMs: 2000 })),
      badAuth: () => createStore(ldapConfig(server.url, { bind: { dn: LDAP_ADMIN_DN, password: { env: WRONG_PASSWORD_ENV } } })),
      stop: () => server.stop(),
    };
  },
};

storeContract(ldapHarness);
largeDirectoryContract(ldapHarness);

describe('ldap filter translation (RFC 4515)', () => {
  it('escapes every special character in values', () => {
    assert.equal(escapeLdapFilterValue('a*)(uid=*'), 'a\\2a\\29\\28uid=\\2a');
    assert.equal(escapeLdapFilterValue('back\\slash\u0000'), 'back\\5cslash\\00');
    assert.equal(escapeLdapFilterValue('é\n'), 'é\\0a');
    assert.equal(
      toLdapFilter({ or: [{ attr: 'uid', op: 'eq', value: '*' }, { not: { attr: 'mail', op: 'endsWith', value: ')(x=1' } }, { attr: 'cn', op: 'present' }] }),
      '(|(uid=\\2a)(!(mail=*\\29\\28x=1))(cn=*))',
    );
    assert.equal(toLdapFilter({ attr: 'title', op: 'eq', value: '' }), '(!(title=*))');
  });

  it('refuses attribute names outside the LDAP grammar', () => {
    assert.throws(() => toLdapFilter({ attr: 'name.givenName', op: 'present' }), /not a valid LDAP attribute/);
  });
});

describe('ldap store specifics', function () {
  this.timeout(60_000);
  let server: Awaited<ReturnType<typeof startOpenLdap>>;
  let store: IdentityStore | undefined;
  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    const data = contractDataset();
    server = await startOpenLdap(buildLdif(toLdif(data), data.groups.map((g) => ({ cn: g.name }))));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });
  after(() => server?.stop());

  it('finds memberships through `member` on groups when memberOf is not available', async () => {
    store = createStore(ldapConfig(server.url, { membership: 'member' }));
    const bob = await store.getUser('bob');
    assert.equal(bob?.groupIds.length, 2);
    const sales = await collect((p) => store!.listUsers({ kind: 'groups', groups: ['sales'] }, p), 1);
    assert.deepEqual(sales.items.map((u) => u.username).sort(), ['bob', 'carol']);
    const found = await store.lookupUsers(['alice', 'bob', 'carol'], { kind: 'groups', groups: ['engineering'] });
    assert.deepEqual(found.map((u) => u.username).sort(), ['alice', 'bob']);
  });

  it('resumes a cursor on another store instance (the paging connection is gone)', async () => {
    const first = createStore(ldapConfig(server.url));
    const page1 = await first.listUsers({ kind: 'all' }, { pageSize: 10 });
    await first.close();
    store = createStore(ldapConfig(server.url));
    const rest = await collect((p) => store!.listUsers({ kind: 'all' }, { ...p, cursor: p.cursor ?? page1.nextCursor }), 10);
    const all = [...page1.items, ...rest.items].map((u) => u.externalId);
    assert.equal(new Set(all).size, contractDataset().count);
  });

  it('keeps the bind password out of errors and cursors', async () => {
    store = createStore(ldapConfig(server.url));
    const page = await store.listUsers({ kind: 'all' }, { pageSize: 2 });
    assert.ok(page.nextCursor && !Buffer.from(page.nextCursor, 'base64url').toString().includes(LDAP_ADMIN_PASSWORD));
  });

  it('refuses to disable without a disabled-account convention (capability says so up front)', async () => {
    store = createStore(ldapConfig(server.url, { disabled: { kind: 'none' } }));
    assert.equal(store.capabilities.disable, false);
    await assert.rejects(store.disableUser('alice'), /no disabled-account convention/);
  });
});
