/**
 * Contract tests: every DuoClient method against the sandbox, over real HTTP, with both signature
 * versions where the wire format differs, including paging across many pages and each error kind.
 */
import { strict as assert } from 'node:assert';
import { DuoClient, DuoError, isDuoError, type DuoErrorKind } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';

async function rejectsWith(promise: Promise<unknown>, kind: DuoErrorKind, check?: (e: DuoError) => void): Promise<DuoError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isDuoError(err), `expected DuoError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    check?.(err);
    return err;
  }
  assert.fail(`expected a ${kind} DuoError, but the call succeeded`);
}

describe('DuoClient against the Duo sandbox', () => {
  let sandbox: DuoSandbox;

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 42 });
  });
  after(() => sandbox.stop());

  for (const signatureVersion of [5, 2] as const) {
    describe(`users (signature v${signatureVersion})`, () => {
      let duo: DuoClient;
      const tag = `v${signatureVersion}`;
      before(() => {
        duo = new DuoClient({ ...sandbox.clientOptions(), signatureVersion });
      });

      it('creates, reads, modifies (status, rename, clearing fields) and deletes a user', async () => {
        const created = await duo.createUser({
          username: `ada.${tag}`,
          realname: 'Ada Lovelace',
          firstname: 'Ada',
          lastname: 'Lovelace',
          email: `ada.${tag}@example.com`,
          notes: 'duo-sync:conn=acme;rule=r1',
          alias1: `ada-alias-${tag}`,
        });
        assert.match(created.user_id, /^DU[A-Z0-9]{18}$/);
        assert.equal(created.status, 'active');
        assert.equal(created.notes, 'duo-sync:conn=acme;rule=r1');
        assert.equal(created.alias1, `ada-alias-${tag}`);

        const got = await duo.getUser(created.user_id);
        assert.equal(got.email, `ada.${tag}@example.com`);

        const modified = await duo.modifyUser(created.user_id, { status: 'disabled', email: null, firstname: null, alias1: null, username: `ada.king.${tag}` });
        assert.equal(modified.status, 'disabled');
        assert.equal(modified.email, '');
        assert.equal(modified.firstname, '');
        assert.equal(modified.lastname, 'Lovelace', 'fields not mentioned stay');
        assert.equal(modified.alias1 ?? null, null);
        assert.equal(modified.username, `ada.king.${tag}`);
        assert.equal(await duo.findUserByUsername(`ada.${tag}`), undefined, 'old name is free after a rename');
        assert.equal(await duo.findUserByUsername(`ada-alias-${tag}`), undefined, 'cleared alias no longer matches');

        await duo.deleteUser(created.user_id);
        await rejectsWith(duo.getUser(created.user_id), 'notFound', (e) => assert.equal(e.code, 40401));
        await duo.deleteUser(created.user_id);
      });

      it('finds users by username or alias, case-insensitively; a miss is an empty result', async () => {
        const u = await duo.createUser({ username: `Grace.Hopper.${tag}`, alias2: `ghopper.${tag}` });
        assert.equal((await duo.findUserByUsername(`grace.hopper.${tag}`))?.user_id, u.user_id);
        assert.equal((await duo.findUserByUsername(`GHOPPER.${tag}`))?.user_id, u.user_id);
        assert.equal(await duo.findUserByUsername(`nobody.${tag}`), undefined);
      });

      it('reports a duplicate username or alias as a conflict naming the existing user', async () => {
        const u = await duo.createUser({ username: `dup.${tag}`, alias1: `dup-alias.${tag}` });
        await rejectsWith(duo.createUser({ username: `DUP.${tag}` }), 'conflict', (e) => {
          assert.equal(e.existingId, u.user_id);
          assert.equal(e.httpStatus, 400);
          assert.match(e.message, /already uses this name/);
        });
        await rejectsWith(duo.createUser({ username: `dup-alias.${tag}` }), 'conflict', (e) => assert.equal(e.existingId, u.user_id));
        const other = await duo.createUser({ username: `other.${tag}` });
        await rejectsWith(duo.modifyUser(other.user_id, { alias1: `dup.${tag}` }), 'conflict');
      });

      it("maps a bad value to invalidRequest with Duo's code, message and detail", async () => {
        const err = await rejectsWith(duo.createUser({ username: `bad.email.${tag}`, email: 'not-an-email' }), 'invalidRequest');
        assert.equal(err.code, 40002);
        assert.equal(err.duoMessage, 'Invalid request parameters');
        assert.equal(err.messageDetail, 'email');
        assert.equal(err.retryable, false);
        assert.match(err.message, /create user "bad\.email\.v\d".*\(email\)/);
      });
    });
  }

  describe('paging and batched lookups', () => {
    let duo: DuoClient;
    before(() => {
      duo = new DuoClient(sandbox.clientOptions());
      for (let i = 0; i < 1000; i++) sandbox.store.createUser(new Map([['username', `bulk${String(i).padStart(4, '0')}`]]));
    });

    it('iterates every user across pages of 300 following metadata.next_offset', async () => {
      sandbox.resetStats();
      const total = sandbox.store.users.size;
      const ids: string[] = [];
      let pages = 0;
      for await (const page of duo.iterateUsers()) {
        pages += 1;
        assert.ok(page.items.length <= 300);
        assert.equal(page.totalObjects, total);
        ids.push(...page.items.map((u) => u.user_id));
      }
      assert.equal(ids.length, total);
      assert.equal(new Set(ids).size, total, 'no user twice');
      assert.equal(pages, Math.ceil(total / 300));
      assert.equal(sandbox.stats().byEndpoint['GET /admin/v1/users'], pages);
    });

    it('clamps an over-large page size to the endpoint maximum and stops at the last page', async () => {
      const first = await duo.listUsers({ limit: 5000, offset: 0 });
      assert.equal(first.items.length, 300);
      assert.equal(first.nextOffset, 300);
      const last = await duo.listUsers({ limit: 300, offset: first.totalObjects! - 10 });
      assert.equal(last.items.length, 10);
      assert.equal(last.nextOffset, undefined);
    });

    it('looks up 250 usernames in batches of 100, skipping unknown names', async () => {
      sandbox.resetStats();
      const names = Array.from({ length: 240 }, (_, i) => `BULK${String(i).padStart(4, '0')}`).concat(Array.from({ length: 10 }, (_, i) => `missing${i}`));
      const found = await duo.getUsersByUsernames(names);
      assert.equal(found.length, 240);
      assert.equal(sandbox.stats().byEndpoint['GET /admin/v1/users'], 3);
    });
  });

  describe('groups and memberships', () => {
    let duo: DuoClient;
    before(() => {
      duo = new DuoClient(sandbox.clientOptions());
    });

    it('creates, renames, clears the description of, and deletes a group', async () => {
      const g = await duo.createGroup({ name: 'Engineering', desc: 'duo-sync:conn=acme' });
      assert.match(g.group_id, /^DG[A-Z0-9]{18}$/);
      assert.equal(g.status, 'active');
      assert.equal((await duo.getGroup(g.group_id)).desc, 'duo-sync:conn=acme');
      const renamed = await duo.modifyGroup(g.group_id, { name: 'Engineering (all)', desc: null });
      assert.equal(renamed.name, 'Engineering (all)');
      assert.equal(renamed.desc, '');
      await rejectsWith(duo.createGroup({ name: 'ENGINEERING (ALL)' }), 'conflict');
      await duo.deleteGroup(g.group_id);
      await rejectsWith(duo.getGroup(g.group_id), 'notFound');
    });

    it('lists groups across pages of at most 100', async () => {
      for (let i = 0; i < 230; i++) sandbox.store.createGroup(new Map([['name', `paged-${i}`]]));
      let count = 0;
      let pages = 0;
      for await (const page of duo.iterateGroups(500)) {
        pages += 1;
        assert.ok(page.items.length <= 100);
        count += page.items.length;
      }
      assert.equal(count, sandbox.store.groups.size);
      assert.equal(pages, Math.ceil(count / 100));
    });

    it('adds and removes members idempotently and lists them from both sides', async () => {
      const g = await duo.createGroup({ name: 'Members' });
      const users = await Promise.all(['m1', 'm2', 'm3'].map((username) => duo.createUser({ username })));
      for (const u of users) await duo.addUserToGroup(u.user_id, g.group_id);
      await duo.addUserToGroup(users[0]!.user_id, g.group_id);
      const members = await duo.listGroupMembers(g.group_id);
      assert.deepEqual(members.items.map((m) => m.username).sort(), ['m1', 'm2', 'm3']);
      assert.deepEqual((await duo.listUserGroups(users[0]!.user_id)).items.map((x) => x.group_id), [g.group_id]);
      assert.deepEqual((await duo.getUser(users[0]!.user_id)).groups.map((x) => x.name), ['Members']);
      await duo.removeUserFromGroup(users[0]!.user_id, g.group_id);
      await duo.removeUserFromGroup(users[0]!.user_id, g.group_id);
      const after: string[] = [];
      for await (const page of duo.iterateGroupMembers(g.group_id, 1)) after.push(...page.items.map((m) => m.username));
      assert.deepEqual(after.sort(), ['m2', 'm3']);
      await rejectsWith(duo.addUserToGroup(users[1]!.user_id, 'DGDOESNOTEXIST000000'), 'invalidRequest', (e) => assert.equal(e.messageDetail, 'group_id'));
    });

    it('refuses a 101st group for one user with 500/50001, reported as limitExceeded (not retryable)', async () => {
      const u = await duo.createUser({ username: 'joiner' });
      const groups = Array.from({ length: 101 }, (_, i) => sandbox.store.createGroup(new Map([['name', `limit-${i}`]])));
      for (const g of groups.slice(0, 100)) sandbox.store.addUserToGroup(u.user_id, g.group_id);
      await rejectsWith(duo.addUserToGroup(u.user_id, groups[100]!.group_id), 'limitExceeded', (e) => {
        assert.equal(e.httpStatus, 500);
        assert.equal(e.code, 50001);
        assert.equal(e.retryable, false);
        assert.match(e.message, /100 groups/);
      });
    });
  });

  describe('phones', () => {
    let duo: DuoClient;
    before(() => {
      duo = new DuoClient(sandbox.clientOptions());
    });

    it('creates a phone (number normalised), finds it by number, associates, disassociates, deletes', async () => {
      const u = await duo.createUser({ username: 'phoned' });
      const phone = await duo.createPhone({ number: '555-010-9999', type: 'mobile', platform: 'generic smartphone', name: 'work' });
      assert.equal(phone.number, '+15550109999');
      assert.equal(phone.type, 'Mobile');
      assert.deepEqual((await duo.findPhonesByNumber('+1 555 010 9999')).map((p) => p.phone_id), [phone.phone_id]);
      assert.deepEqual(await duo.findPhonesByNumber('+15550100000'), []);
      await rejectsWith(duo.createPhone({ number: '+15550109999' }), 'conflict');

      await duo.associatePhone(u.user_id, phone.phone_id);
      assert.deepEqual((await duo.getUser(u.user_id)).phones.map((p) => p.phone_id), [phone.phone_id]);
      assert.deepEqual((await duo.getPhone(phone.phone_id)).users?.map((x) => x.username), ['phoned']);
      assert.equal((await duo.listUserPhones(u.user_id)).items.length, 1);
      await duo.disassociatePhone(u.user_id, phone.phone_id);
      assert.deepEqual((await duo.getUser(u.user_id)).phones, []);
      assert.equal((await duo.getPhone(phone.phone_id)).phone_id, phone.phone_id, 'disassociation keeps the phone');
      await duo.deletePhone(phone.phone_id);
      await duo.deletePhone(phone.phone_id);
      await rejectsWith(duo.getPhone(phone.phone_id), 'notFound');
      await rejectsWith(duo.createPhone({ number: 'call me maybe' }), 'invalidRequest', (e) => assert.equal(e.messageDetail, 'number'));
    });

    it('refuses a 101st phone for one user with limitExceeded', async () => {
      const u = await duo.createUser({ username: 'many-phones' });
      for (let i = 0; i < 100; i++) {
        const ph = sandbox.store.createPhone(new Map([['number', `+1555200${String(i).padStart(4, '0')}`]]));
        sandbox.store.associatePhone(u.user_id, ph.phone_id);
      }
      const extra = await duo.createPhone({ number: '+15553000000' });
      await rejectsWith(duo.associatePhone(u.user_id, extra.phone_id), 'limitExceeded');
    });

    it('keeps phones when their user is deleted (Duo deletes only the association)', async () => {
      const u = await duo.createUser({ username: 'leaver' });
      const ph = await duo.createPhone({ number: '+15554000000' });
      await duo.associatePhone(u.user_id, ph.phone_id);
      await duo.deleteUser(u.user_id);
      assert.deepEqual((await duo.getPhone(ph.phone_id)).users, []);
    });
  });

  describe('administrators', () => {
    it('creates, finds by e-mail, modifies and deletes an administrator', async () => {
      const duo = new DuoClient(sandbox.clientOptions());
      const admin = await duo.createAdmin({ email: 'Root@Example.com', name: 'Root', role: 'User Manager' });
      assert.match(admin.admin_id, /^DE/);
      assert.equal((await duo.findAdminByEmail('root@example.com'))?.admin_id, admin.admin_id);
      await rejectsWith(duo.createAdmin({ email: 'root@example.com', name: 'Again' }), 'conflict');
      const changed = await duo.modifyAdmin(admin.admin_id, { status: 'Disabled', phone: null, name: 'Root User' });
      assert.deepEqual([changed.status, changed.name, changed.phone], ['Disabled', 'Root User', '']);
      const owner = await duo.createAdmin({ email: 'owner@example.com', name: 'Owner' });
      await rejectsWith(duo.modifyAdmin(owner.admin_id, { status: 'Disabled' }), 'invalidRequest', (e) => assert.equal(e.messageDetail, 'status'));
      assert.ok((await duo.listAdmins()).items.length >= 2);
      await duo.deleteAdmin(admin.admin_id);
      await rejectsWith(duo.getAdmin(admin.admin_id), 'notFound');
    });

    it('a key without "Grant administrators" gets permission errors naming that grant', async () => {
      const noAdmins = sandbox.addAccount({ permissions: { administrators: false } });
      const duo = new DuoClient(sandbox.clientOptions(noAdmins));
      await rejectsWith(duo.listAdmins(), 'permission', (e) => {
        assert.equal(e.httpStatus, 403);
        assert.equal(e.code, 40301);
        assert.equal(e.missingPermission, 'Grant administrators');
        assert.match(e.message, /Grant administrators/);
      });
      const report = await duo.testConnection({ administrators: true });
      assert.equal(report.write.ok, true);
      assert.equal(report.administrators?.ok, false);
      assert.equal(report.ok, false);
    });
  });

  describe('connection test and permissions', () => {
    it('passes for a full key and counts users', async () => {
      const report = await new DuoClient(sandbox.clientOptions()).testConnection();
      assert.equal(report.ok, true);
      assert.equal(report.userCount, sandbox.store.users.size);
    });

    it('a read-only key can read, cannot write (403 40301, "Grant write resource"), and the test says so', async () => {
      const readOnly = sandbox.addAccount({ permissions: { writeResource: false } });
      const duo = new DuoClient(sandbox.clientOptions(readOnly));
      await duo.listUsers({ limit: 1 });
      const before = sandbox.store.users.size;
      await rejectsWith(duo.createUser({ username: 'blocked' }), 'permission', (e) => {
        assert.equal(e.code, 40301);
        assert.equal(e.missingPermission, 'Grant write resource');
      });
      assert.equal(sandbox.store.users.size, before);
      const report = await duo.testConnection();
      assert.deepEqual([report.ok, report.credentials.ok, report.read.ok, report.write.ok], [false, true, true, false]);
      assert.match(report.write.message ?? '', /Grant write resource/);
    });

    it('a key without "Grant read information" cannot read the account summary', async () => {
      const limited = sandbox.addAccount({ permissions: { readInformation: false } });
      await rejectsWith(new DuoClient(sandbox.clientOptions(limited)).getInfoSummary(), 'permission', (e) => assert.equal(e.missingPermission, 'Grant read information'));
      assert.equal((await new DuoClient(sandbox.clientOptions()).getInfoSummary()).user_count, sandbox.store.users.size);
    });

    it('wrong secret key, unknown integration key and a skewed clock are authentication failures', async () => {
      const opts = sandbox.clientOptions();
      await rejectsWith(new DuoClient({ ...opts, secretKey: 'not-the-secret-key-at-all-000000000000000' }).listUsers(), 'authentication', (e) => assert.equal(e.code, 40103));
      await rejectsWith(new DuoClient({ ...opts, integrationKey: 'DIUNKNOWNUNKNOWN0000' }).listUsers(), 'authentication', (e) => assert.equal(e.code, 40102));
      const skewed = new DuoClient({ ...opts, now: () => new Date(Date.now() - 2 * 3600_000) });
      await rejectsWith(skewed.listUsers(), 'authentication', (e) => assert.equal(e.code, 40105));
      const report = await new DuoClient({ ...opts, secretKey: 'wrong-wrong-wrong-wrong-wrong-wrong-wrong' }).testConnection();
      assert.deepEqual([report.reachable.ok, report.credentials.ok, report.ok], [true, false, false]);
    });
  });
});
