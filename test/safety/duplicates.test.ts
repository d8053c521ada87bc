/**
 * Two store entries that map to one Duo username (the same uid in two OUs, `JDoe` and `jdoe`, or a
 * username mapped from an email two accounts share) must never take turns with one Duo account.
 * Within a page both fail, naming both; across pages the account belongs to the store id in its
 * marker and the other entry fails, naming both. Real workflows against a real OpenLDAP and the
 * file store, with the Duo sandbox.
 */
import assert from 'node:assert/strict';
import type { ConnectionConfig } from '../../src/domain/connection';
import { parseUserMarker } from '../../src/domain/ownership';
import type { StoreConfig } from '../../src/stores';
import { buildLdif, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { duoUserNamed, failureCodes, phoneNumbersOf, runFullSync, runReconcileUser } from './support';

const PASSWORD_ENV = 'DUO_SYNC_TEST_SAFETY_LDAP_PASSWORD';
const CONTRACTORS_DN = `ou=contractors,${LDAP_USERS_DN}`;
const PEOPLE_JDOE = `uid=jdoe,${LDAP_USERS_DN}`;
const CONTRACTOR_JDOE = `uid=JDoe,${CONTRACTORS_DN}`;

/** ou=people holds jdoe (and ann); ou=contractors under it holds JDoe, a different person. */
function directoryLdif(): string {
  const base = buildLdif(
    [
      { uid: 'ann', sn: 'Ann', mail: 'ann@example.org', telephoneNumber: ['+15550100001'] },
      { uid: 'jdoe', givenName: 'Jane', sn: 'Doe', mail: 'jane.doe@example.org', telephoneNumber: ['+15550100002'] },
    ],
    [],
  );
  const contractors = [
    [`dn: ${CONTRACTORS_DN}`, 'objectClass: organizationalUnit', 'ou: contractors'].join('\n'),
    [`dn: ${CONTRACTOR_JDOE}`, 'objectClass: inetOrgPerson', 'uid: JDoe', 'cn: John Doe', 'givenName: John', 'sn: Doe', 'mail: john.doe@example.org', 'telephoneNumber: +15550100003'].join('\n'),
  ].join('\n\n');
  return `${base}\n${contractors}\n`;
}

describe('safety: two store entries never share one Duo account', function () {
  this.timeout(180_000);
  const fixtures: SyncFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
  });

  describe('the same uid in two OUs of a real OpenLDAP (jdoe and JDoe)', () => {
    let ldap: OpenLdapServer;
    before(async () => {
      process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
      ldap = await startOpenLdap(directoryLdif());
    });
    after(async () => {
      await ldap.stop();
      delete process.env[PASSWORD_ENV];
    });

    async function ldapFixture(): Promise<SyncFixture> {
      const fx = await makeSyncFixture();
      fixtures.push(fx);
      const store: StoreConfig = { kind: 'ldap', url: ldap.url, bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } }, usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN };
      fx.config.store = store as ConnectionConfig['store'];
      return fx;
    }

    it('on one page: both fail with UsernameConflict naming both DNs, and no account is created', async () => {
      const fx = await ldapFixture();
      const { summary } = await runFullSync(fx);
      assert.equal(summary.created, 1, `only ann: ${JSON.stringify(summary)}`);
      assert.deepEqual(failureCodes(summary), ['UsernameConflict', 'UsernameConflict'], JSON.stringify(summary.failures));
      for (const failure of summary.failures) {
        assert.ok(failure.message.includes(PEOPLE_JDOE) && failure.message.includes(CONTRACTOR_JDOE), failure.message);
      }
      assert.equal(duoUserNamed(fx, 'jdoe'), undefined);

      const signalled = await runReconcileUser(fx, 'jdoe');
      assert.deepEqual(failureCodes(signalled.summary), ['UsernameConflict', 'UsernameConflict'], JSON.stringify(signalled.summary));
      assert.equal(duoUserNamed(fx, 'jdoe'), undefined, 'a userChanged for jdoe creates nothing either');
    });

    it('on different pages: the account stays with the store entry that created it, run after run; the other fails naming both', async () => {
      const fx = await ldapFixture();
      const first = await runFullSync(fx, { pageSize: 1 });
      assert.equal(first.summary.created, 2, JSON.stringify(first.summary));
      const account = duoUserNamed(fx, 'jdoe');
      assert.ok(account);
      const snapshot = { realname: account.realname, email: account.email, phones: phoneNumbersOf(fx, account) };

      let message = '';
      for (const attempt of [1, 2]) {
        const { summary } = await runFullSync(fx, { pageSize: 1 });
        const after = duoUserNamed(fx, 'jdoe');
        assert.deepEqual({ realname: after?.realname, email: after?.email, phones: phoneNumbersOf(fx, after) }, snapshot, `run ${attempt}: the account did not flip`);
        assert.equal(summary.updated, 0, `run ${attempt}: ${JSON.stringify(summary)}`);
        assert.deepEqual(failureCodes(summary), ['UsernameConflict'], `run ${attempt}: ${JSON.stringify(summary.failures)}`);
        message = summary.failures[0]?.message ?? '';
      }
      const holder = parseUserMarker(duoUserNamed(fx, 'jdoe')?.notes)?.storeId;
      assert.ok(holder, 'the marker records the store id of the entry that holds the account');
      assert.ok(message.includes(holder) && (message.includes(PEOPLE_JDOE) || message.includes(CONTRACTOR_JDOE)), message);
    });
  });

  describe('a username mapped from an email two store accounts share (file store)', () => {
    const jane: FileUser = { id: 'id-jane', username: 'jane', email: 'jane@example.org', phones: ['+15550200001'], givenName: 'Jane', familyName: 'Doe', enabled: true, groups: ['staff'] };
    const janeAdmin: FileUser = { id: 'id-jane-admin', username: 'adm-jane', email: 'jane@example.org', phones: ['+15550200002'], givenName: 'Jane', familyName: 'Admin', enabled: true, groups: ['staff'] };

    async function emailFixture(): Promise<SyncFixture> {
      const fx = await makeSyncFixture({
        users: [jane, janeAdmin],
        // Deprovisioning looks store users up by Duo username, which this mapping changes; it is not what is tested here.
        config: { userActions: { create: true, update: true }, rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: { username: { from: 'email' } } }] },
      });
      fixtures.push(fx);
      return fx;
    }

    it('on one page: both fail naming both store ids', async () => {
      const fx = await emailFixture();
      const { summary } = await runFullSync(fx);
      assert.equal(summary.created, 0, JSON.stringify(summary));
      assert.deepEqual(failureCodes(summary), ['UsernameConflict', 'UsernameConflict'], JSON.stringify(summary.failures));
      for (const failure of summary.failures) assert.match(failure.message, /id-jane\b.*id-jane-admin|id-jane-admin.*id-jane\b/);
      assert.equal(duoUserNamed(fx, 'jane@example.org'), undefined);
    });

    it('on different pages: the first keeps the account, the second fails every run and never changes it', async () => {
      const fx = await emailFixture();
      const first = await runFullSync(fx, { pageSize: 1 });
      assert.equal(first.summary.created, 1, JSON.stringify(first.summary));
      assert.deepEqual(failureCodes(first.summary), ['UsernameConflict'], JSON.stringify(first.summary.failures));
      const account = duoUserNamed(fx, 'jane@example.org');
      assert.equal(parseUserMarker(account?.notes)?.storeId, 'id-jane-admin', 'adm-jane comes first in the store order');
      for (const attempt of [1, 2]) {
        const { summary } = await runFullSync(fx, { pageSize: 1 });
        assert.deepEqual([summary.unchanged, summary.updated, summary.failed], [1, 0, 1], `run ${attempt}: ${JSON.stringify(summary)}`);
        assert.match(summary.failures[0]?.message ?? '', /id-jane-admin/);
        assert.match(summary.failures[0]?.message ?? '', /id-jane\b/);
      }
      const after = duoUserNamed(fx, 'jane@example.org');
      assert.equal(after?.lastname, 'Admin');
      assert.deepEqual(phoneNumbersOf(fx, after), ['+15550200002']);
    });
  });
});
