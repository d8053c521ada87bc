/**
 * A user renamed in the store (same store id, new username) keeps its Duo account: the Duo user is
 * renamed in place, with the same user_id, phones and group memberships, and nothing is created or
 * deleted, in full syncs, dry runs and per-user reconciles. Real workflows against the file store,
 * a real OpenLDAP (modrdn), a real SCIM 2.0 server (a PATCH of userName, same id) and the Duo sandbox.
 */
import assert from 'node:assert/strict';
import { Client } from 'ldapts';
import type { ConnectionConfig } from '../../src/domain/connection';
import type { StoreConfig } from '../../src/stores';
import { buildLdif, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, userDn, type OpenLdapServer } from '../support/openldap';
import { runByHand } from '../support/runs';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { duoUserNamed, failureCodes, phoneNumbersOf, runFullSync } from './support';

const PASSWORD_ENV = 'DUO_SYNC_TEST_RENAME_LDAP_PASSWORD';
const SCIM_TOKEN_ENV = 'DUO_SYNC_TEST_RENAME_SCIM_TOKEN';
const SCIM_TOKEN = 'rename-token';

function person(id: string, username: string, phone: string): FileUser {
  return { id, username, email: `${id}@example.org`, phones: [phone], givenName: id, familyName: 'Person', enabled: true, groups: ['staff'] };
}

/** What must survive a rename: the account, its phones and its group memberships. */
function accountOf(fx: SyncFixture, username: string): { userId: string; phones: string[]; groups: string[] } {
  const user = duoUserNamed(fx, username);
  assert.ok(user, `Duo user ${username} exists (Duo has ${fx.duoUsernames().join(', ')})`);
  return { userId: user.user_id, phones: phoneNumbersOf(fx, user), groups: [...user.groupIds].sort() };
}

describe('safety: a rename in the store renames the Duo user in place', function () {
  this.timeout(180_000);
  const fixtures: SyncFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
  });

  describe('file store', () => {
    const users = [person('id-alice', 'alice', '+15550300001'), person('id-bob', 'bob', '+15550300002'), person('id-carol', 'carol', '+15550300003'), person('id-dave', 'dave', '+15550300004')];

    async function synced(): Promise<SyncFixture> {
      const fx = await makeSyncFixture({ users, config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['staff'] } }] } });
      fixtures.push(fx);
      const first = await runFullSync(fx);
      assert.equal(first.summary.created, 4, JSON.stringify(first.summary));
      return fx;
    }

    function rename(fx: SyncFixture, from: string, to: string): void {
      fx.writeUsers(users.map((u) => (u.username === from ? { ...u, username: to } : u)));
    }

    it('a full sync (and its dry run before it) renames alice to alicia: same user_id, phones and groups, nothing created or deleted', async () => {
      const fx = await synced();
      const before = accountOf(fx, 'alice');
      assert.equal(before.groups.length, 1, 'alice is in the rule’s staff group');
      rename(fx, 'alice', 'alicia');

      const dry = await runFullSync(fx, { dryRun: true });
      assert.equal(dry.summary.created, 0, `dry run: ${JSON.stringify(dry.summary)}`);
      assert.equal(dry.summary.deleted, 0, `dry run: ${JSON.stringify(dry.summary)}`);
      assert.equal(dry.outcome, 'succeeded', `dry run waits for no approval: ${JSON.stringify(dry)}`);
      assert.ok(duoUserNamed(fx, 'alice'), 'a dry run renames nothing');

      const run = await runFullSync(fx);
      assert.equal(run.outcome, 'succeeded', JSON.stringify(run));
      assert.equal(run.summary.created, 0, JSON.stringify(run.summary));
      assert.equal(run.summary.deleted, 0, JSON.stringify(run.summary));
      assert.equal(run.summary.failed, 0, JSON.stringify(run.summary.failures));
      assert.deepEqual(accountOf(fx, 'alicia'), before);
      assert.equal(duoUserNamed(fx, 'alice'), undefined);
      assert.equal(fx.duoUsernames().length, 4);

      const again = await runFullSync(fx);
      assert.equal(again.summary.updated, 0, `a re-sync writes nothing: ${JSON.stringify(again.summary)}`);
    });

    it('a userChanged for the new name renames in place, with previousUsername and without it', async () => {
      const fx = await synced();
      const bob = accountOf(fx, 'bob');
      const carol = accountOf(fx, 'carol');
      rename(fx, 'bob', 'robert');
      const hinted = await runByHand(fx, 'reconcileUserWorkflow', { username: 'robert', previousUsername: 'bob' });
      assert.equal(hinted.summary.created, 0, JSON.stringify(hinted.summary));
      assert.deepEqual(accountOf(fx, 'robert'), bob);

      fx.writeUsers(users.map((u) => (u.username === 'bob' ? { ...u, username: 'robert' } : u.username === 'carol' ? { ...u, username: 'caroline' } : u)));
      const found = await runByHand(fx, 'reconcileUserWorkflow', { username: 'caroline' });
      assert.equal(found.summary.created, 0, JSON.stringify(found.summary));
      assert.deepEqual(accountOf(fx, 'caroline'), carol);
      assert.equal(fx.duoUsernames().length, 4);
    });

    it('a reconcile of the old name does not deprovision the renamed user: it renames it', async () => {
      const fx = await synced();
      const dave = accountOf(fx, 'dave');
      rename(fx, 'dave', 'david');
      const run = await runByHand(fx, 'reconcileUserWorkflow', { username: 'dave' });
      assert.equal(run.summary.deleted, 0, JSON.stringify(run.summary));
      assert.deepEqual(accountOf(fx, 'david'), dave);
    });

    it('a new name another Duo user already has: UsernameConflict, the old account is kept and not deprovisioned', async () => {
      const fx = await synced();
      const alice = accountOf(fx, 'alice');
      fx.sandbox.store.createUser(new Map([['username', 'alicia'], ['notes', 'made by hand']]));
      rename(fx, 'alice', 'alicia');
      const run = await runFullSync(fx);
      assert.ok(failureCodes(run.summary).includes('UsernameConflict'), JSON.stringify(run.summary.failures));
      assert.equal(run.summary.deleted, 0, JSON.stringify(run.summary));
      assert.deepEqual(accountOf(fx, 'alice'), alice);
      assert.equal(duoUserNamed(fx, 'alicia')?.notes, 'made by hand');
    });
  });

  describe('a real OpenLDAP: modrdn uid=erin to uid=erina', () => {
    let ldap: OpenLdapServer;
    before(async () => {
      process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
      ldap = await startOpenLdap(
        buildLdif(
          [
            { uid: 'erin', givenName: 'Erin', sn: 'Example', mail: 'erin@example.org', telephoneNumber: ['+15550300011'] },
            { uid: 'frank', givenName: 'Frank', sn: 'Example', mail: 'frank@example.org', telephoneNumber: ['+15550300012'] },
          ],
          [],
        ),
      );
    });
    after(async () => {
      await ldap.stop();
      delete process.env[PASSWORD_ENV];
    });

    it('keeps user_id and phones through a full sync and a reconcile, and creates or deletes nothing', async () => {
      const fx = await makeSyncFixture();
      fixtures.push(fx);
      const store: StoreConfig = { kind: 'ldap', url: ldap.url, bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } }, usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN };
      fx.config.store = store as ConnectionConfig['store'];
      const first = await runFullSync(fx);
      assert.equal(first.summary.created, 2, JSON.stringify(first.summary));
      const erin = accountOf(fx, 'erin');
      const frank = accountOf(fx, 'frank');

      const modrdn = async (from: string, to: string): Promise<void> => {
        const client = new Client({ url: ldap.url });
        try {
          await client.bind(LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD);
          await client.modifyDN(userDn(from), `uid=${to}`);
        } finally {
          await client.unbind();
        }
      };

      await modrdn('erin', 'erina');
      const run = await runFullSync(fx);
      assert.equal(run.outcome, 'succeeded', JSON.stringify(run));
      assert.equal(run.summary.created + run.summary.deleted + run.summary.failed, 0, JSON.stringify(run.summary));
      assert.deepEqual(accountOf(fx, 'erina'), erin);
      assert.equal(duoUserNamed(fx, 'erin'), undefined);

      // A userChanged for the new name alone finds frank by the entryUUID in its marker.
      await modrdn('frank', 'franklin');
      const reconciled = await runByHand(fx, 'reconcileUserWorkflow', { username: 'franklin' });
      assert.equal(reconciled.summary.created + reconciled.summary.failed, 0, JSON.stringify(reconciled.summary));
      assert.deepEqual(accountOf(fx, 'franklin'), frank);
      assert.deepEqual(fx.duoUsernames(), ['erina', 'franklin']);
    });
  });
  describe('a real SCIM server: userName replaced by PATCH, same id', () => {
    let scim: ScimTestServer;
    before(async () => {
      process.env[SCIM_TOKEN_ENV] = SCIM_TOKEN;
      scim = await startScimServer({ bearerTokens: [SCIM_TOKEN] });
      scim.seed(
        [
          { userName: 'gina', givenName: 'Gina', familyName: 'Example', email: 'gina@example.org', phones: ['+15550300021'], groups: ['staff'] },
          { userName: 'hank', givenName: 'Hank', familyName: 'Example', email: 'hank@example.org', phones: ['+15550300022'], groups: ['staff'] },
        ],
        [{ name: 'staff' }],
      );
    });
    after(async () => {
      await scim.close();
      delete process.env[SCIM_TOKEN_ENV];
    });

    /** Renames a user as an IdP does: a PATCH that replaces userName on the same resource id. */
    async function renameInScim(from: string, to: string): Promise<void> {
      const headers = { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' };
      const listed = await fetch(`${scim.baseUrl}/Users?filter=${encodeURIComponent(`userName eq "${from}"`)}`, { headers });
      const body = (await listed.json()) as { Resources?: { id: string }[] };
      const id = body.Resources?.[0]?.id;
      assert.ok(id, `SCIM user ${from} exists: ${JSON.stringify(body)}`);
      const patched = await fetch(`${scim.baseUrl}/Users/${id}`, {
        method: 'PATCH',
        headers,
        body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'userName', value: to }] }),
      });
      const after = (await patched.json()) as { id?: string; userName?: string };
      assert.deepEqual({ status: patched.status, id: after.id, userName: after.userName }, { status: 200, id, userName: to });
    }

    it('keeps user_id, phones and groups through a full sync and a reconcile with previousUsername, and creates or deletes nothing', async () => {
      const fx = await makeSyncFixture({ config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['staff'] } }] } });
      fixtures.push(fx);
      const store: StoreConfig = { kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: SCIM_TOKEN_ENV } }, timeoutMs: 5000 };
      fx.config.store = store as ConnectionConfig['store'];
      const first = await runFullSync(fx);
      assert.equal(first.summary.created, 2, JSON.stringify(first.summary));
      const gina = accountOf(fx, 'gina');
      const hank = accountOf(fx, 'hank');
      assert.equal(gina.groups.length, 1, 'gina is in the rule’s staff group');

      await renameInScim('gina', 'georgina');
      // A dry run first: it waits for no approval, so a rename taken for a deletion fails here at once.
      const dry = await runFullSync(fx, { dryRun: true });
      assert.equal(dry.summary.created + dry.summary.deleted + dry.summary.failed, 0, `dry run: ${JSON.stringify(dry.summary)}`);
      const run = await runFullSync(fx);
      assert.equal(run.outcome, 'succeeded', JSON.stringify(run));
      assert.equal(run.summary.created + run.summary.deleted + run.summary.failed, 0, JSON.stringify(run.summary));
      assert.deepEqual(accountOf(fx, 'georgina'), gina);
      assert.equal(duoUserNamed(fx, 'gina'), undefined);

      // The per-user path a userChanged signal starts, carrying the name before the rename.
      await renameInScim('hank', 'henry');
      const reconciled = await runByHand(fx, 'reconcileUserWorkflow', { username: 'henry', previousUsername: 'hank' });
      assert.equal(reconciled.summary.created + reconciled.summary.deleted + reconciled.summary.failed, 0, JSON.stringify(reconciled.summary));
      assert.deepEqual(accountOf(fx, 'henry'), hank);
      assert.deepEqual(fx.duoUsernames(), ['georgina', 'henry']);

      const again = await runFullSync(fx);
      assert.equal(again.summary.updated + again.summary.created + again.summary.deleted, 0, `a re-sync writes nothing: ${JSON.stringify(again.summary)}`);
    });
  });
});
