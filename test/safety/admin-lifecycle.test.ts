/**
 * The administrator lifecycle end to end, run the way ops run syncs (through the connection
 * entity, real Temporal dev server, Duo sandbox, file store): members of store groups become
 * administrators with their group's role, the record of ownership is `a=` on the user's marker,
 * roles, names and phones follow the store (a dry run shows them and changes nothing), a disabled
 * store user disables its administrator, an Owner is refused clearly, leaving the groups or the
 * store removes the administrator per removeAction, and deleting the rule releases it untouched.
 * An administrator duo-sync did not create is never touched. The steps build on each other.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { ConnectionConfigSchema } from '../../src/domain/connection';
import { parseUserMarker } from '../../src/domain/ownership';
import type { AdminRecord } from '../../src/sandbox/store';
import { deleteRuleThroughEntity } from '../support/runs';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { duoUserNamed, failureCodes, runFullSync, runReconcileUser } from './support';

const GROUPS = [
  { id: 'g-owners', name: 'duo-owners' },
  { id: 'g-admins', name: 'duo-admins' },
  { id: 'g-helpdesk', name: 'duo-helpdesk' },
  { id: 'g-staff', name: 'staff' },
];

/** Each person their own number (a number several people list is a PhoneConflict, the subject of test/safety/phones.test.ts). */
const numbers = new Map<string, string>();
function phoneOf(username: string): string {
  if (!numbers.has(username)) numbers.set(username, `+155500001${String(numbers.size).padStart(2, '0')}`);
  return numbers.get(username) as string;
}

function person(username: string, groups: string[], over: Partial<FileUser> = {}): FileUser {
  return { username, email: `${username}@example.org`, phones: [phoneOf(username)], givenName: username[0]?.toUpperCase() + username.slice(1), familyName: 'Example', enabled: true, groups: ['staff', ...groups], ...over };
}

describe('safety: the administrator lifecycle', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  let people: Record<string, FileUser>;
  const write = () => writeFileSync(fx.storePath, JSON.stringify({ users: Object.values(people), groups: GROUPS }));
  const adminOf = (email: string): AdminRecord | undefined => [...fx.sandbox.store.admins.values()].find((a) => a.email === email);
  const roles = () => Object.fromEntries([...fx.sandbox.store.admins.values()].map((a) => [a.email.split('@')[0], `${a.role}/${a.status}`]));

  before(async () => {
    fx = await makeSyncFixture({
      config: {
        userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete' },
        deletionGuard: { maxFraction: 1, maxCount: 100 },
        rules: [
          {
            id: 'staff',
            direction: 'outbound',
            scope: { kind: 'groups', groups: ['staff'] },
            // Config order decides: bob is in duo-helpdesk and duo-admins and gets Administrator.
            administrators: { allowOwnerRole: true, groups: [{ group: 'duo-owners', role: 'Owner' }, { group: 'duo-admins', role: 'Administrator' }, { group: 'duo-helpdesk', role: 'Help Desk' }] },
          },
        ],
      },
    });
    people = {
      alice: person('alice', ['duo-helpdesk']),
      bob: person('bob', ['duo-helpdesk', 'duo-admins']),
      olga: person('olga', ['duo-owners']),
      dave: person('dave', ['duo-helpdesk']),
      erin: person('erin', ['duo-helpdesk']),
      carol: person('carol', []),
    };
    write();
    // An administrator someone made by hand, with the email of a store member of duo-helpdesk.
    fx.sandbox.store.createAdmin(new Map([['email', 'dave@example.org'], ['name', 'Dave by hand']]));
  });
  after(async () => fx?.cleanup());

  it('members of store groups become administrators with their group’s role; one made by hand is never touched', async () => {
    const { summary } = await runFullSync(fx);
    assert.deepEqual(roles(), { dave: 'Owner/Active', alice: 'Help Desk/Active', bob: 'Administrator/Active', olga: 'Owner/Active', erin: 'Help Desk/Active' });
    assert.equal(parseUserMarker(duoUserNamed(fx, 'carol')?.notes)?.adminId, undefined, 'carol is no administrator');
    assert.equal(adminOf('dave@example.org')?.name, 'Dave by hand');
    assert.deepEqual(failureCodes(summary), ['AdminConflict'], JSON.stringify(summary.failures));
    assert.match(summary.failures[0]?.message ?? '', /dave@example.org .* exists that duo-sync did not create/);
    assert.equal(summary.admins?.created, 4);
    // The ownership record: the administrator's id on the user's marker.
    assert.equal(parseUserMarker(duoUserNamed(fx, 'alice')?.notes)?.adminId, adminOf('alice@example.org')?.admin_id);
    assert.equal(parseUserMarker(duoUserNamed(fx, 'dave')?.notes)?.adminId, undefined);
    assert.equal(adminOf('alice@example.org')?.phone, phoneOf('alice'));
  });

  it('a promotion and a name change: a dry run shows them and changes nothing, the real run applies them', async () => {
    people['alice'] = person('alice', ['duo-admins']);
    people['bob'] = person('bob', ['duo-helpdesk', 'duo-admins'], { familyName: 'Renamed' });
    // carol joins duo-helpdesk, and a worker died creating her administrator: the intent was recorded, the id was not.
    people['carol'] = person('carol', ['duo-helpdesk']);
    const carol = duoUserNamed(fx, 'carol');
    fx.sandbox.store.modifyUser(carol?.user_id ?? '', new Map([['notes', `${carol?.notes.slice(0, -1)};a=pending]`]]));
    fx.sandbox.store.createAdmin(new Map([['email', 'carol@example.org'], ['name', 'Carol Example'], ['role', 'Help Desk']]));
    write();
    const before = roles();
    const dry = await runFullSync(fx, { dryRun: true });
    assert.deepEqual({ roleChanged: dry.summary.admins?.roleChanged, updated: dry.summary.admins?.updated }, { roleChanged: 1, updated: 1 }, JSON.stringify(dry.summary));
    assert.deepEqual(roles(), before, 'a dry run changes no administrator');
    const real = await runFullSync(fx);
    assert.equal(adminOf('alice@example.org')?.role, 'Administrator');
    assert.equal(adminOf('bob@example.org')?.name, 'Bob Renamed');
    assert.deepEqual(failureCodes(real.summary), ['AdminConflict'], 'dave’s, as before; carol’s interrupted create is taken over');
    assert.equal(parseUserMarker(duoUserNamed(fx, 'carol')?.notes)?.adminId, adminOf('carol@example.org')?.admin_id);
  });

  it('a disabled store user disables its administrator; an Owner is refused clearly and its user is left as it was', async () => {
    people['alice'] = { ...people['alice'] as FileUser, enabled: false };
    people['olga'] = { ...people['olga'] as FileUser, enabled: false };
    write();
    const { summary } = await runFullSync(fx);
    assert.equal(adminOf('alice@example.org')?.status, 'Disabled');
    assert.equal(duoUserNamed(fx, 'alice')?.status, 'disabled');
    const refused = summary.failures.find((f) => f.code === 'OwnerNotDisabled');
    assert.ok(refused, JSON.stringify(summary.failures));
    assert.equal(refused.username, 'olga');
    assert.match(refused.message, /olga@example.org .* is an Owner and Duo refuses to disable Owners: change its role/);
    assert.equal(adminOf('olga@example.org')?.status, 'Active');
    assert.equal(duoUserNamed(fx, 'olga')?.status, 'active', 'all or nothing: the user is not disabled while its Owner stays');
  });

  it('leaving the administrator groups deletes the administrator (removeAction delete); a user gone from the store loses it first', async () => {
    people['alice'] = person('alice', []);
    delete people['bob'];
    write();
    const aliceAdmin = adminOf('alice@example.org')?.admin_id;
    const { summary } = await runFullSync(fx);
    assert.equal(adminOf('alice@example.org'), undefined);
    assert.equal(adminOf('bob@example.org'), undefined);
    assert.equal(duoUserNamed(fx, 'bob'), undefined);
    assert.equal(duoUserNamed(fx, 'alice')?.status, 'active', 'alice is re-enabled and stays a user');
    assert.equal(parseUserMarker(duoUserNamed(fx, 'alice')?.notes)?.adminId, undefined, `the record of ${aliceAdmin} is forgotten`);
    assert.equal(summary.admins?.deleted, 2, JSON.stringify(summary));
  });

  it('removeAction trash: Duo has no Trash for administrators, so a trashed user’s administrator is disabled', async () => {
    fx.config = ConnectionConfigSchema.parse({ ...fx.config, userActions: { ...fx.config.userActions, removeAction: 'trash' } });
    delete people['erin'];
    write();
    await runFullSync(fx);
    assert.equal(duoUserNamed(fx, 'erin')?.status, 'pending deletion');
    assert.equal(adminOf('erin@example.org')?.status, 'Disabled');
  });

  it('a single-user reconcile (syncUser, userChanged) brings the administrator in line too: olga’s Owner demoted, re-enabled user', async () => {
    people['olga'] = person('olga', ['duo-admins']);
    write();
    const { summary } = await runReconcileUser(fx, 'olga');
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures));
    assert.equal(adminOf('olga@example.org')?.role, 'Administrator');
    assert.equal(summary.admins?.roleChanged, 1);
  });

  it('deleting the rule releases its administrators: records forgotten with the markers, nothing in Duo touched', async () => {
    const before = [...fx.sandbox.store.admins.values()].map((a) => ({ ...a }));
    await deleteRuleThroughEntity(fx, 'staff');
    assert.deepEqual([...fx.sandbox.store.admins.values()], before);
    assert.equal(duoUserNamed(fx, 'olga')?.notes, '', 'olga’s marker (and a= with it) is gone');
  });
});

describe('safety: administrators made by a userType mapping follow the store too', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  after(async () => fx?.cleanup());

  it('a role change in the rule is applied, a disabled store user disables its administrator, a user no longer mapped admin loses it', async () => {
    const users = (adaType: string, bo: Partial<FileUser>): FileUser[] => [
      { username: 'ada', email: 'ada@example.org', givenName: 'Ada', familyName: 'L', enabled: true, attributes: { duoRole: adaType } },
      { username: 'bo', email: 'bo@example.org', givenName: 'Bo', familyName: 'K', enabled: true, attributes: { duoRole: 'admin' }, ...bo },
      { username: 'cy', email: 'cy@example.org', givenName: 'Cy', familyName: 'M', enabled: true, attributes: { duoRole: 'admin' } },
    ];
    const rule = (role: string) => ({ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: { userType: { from: 'attr:duoRole' } }, administrators: { role } });
    fx = await makeSyncFixture({ users: users('admin', {}), config: { rules: [rule('Help Desk')] as never } });
    await runFullSync(fx);
    const roleOf = (email: string) => [...fx.sandbox.store.admins.values()].find((a) => a.email === email);
    assert.equal(roleOf('ada@example.org')?.role, 'Help Desk');

    fx.config = ConnectionConfigSchema.parse({ ...fx.config, rules: [rule('Read-only')] });
    fx.writeUsers(users('user', { enabled: false }));
    const { summary } = await runFullSync(fx);
    assert.equal(roleOf('ada@example.org'), undefined, 'ada is no longer an administrator in the store: deleted (removeAction delete)');
    assert.equal(roleOf('bo@example.org')?.status, 'Disabled');
    assert.equal(roleOf('bo@example.org')?.role, 'Help Desk', 'a disabled store user’s administrator is disabled, not re-roled');
    assert.equal(roleOf('cy@example.org')?.role, 'Read-only', 'the rule’s new role is applied (a demotion)');
    assert.equal(summary.admins?.roleChanged, 1);
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures));
  });
});
