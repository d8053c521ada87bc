/**
 * LDAP store against a real OpenLDAP (slapd started per suite by test/support/openldap.ts): the
 * shared contract, 10k users through the paged-results control, filter escaping, `member`-mode
 * membership, and resuming a cursor after the paging connection is gone.
 */
import assert from 'node:assert/strict';
import { mapStoreUser, usernameKey } from '../../src/domain/mapping';
import { createStore, toLdapFilter, escapeLdapFilterValue, LdapStoreConfigSchema, type IdentityStore, type StoreConfig, type StoreUser } from '../../src/stores';
import { messyDirectory, MESSY_PHONE_REGION, PERMANENT_LOCK, type DisabledBy, type MessyEntry } from '../support/messy-directory';
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

/**
 * A messy, company-like directory (test/support/messy-directory.ts) read through the LDAP store
 * and mapped as a rule with phoneRegion GB would: the outcome per kind of entry, under each
 * disabled-account convention (employeeType with `any` and `first`, and ppolicy's permanent lock).
 */
describe('ldap store: a messy company directory, read and mapped', function () {
  this.timeout(180_000);
  const directory = messyDirectory();
  const conventions: Record<keyof DisabledBy, Extract<StoreConfig, { kind: 'ldap' }>['disabled']> = {
    employeeTypeAny: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' },
    employeeTypeFirst: { kind: 'attribute', attribute: 'employeeType', value: 'disabled', match: 'first' },
    permanentLock: { kind: 'attribute', attribute: 'pwdAccountLockedTime', value: PERMANENT_LOCK },
  };
  const names = Object.keys(conventions) as (keyof DisabledBy)[];
  const read = new Map<keyof DisabledBy, Map<string, StoreUser>>();
  let server: Awaited<ReturnType<typeof startOpenLdap>>;
  const open: IdentityStore[] = [];
  const storeWith = (convention: keyof DisabledBy, extra: Partial<Extract<StoreConfig, { kind: 'ldap' }>> = {}): IdentityStore => {
    const store = createStore(ldapConfig(server.url, { usersDn: directory.usersDn, groupsDn: directory.groupsDn, disabled: conventions[convention], ...extra }));
    open.push(store);
    return store;
  };

  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    server = await startOpenLdap(directory.ldif);
    for (const name of names) {
      const { items } = await collect((p) => storeWith(name).listUsers({ kind: 'all' }, p), 250);
      read.set(name, new Map(items.map((u) => [u.username, u])));
    }
  });
  after(async () => {
    await Promise.all(open.map((s) => s.close()));
    await server?.stop();
  });

  it('reads every entry, from both OUs (1,000+ inetOrgPerson users)', () => {
    assert.ok(directory.entries.length >= 1000);
    for (const name of names) {
      const users = read.get(name)!;
      assert.equal(users.size, directory.entries.length, name);
      for (const ou of ['london', 'berlin']) assert.ok([...users.values()].some((u) => String(u.attributes['dn']).toLowerCase().includes(`ou=${ou},`)), `${name}: ou=${ou}`);
    }
  });

  function check(entry: MessyEntry, convention: keyof DisabledBy): void {
    const where = `${JSON.stringify(entry.uid)} (${entry.kind}) with the ${convention} convention`;
    const user = read.get(convention)!.get(entry.uid);
    assert.ok(user, `${where}: read from the store`);
    const disabled = entry.expect.disabledBy[convention];
    assert.equal(user.enabled, !disabled, `${where}: enabled`);
    const result = mapStoreUser(user, undefined, { phoneRegion: MESSY_PHONE_REGION });
    if (entry.expect.failure && !disabled) {
      assert.equal(result.ok, false, `${where}: must fail`);
      if (!result.ok) assert.equal(result.error.message, entry.expect.failure, where);
      return;
    }
    if (!result.ok) assert.fail(`${where}: unexpected failure ${result.error.message}`);
    const mapped = result.user;
    assert.equal(mapped.username, entry.expect.username, `${where}: username`);
    assert.equal(mapped.status, disabled ? 'disabled' : 'active', `${where}: status`);
    assert.equal(mapped.email, entry.expect.failure ? null : entry.expect.email, `${where}: email`);
    assert.equal(mapped.realname, entry.expect.realname, `${where}: realname`);
    if (entry.expect.phone === 'unread') {
      assert.equal('phone' in mapped, false, `${where}: the phone is left alone`);
      assert.deepEqual(
        result.problems.map((p) => p.message),
        disabled ? [] : [entry.expect.phoneProblem],
        `${where}: phone problem`,
      );
    } else {
      assert.deepEqual(mapped.phone, entry.expect.phone, `${where}: phone`);
      assert.deepEqual(result.problems, [], `${where}: no problems`);
    }
  }

  const kinds = [...new Set(directory.entries.map((e) => e.kind))];
  for (const kind of kinds) {
    const entries = directory.entries.filter((e) => e.kind === kind);
    it(`${kind} (${entries.length} entries)`, () => {
      for (const entry of entries) for (const convention of names) check(entry, convention);
    });
  }

  it('hostile and space-padded uids are found by their (normalised) username, and only themselves', async () => {
    const store = storeWith('employeeTypeAny');
    for (const entry of directory.entries.filter((e) => e.kind.startsWith('uid:') && !e.expect.failure)) {
      const found = await store.lookupUsers([entry.expect.username]);
      assert.deepEqual(found.map((u) => u.username), [entry.uid], JSON.stringify(entry.uid));
      assert.equal(usernameKey(found[0]!.username), usernameKey(entry.expect.username));
    }
  });

  it('the disabled convention names an operational attribute: it is requested explicitly (a search for * omits it)', async () => {
    const withoutIt = createStore(ldapConfig(server.url, { usersDn: directory.usersDn, groupsDn: directory.groupsDn, disabled: conventions.employeeTypeAny }));
    open.push(withoutIt);
    assert.equal((await withoutIt.getUser('locked.for.good'))?.enabled, true, 'employeeType says nothing about the lock');
    assert.equal((await storeWith('permanentLock').getUser('locked.for.good'))?.enabled, false);
  });

  it('operationalAttributes are requested and land in attributes for mappings', async () => {
    const plain = await storeWith('employeeTypeAny').getUser('both.phones');
    assert.equal(plain?.attributes['entryDN'], undefined);
    const extra = await storeWith('employeeTypeAny', { operationalAttributes: ['entryDN'] }).getUser('both.phones');
    assert.match(String(extra?.attributes['entryDN']), /^uid=both\.phones,ou=/);
  });

  it('enabling removes only the values that say disabled; disabling sets the value alone', async () => {
    const any = storeWith('employeeTypeAny');
    const enabled = await any.updateUser('et.second', { enabled: true });
    assert.equal(enabled.enabled, true);
    assert.deepEqual(enabled.attributes['employeeType'], 'contractor');
    const first = storeWith('employeeTypeFirst');
    const disabled = await first.disableUser('et.other');
    assert.equal(disabled.enabled, false);
    assert.equal(disabled.attributes['employeeType'], 'disabled');
    const again = await first.updateUser('et.other', { enabled: true });
    assert.equal(again.enabled, true);
    assert.equal(again.attributes['employeeType'], undefined);
  });

  it('the ppolicy convention locks with the permanent-lock value and unlocks by removing it', async () => {
    const store = storeWith('permanentLock');
    assert.equal((await store.getUser('locked.for.now'))?.enabled, true, 'a timed lock (failed binds) is not disabled');
    assert.equal((await store.disableUser('locked.for.now')).enabled, false);
    assert.equal((await store.updateUser('locked.for.now', { enabled: true })).enabled, true);
    assert.equal((await store.getUser('locked.for.good'))?.enabled, false, 'others keep their lock');
  });

  it('the multi-value policy defaults to any', () => {
    const parsed = LdapStoreConfigSchema.parse(ldapConfig('ldap://127.0.0.1:389'));
    assert.deepEqual(parsed.disabled, { kind: 'attribute', attribute: 'employeeType', value: 'disabled', match: 'any' });
  });
});
