/**
 * Every role decision of the administrator lifecycle (src/domain/admins.ts), the ownership record
 * on the user's marker, and the configuration rules (Owner only with allowOwnerRole).
 */
import assert from 'node:assert/strict';
import { desiredAdminRole, planAdmin, planAdminRemoval, type AdminView, type PlanAdminInput, type ResolvedAdminGroup } from '../../src/domain/admins';
import { RuleSchema, UserActionsSchema, type RuleInput } from '../../src/domain/connection';
import { formatMarker, parseUserMarker, withAdminId, withMarker } from '../../src/domain/ownership';

const ACTIONS = UserActionsSchema.parse({ create: true, update: true, disable: true, deprovision: true, removeAction: 'delete' });
const GROUPS: ResolvedAdminGroup[] = [
  { group: 'duo-admins', role: 'Administrator', externalId: 'g-admins' },
  { group: 'duo-helpdesk', role: 'Help Desk', externalId: 'g-helpdesk' },
];
const ADMINS = { groups: GROUPS, role: 'Read-only' as const, allowOwnerRole: false };

function admin(over: Partial<AdminView> = {}): AdminView {
  return { admin_id: 'DEADA', email: 'ada@example.org', name: 'Ada Lovelace', phone: '+15550000001', role: 'Help Desk', status: 'Active', ...over };
}

function input(over: Partial<PlanAdminInput> = {}): PlanAdminInput {
  return {
    username: 'ada',
    userId: 'DUADA',
    desired: { email: 'ada@example.org', name: 'Ada Lovelace', phone: '+15550000001', role: 'Help Desk' },
    storeDisabled: false,
    recordedId: 'DEADA',
    owned: admin(),
    userActions: ACTIONS,
    ...over,
  };
}

describe('domain/admins', () => {
  describe('which role a store user gets', () => {
    it('the first listed administrator group the user is a member of decides, not the most privileged', () => {
      assert.equal(desiredAdminRole(ADMINS, 'user', ['g-helpdesk', 'g-admins'], GROUPS), 'Administrator');
      const reversed = [...GROUPS].reverse();
      assert.equal(desiredAdminRole({ ...ADMINS, groups: reversed }, 'user', ['g-admins', 'g-helpdesk'], reversed), 'Help Desk');
    });

    it('a group beats the userType role; userType admin without a group gets the rule role; anyone else is no administrator', () => {
      assert.equal(desiredAdminRole(ADMINS, 'admin', ['g-helpdesk'], GROUPS), 'Help Desk');
      assert.equal(desiredAdminRole(ADMINS, 'admin', ['other'], GROUPS), 'Read-only');
      assert.equal(desiredAdminRole(ADMINS, 'user', ['other'], GROUPS), null);
      assert.equal(desiredAdminRole({ groups: GROUPS, allowOwnerRole: false }, 'admin', [], GROUPS), null, 'groups only: userType alone makes no administrator');
      assert.equal(desiredAdminRole(undefined, 'admin', ['g-admins'], GROUPS), null, 'a rule without administrators makes none');
    });
  });

  describe('create', () => {
    const none = { recordedId: undefined, owned: null };
    it('creates with the explicit role, name, email and phone', () => {
      assert.deepEqual(planAdmin(input(none)), [{ op: 'createAdmin', userId: 'DUADA', username: 'ada', email: 'ada@example.org', name: 'Ada Lovelace', phone: '+15550000001', role: 'Help Desk' }]);
    });
    it('never for a disabled store user, nor with create off', () => {
      assert.deepEqual(planAdmin(input({ ...none, storeDisabled: true })), []);
      assert.deepEqual(planAdmin(input({ ...none, userActions: { ...ACTIONS, create: false } })), []);
    });
    it('an administrator with the same email that no marker records is never touched: a conflict, named', () => {
      const [op] = planAdmin(input({ ...none, holder: admin({ admin_id: 'DEHAND', role: 'Owner' }) }));
      assert.equal(op?.op, 'refuseAdmin');
      assert.equal(op?.op === 'refuseAdmin' && op.code, 'AdminConflict');
      assert.match(op?.op === 'refuseAdmin' ? op.reason : '', /DEHAND, Owner\) exists that duo-sync did not create/);
    });
    it('an interrupted create (intent a=pending recorded) takes the administrator with its email over; without the store wanting one, the intent is forgotten', () => {
      const interrupted = { recordedId: 'pending', owned: null, holder: admin({ admin_id: 'DEMADE' }) };
      assert.deepEqual(planAdmin(input(interrupted)).map((o) => o.op), ['createAdmin']);
      assert.deepEqual(planAdmin(input({ ...interrupted, desired: null })), [{ op: 'forgetAdmin', adminId: 'pending', userId: 'DUADA', username: 'ada' }]);
    });
    it('a recorded administrator deleted in Duo is forgotten, then created anew while the store still wants one', () => {
      assert.deepEqual(
        planAdmin(input({ owned: null })).map((o) => o.op),
        ['forgetAdmin', 'createAdmin'],
      );
      assert.deepEqual(planAdmin(input({ owned: null, desired: null })).map((o) => o.op), ['forgetAdmin']);
    });
  });

  describe('update', () => {
    it('unchanged: nothing', () => {
      assert.deepEqual(planAdmin(input()), []);
    });
    it('name, phone and role follow the store; the phone is never cleared', () => {
      const [op] = planAdmin(input({ desired: { email: 'ada@example.org', name: 'Ada King', phone: '+15550000002', role: 'Administrator' } }));
      assert.deepEqual(op, { op: 'modifyAdmin', adminId: 'DEADA', username: 'ada', changes: { name: 'Ada King', phone: '+15550000002', role: 'Administrator' }, from: { role: 'Help Desk', status: 'Active' } });
      assert.deepEqual(planAdmin(input({ desired: { email: 'ada@example.org', name: 'Ada Lovelace', phone: null, role: 'Help Desk' } })), []);
    });
    it('demotion (Administrator → Read-only) and promotion to Owner are plain role changes the summary counts apart', () => {
      const demote = planAdmin(input({ owned: admin({ role: 'Administrator' }), desired: { email: 'ada@example.org', name: 'Ada Lovelace', role: 'Read-only' } }));
      assert.deepEqual(demote.map((o) => o.op === 'modifyAdmin' && o.changes), [{ role: 'Read-only' }]);
      const promote = planAdmin(input({ desired: { email: 'ada@example.org', name: 'Ada Lovelace', role: 'Owner' } }));
      assert.deepEqual(promote.map((o) => o.op === 'modifyAdmin' && o.changes), [{ role: 'Owner' }]);
    });
    it('update off: nothing changes', () => {
      assert.deepEqual(planAdmin(input({ userActions: { ...ACTIONS, update: false }, desired: { email: 'ada@example.org', name: 'X', role: 'Billing' } })), []);
    });
  });

  describe('disable', () => {
    it('a disabled store user disables its administrator; re-enabled with the store user', () => {
      assert.deepEqual(planAdmin(input({ storeDisabled: true })).map((o) => o.op === 'modifyAdmin' && o.changes), [{ status: 'Disabled' }]);
      assert.deepEqual(planAdmin(input({ owned: admin({ status: 'Disabled' }) })).map((o) => o.op === 'modifyAdmin' && o.changes), [{ status: 'Active' }]);
      assert.deepEqual(planAdmin(input({ storeDisabled: true, owned: admin({ status: 'Disabled' }) })), []);
    });
    it('an Owner is refused before anything is sent (Duo refuses to disable Owners), with a clear reason', () => {
      const [op] = planAdmin(input({ storeDisabled: true, owned: admin({ role: 'Owner' }) }));
      assert.equal(op?.op === 'refuseAdmin' && op.code, 'OwnerNotDisabled');
      assert.match(op?.op === 'refuseAdmin' ? op.reason : '', /is an Owner and Duo refuses to disable Owners: change its role/);
    });
    it('disable off: the administrator stays as it is', () => {
      assert.deepEqual(planAdmin(input({ storeDisabled: true, userActions: { ...ACTIONS, disable: false } })), []);
    });
  });

  describe('no longer an administrator, and deprovision', () => {
    it('per removeAction: delete deletes (and forgets), disable and trash disable, none without a removeAction', () => {
      assert.deepEqual(planAdmin(input({ desired: null })), [{ op: 'deleteAdmin', adminId: 'DEADA', userId: 'DUADA', username: 'ada' }]);
      for (const removeAction of ['disable', 'trash'] as const) {
        assert.deepEqual(planAdmin(input({ desired: null, userActions: { ...ACTIONS, removeAction } })).map((o) => o.op === 'modifyAdmin' && o.changes), [{ status: 'Disabled' }], removeAction);
      }
      assert.deepEqual(planAdminRemoval(admin(), 'ada', 'DUADA', undefined, 'gone'), []);
    });
    it('deprovision off: kept', () => {
      assert.deepEqual(planAdmin(input({ desired: null, userActions: { ...ACTIONS, deprovision: false } })), []);
    });
    it('a deprovisioned Owner: delete is sent, disable is refused', () => {
      assert.deepEqual(planAdminRemoval(admin({ role: 'Owner' }), 'ada', null, 'delete', 'gone').map((o) => o.op), ['deleteAdmin']);
      assert.deepEqual(planAdminRemoval(admin({ role: 'Owner' }), 'ada', 'DUADA', 'disable', 'gone').map((o) => o.op === 'refuseAdmin' && o.code), ['OwnerNotDisabled']);
    });
  });

  describe('the ownership record on the user marker', () => {
    it('a= round-trips, survives other updates, and is forgotten without touching the rest', () => {
      const owner = { connectionId: 'acme', ruleId: 'staff', storeId: 'id-1' };
      const notes = withAdminId(withMarker('hello', owner), 'DE123ABC');
      assert.equal(notes, `hello\n${formatMarker({ ...owner, adminId: 'DE123ABC' })}`);
      assert.equal(notes, 'hello\n[duo-sync:c=acme;r=staff;s=id-1;a=DE123ABC]');
      assert.deepEqual(parseUserMarker(notes), { ...owner, adminId: 'DE123ABC' });
      assert.equal(withAdminId(notes, undefined), 'hello\n[duo-sync:c=acme;r=staff;s=id-1]');
      assert.equal(withAdminId('no marker here', 'DE1'), 'no marker here', 'no marker: nothing is recorded');
      assert.throws(() => formatMarker({ ...owner, adminId: 'DE-1;x' }), /letters and digits/);
    });
  });

  describe('configuration', () => {
    const rule = (administrators: unknown, userType = false): ReturnType<typeof RuleSchema.safeParse> =>
      RuleSchema.safeParse({ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, ...(userType ? { attributeMappings: { userType: { from: 'attr:userType' } } } : {}), administrators } as RuleInput);

    it('administrator groups need no userType mapping; Owner in a group needs allowOwnerRole', () => {
      assert.equal(rule({ groups: [{ group: 'duo-helpdesk', role: 'Help Desk' }] }).success, true);
      const owner = rule({ groups: [{ group: 'duo-owners', role: 'Owner' }] });
      assert.equal(owner.success, false);
      assert.match(JSON.stringify(owner.error?.issues), /allowOwnerRole/);
      assert.equal(rule({ groups: [{ group: 'duo-owners', role: 'Owner' }], allowOwnerRole: true }).success, true);
    });
    it('rejects no role at all, a role without userType, a group listed twice, and roles Duo does not have', () => {
      assert.match(JSON.stringify(rule({}).error?.issues), /names no role/);
      assert.match(JSON.stringify(rule({ role: 'Help Desk' }).error?.issues), /without a userType mapping/);
      assert.match(JSON.stringify(rule({ groups: [{ group: 'A', role: 'Billing' }, { group: 'a', role: 'Help Desk' }] }).error?.issues), /listed twice/);
      assert.equal(rule({ groups: [{ group: 'A', role: 'Superuser' }] }).success, false);
      assert.equal(rule({ role: 'Help Desk', groups: [{ group: 'A', role: 'Billing' }] }, true).success, true);
    });
  });
});
