/**
 * One unreadable LDAP entry (no username or externalId attribute) is reported on its own, by DN,
 * and the rest of its page is read; in a lookup, where "not found" would mean "gone" to the
 * deprovision pass, such an entry makes the lookup fail as incomplete instead.
 */
import assert from 'node:assert/strict';
import { createStore, StoreError, type IdentityStore, type StoreConfig, type StoreUser } from '../../src/stores';
import { buildLdif, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';

const PASSWORD_ENV = 'DUO_SYNC_TEST_SAFETY_LDAP_PASSWORD';
const NO_UID_DN = `cn=No Uid,${LDAP_USERS_DN}`;
const NO_NUMBER_DN = `uid=nonumber,${LDAP_USERS_DN}`;
const NAMES = Array.from({ length: 12 }, (_, i) => `person${String(i).padStart(2, '0')}`);

/** Users with an employeeNumber, one entry without uid, one without employeeNumber. */
function directory(): string {
  const base = buildLdif(
    NAMES.map((uid, i) => ({ uid, sn: uid, mail: `${uid}@example.org`, title: String(1000 + i) })),
    [{ cn: 'staff' }],
  );
  const extra = [
    [`dn: ${NO_UID_DN}`, 'objectClass: inetOrgPerson', 'cn: No Uid', 'sn: Uid', 'employeeNumber: 9999'].join('\n'),
    [`dn: ${NO_NUMBER_DN}`, 'objectClass: inetOrgPerson', 'uid: nonumber', 'cn: nonumber', 'sn: nonumber'].join('\n'),
  ];
  // employeeNumber on the regular users: their `title` line carries the number, copied here.
  const withNumbers = base.replace(/^title: (\d+)$/gm, 'title: $1\nemployeeNumber: $1');
  return `${withNumbers}\n${extra.join('\n\n')}\n`;
}

describe('safety: one unreadable LDAP entry does not fail its page, and never reads as "gone"', function () {
  this.timeout(60_000);
  let server: OpenLdapServer;
  const stores: IdentityStore[] = [];
  const storeWith = (extra: Partial<Extract<StoreConfig, { kind: 'ldap' }>> = {}): IdentityStore => {
    const s = createStore({
      kind: 'ldap',
      url: server.url,
      bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } },
      usersDn: LDAP_USERS_DN,
      groupsDn: LDAP_GROUPS_DN,
      ...extra,
    });
    stores.push(s);
    return s;
  };
  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    server = await startOpenLdap(directory());
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await server?.stop();
    delete process.env[PASSWORD_ENV];
  });

  it('a page with an entry that has no uid returns the other users and names that entry in `invalid`', async () => {
    const store = storeWith();
    const users: StoreUser[] = [];
    const invalid: { ref: string; reason: string }[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<IdentityStore['listUsers']>> = await store.listUsers({ kind: 'all' }, { cursor, pageSize: 5 });
      users.push(...page.items);
      invalid.push(...(page.invalid ?? []));
      cursor = page.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(users.map((u) => u.username).sort(), [...NAMES, 'nonumber'].sort());
    assert.equal(invalid.length, 1);
    assert.equal(invalid[0]?.ref, NO_UID_DN);
    assert.match(invalid[0]?.reason ?? '', /no uid/);
  });

  it('with externalId employeeNumber: listing reports the entry without it, a lookup that finds it fails as incomplete', async () => {
    const store = storeWith({ attributes: { externalId: 'employeeNumber' } });
    const page = await store.listUsers({ kind: 'all' }, { pageSize: 100 });
    assert.equal(page.items.length, NAMES.length);
    assert.deepEqual(page.invalid?.map((e) => e.ref).sort(), [NO_NUMBER_DN, NO_UID_DN].sort());
    assert.deepEqual((await store.lookupUsers(['person01', 'person02'])).map((u) => u.externalId).sort(), ['1001', '1002']);
    for (const lookup of [() => store.lookupUsers(['person01', 'nonumber']), () => store.getUser('nonumber')]) {
      await assert.rejects(lookup(), (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.equal(err.kind, 'incomplete', err.message);
        assert.ok(err.message.includes(NO_NUMBER_DN), err.message);
        assert.match(err.message, /employeeNumber/);
        return true;
      });
    }
  });
});
