import assert from 'node:assert/strict';
import type { UserActions } from '../../src/domain/connection';
import { RuleSchema } from '../../src/domain/connection';
import { AttributeMappingsSchema, mapStoreUser, type DesiredDuoUser } from '../../src/domain/mapping';
import { parseUserMarker, phoneMarker, stripMarker, withMarker } from '../../src/domain/ownership';
import {
  applyPlanToView,
  isWriteOp,
  planDeprovision,
  PlanOpSchema,
  planAdoption,
  planOutcome,
  planRename,
  planUser,
  SKIP_NOT_OWNED,
  storeIdConflict,
  type DuoUserView,
  type PlanOp,
  type PlanUserInput,
} from '../../src/domain/plan';
import { actions, desired, OUR_PHONE, OWNER, owned, storeUser } from './fixtures';

function plan(d: DesiredDuoUser | null, c: DuoUserView | null, a: Partial<UserActions> = {}, extra: Partial<PlanUserInput> = {}): PlanOp[] {
  const ops = planUser({ desired: d, current: c, owner: OWNER, userActions: actions(a), ...extra });
  for (const op of ops) assert.ok(PlanOpSchema.safeParse(op).success, `op must match PlanOpSchema: ${JSON.stringify(op)}`);
  return ops;
}

function kinds(ops: readonly PlanOp[]): string[] {
  return ops.map((o) => o.op);
}

describe('domain/plan', () => {
  it('nothing to do when neither side has the user', () => {
    assert.deepEqual(plan(null, null), []);
  });

  it('an unchanged owned user plans zero operations', () => {
    assert.deepEqual(plan(desired(), owned()), []);
    assert.equal(planOutcome([]), 'unchanged');
  });

  describe('create', () => {
    it('creates with all non-empty fields, the marker in notes, then attaches the phone', () => {
      const ops = plan(desired({ lastname: null }), null);
      assert.deepEqual(ops, [
        {
          op: 'create',
          username: 'ada',
          fields: { username: 'ada', status: 'active', notes: '[duo-sync:c=acme;r=staff]', email: 'ada@example.com', realname: 'Ada Lovelace', firstname: 'Ada' },
        },
        { op: 'attachPhone', userId: null, username: 'ada', number: '+442079460958', type: 'mobile' },
      ]);
      assert.equal(planOutcome(ops), 'created');
    });

    it('puts mapped human notes before the marker', () => {
      const [create] = plan(desired({ notes: 'Badge 42' }), null);
      assert.equal(create?.op === 'create' && create.fields.notes, 'Badge 42\n[duo-sync:c=acme;r=staff]');
    });

    it('create off → skip with a reason, no writes', () => {
      const ops = plan(desired(), null, { create: false });
      assert.deepEqual(ops, [{ op: 'skip', username: 'ada', reason: 'not in Duo and userActions.create is off' }]);
      assert.equal(planOutcome(ops), 'skipped');
      assert.equal(ops.some(isWriteOp), false);
    });

    it('never creates a user that is disabled in the store', () => {
      assert.deepEqual(kinds(plan(desired({ status: 'disabled' }), null)), ['skip']);
    });

    it('records the store id in the marker of the user it creates', () => {
      const [create] = plan(desired(), null, {}, { storeId: 'uid=ada,ou=people' });
      assert.equal(create?.op === 'create' && create.fields.notes, '[duo-sync:c=acme;r=staff;s=uid%3Dada%2Cou%3Dpeople]');
    });
  });

  describe('ownership', () => {
    it('an existing user without our marker is skipped, never adopted', () => {
      const ops = plan(desired({ email: 'new@example.com' }), owned({ notes: 'Created by hand' }));
      assert.deepEqual(ops, [{ op: 'skip', username: 'ada', reason: SKIP_NOT_OWNED }]);
    });

    it("another connection's user is skipped", () => {
      assert.deepEqual(plan(desired(), owned({}, { connectionId: 'globex', ruleId: 'staff' })), [{ op: 'skip', username: 'ada', reason: SKIP_NOT_OWNED }]);
    });

    it("another rule's user is left to that rule", () => {
      const ops = plan(desired({ email: 'x@example.com' }), owned({}, { connectionId: 'acme', ruleId: 'contractors' }));
      assert.deepEqual(kinds(ops), ['skip']);
      assert.match(ops[0]?.op === 'skip' ? ops[0].reason : '', /owned by rule contractors/);
    });

    it('a user not ours and not in scope is not mentioned at all', () => {
      assert.deepEqual(plan(null, owned({ notes: 'manual' })), []);
      assert.deepEqual(plan(null, owned({}, { connectionId: 'acme', ruleId: 'contractors' })), []);
    });

    it('a fake marker typed mid-notes does not make a user ours', () => {
      assert.deepEqual(kinds(plan(desired(), owned({ notes: '[duo-sync:c=acme;r=staff]\nmanual account' }))), ['skip']);
    });

    it('users pending deletion are left alone', () => {
      assert.deepEqual(kinds(plan(desired({ email: 'x@example.com' }), owned({ status: 'pending deletion' }))), ['skip']);
      assert.deepEqual(plan(null, owned({ status: 'pending deletion' })), []);
    });

    it('refuses mismatched users (lookups are by username, case-insensitively)', () => {
      assert.deepEqual(plan(desired({ username: 'ADA' }), owned()), []);
      assert.throws(() => plan(desired({ username: 'grace' }), owned()), /look Duo users up by username/);
    });
  });

  describe('update', () => {
    it('updates only the changed fields', () => {
      const ops = plan(desired({ email: 'ada@new.example', realname: 'Ada King' }), owned());
      assert.deepEqual(ops, [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { email: 'ada@new.example', realname: 'Ada King' } }]);
      assert.equal(planOutcome(ops), 'updated');
    });

    it('clears fields emptied in the store', () => {
      const ops = plan(desired({ email: null, firstname: null }), owned());
      assert.deepEqual(ops, [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { email: '', firstname: '' } }]);
    });

    it('treats null and "" as the same empty value (Duo returns "")', () => {
      assert.deepEqual(plan(desired({ lastname: null }), owned({ lastname: '' })), []);
    });

    it('ignores case-only email differences', () => {
      assert.deepEqual(plan(desired(), owned({ email: 'ADA@Example.com' })), []);
    });

    it('update off → no writes at all, even when fields differ', () => {
      assert.deepEqual(plan(desired({ email: 'x@example.com', status: 'disabled', phone: { number: '+15550100000', type: 'mobile' } }), owned(), { update: false, disable: false }), []);
    });

    it('keeps human notes when notes are unmapped, and repairs a damaged marker position', () => {
      assert.deepEqual(plan(desired(), owned({ notes: withMarker('kept by admin', OWNER) })), []);
      const ops = plan(desired(), owned({ notes: `${withMarker('kept', OWNER)}\n\n` }));
      assert.deepEqual(ops.map((o) => (o.op === 'update' ? o.changes : o)), [{ notes: withMarker('kept', OWNER) }]);
    });

    it('mapped notes replace the human part; a mapped empty value clears it', () => {
      const current = owned({ notes: withMarker('old', OWNER) });
      assert.deepEqual(plan(desired({ notes: 'new' }), current).map((o) => (o.op === 'update' ? o.changes : o)), [{ notes: 'new\n[duo-sync:c=acme;r=staff]' }]);
      assert.deepEqual(plan(desired({ notes: null }), current).map((o) => (o.op === 'update' ? o.changes : o)), [{ notes: '[duo-sync:c=acme;r=staff]' }]);
    });
  });

  describe('status', () => {
    it('disables a source-disabled user when update and disable are on', () => {
      const ops = plan(desired({ status: 'disabled' }), owned());
      assert.deepEqual(ops, [{ op: 'disable', userId: 'DU0000000000000000A1', username: 'ada' }]);
      assert.equal(planOutcome(ops), 'disabled');
    });

    it('disable off → the status is not managed either way', () => {
      assert.deepEqual(plan(desired({ status: 'disabled' }), owned(), { disable: false, removeAction: 'delete' }), []);
      assert.deepEqual(plan(desired(), owned({ status: 'disabled' }), { disable: false, removeAction: 'delete' }), []);
    });

    it('re-activates a Duo-disabled user that is enabled in the store', () => {
      assert.deepEqual(plan(desired(), owned({ status: 'disabled' })), [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { status: 'active' } }]);
    });

    it('leaves bypass and locked out alone for enabled users, but disables them when the source is disabled', () => {
      for (const status of ['bypass', 'locked out'] as const) {
        assert.deepEqual(plan(desired(), owned({ status })), [], status);
        assert.deepEqual(kinds(plan(desired({ status: 'disabled' }), owned({ status }))), ['disable'], status);
      }
    });

    it('an already disabled user stays unchanged', () => {
      assert.deepEqual(plan(desired({ status: 'disabled' }), owned({ status: 'disabled' })), []);
    });
  });

  describe('phones', () => {
    const oldPhone = { phone_id: 'DPOLD', number: '+15550100000', name: OUR_PHONE };
    const enrolled = { phone_id: 'DPOWN', number: '+15550199999', name: 'Ada’s phone' };

    it('a changed phone: attach the new one first, then detach and clean up the old one', () => {
      const ops = plan(desired(), owned({ phones: [oldPhone] }));
      assert.deepEqual(ops, [
        { op: 'attachPhone', userId: 'DU0000000000000000A1', username: 'ada', number: '+442079460958', type: 'mobile' },
        { op: 'detachPhone', userId: 'DU0000000000000000A1', username: 'ada', phoneId: 'DPOLD', number: '+15550100000' },
        { op: 'deletePhoneIfUnused', username: 'ada', phoneId: 'DPOLD', number: '+15550100000' },
      ]);
      assert.equal(planOutcome(ops), 'updated');
    });

    it('without cleanup the old phone is only detached', () => {
      assert.deepEqual(kinds(plan(desired(), owned({ phones: [oldPhone] }), { cleanupUnusedPhones: false })), ['attachPhone', 'detachPhone']);
    });

    it('a cleared phone detaches numbered phones and keeps number-less ones (tablets)', () => {
      const ops = plan(desired({ phone: null }), owned({ phones: [oldPhone, { phone_id: 'DPTAB', number: '' }, { phone_id: 'DPNULL', number: null }] }));
      assert.deepEqual(kinds(ops), ['detachPhone', 'deletePhoneIfUnused']);
      assert.ok(ops.every((o) => !('phoneId' in o) || o.phoneId === 'DPOLD'));
    });

    it('compares numbers after normalising what Duo holds', () => {
      assert.deepEqual(plan(desired(), owned({ phones: [{ phone_id: 'DP1', number: '+44 20 7946 0958' }] })), []);
    });

    it('creates the phone with its extension and type', () => {
      const phone = { number: '+442079301110', extension: '204', type: 'landline' as const };
      assert.deepEqual(plan(desired({ phone }), null).at(-1), { op: 'attachPhone', userId: null, username: 'ada', number: '+442079301110', extension: '204', type: 'landline' });
    });

    it('a phone is the number and the extension: same number, other extension is another phone', () => {
      const desk = { phone_id: 'DPDESK', number: '+442079301110', extension: '204', name: OUR_PHONE };
      assert.deepEqual(plan(desired({ phone: { number: '+442079301110', extension: '204', type: 'landline' } }), owned({ phones: [desk] })), []);
      const ops = plan(desired({ phone: { number: '+442079301110', extension: '12', type: 'landline' } }), owned({ phones: [desk] }));
      assert.deepEqual(kinds(ops), ['attachPhone', 'detachPhone', 'deletePhoneIfUnused']);
      assert.deepEqual(ops[0], { op: 'attachPhone', userId: 'DU0000000000000000A1', username: 'ada', number: '+442079301110', extension: '12', type: 'landline' });
    });

    it('an unreadable store phone (absent) leaves the Duo phones as they are', () => {
      const { phone: _unread, ...withoutPhone } = desired();
      assert.deepEqual(plan(withoutPhone, owned({ phones: [oldPhone] })), []);
      assert.deepEqual(kinds(plan(withoutPhone, null)), ['create'], 'a new user is created without a phone');
    });

    it('maps and plans a desk number and a mobile end to end: the mobile is attached as a mobile', () => {
      const mapped = mapStoreUser(storeUser({ phones: ['020 7930 1110 x204', '07700 900123'], attributes: { telephoneNumber: '020 7930 1110 x204', mobile: '07700 900123' } }), undefined, { phoneRegion: 'GB' });
      assert.ok(mapped.ok);
      assert.deepEqual(plan(mapped.user, null).at(-1), { op: 'attachPhone', userId: null, username: 'ada', number: '+447700900123', type: 'mobile' });
    });

    it('no attach when the phone is already there, only stale extras go', () => {
      assert.deepEqual(kinds(plan(desired(), owned({ phones: [{ phone_id: 'DP1', number: '+442079460958' }, oldPhone] }))), ['detachPhone', 'deletePhoneIfUnused']);
    });

    it('a phone the person enrolled (not named for this connection) is never detached or deleted', () => {
      const withEnrolled = (phones: DuoUserView['phones']) => owned({ phones: [...phones, enrolled] });
      assert.deepEqual(plan(desired(), withEnrolled(owned().phones)), [], 'unchanged store phone');
      const changed = plan(desired({ phone: { number: '+15550111111', type: 'mobile' } }), withEnrolled(owned().phones));
      assert.deepEqual(kinds(changed), ['attachPhone', 'detachPhone', 'deletePhoneIfUnused']);
      assert.ok(changed.every((o) => !('phoneId' in o) || o.phoneId === 'DP0000000000000000P1'), JSON.stringify(changed));
      assert.deepEqual(plan(desired({ phone: null }), withEnrolled([])), [], 'a cleared store phone leaves hers');
      assert.deepEqual(kinds(plan(null, withEnrolled(owned().phones))), ['delete', 'deletePhoneIfUnused']);
      assert.ok(plan(null, withEnrolled(owned().phones)).every((o) => !('phoneId' in o) || o.phoneId !== 'DPOWN'));
    });

    it('a phone another connection created, or one without a name, is not ours', () => {
      const theirs = { phone_id: 'DPTHEIRS', number: '+15550122222', name: phoneMarker('globex') };
      const unnamed = { phone_id: 'DPANON', number: '+15550133333' };
      assert.deepEqual(plan(desired(), owned({ phones: [...owned().phones, theirs, unnamed] })), []);
    });

    it('the person’s own phone with the store number already serves: nothing attached', () => {
      assert.deepEqual(plan(desired(), owned({ phones: [{ ...enrolled, number: '+442079460958' }] })), []);
    });
  });

  describe('store id in the marker', () => {
    const STORE_ID = 'entry-uuid-1';

    it('an owned user with an old marker gets the store id once, then plans nothing', () => {
      const ops = plan(desired(), owned(), {}, { storeId: STORE_ID });
      assert.deepEqual(ops, [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { notes: '[duo-sync:c=acme;r=staff;s=entry-uuid-1]' } }]);
      assert.deepEqual(plan(desired(), applyPlanToView(owned(), ops), {}, { storeId: STORE_ID }), []);
    });

    it('a plan without a store id keeps the one recorded', () => {
      assert.deepEqual(plan(desired(), owned({ notes: withMarker('', { ...OWNER, storeId: STORE_ID }) })), []);
    });

    it('storeIdConflict names the other store user when the marker records another id', () => {
      const current = owned({ notes: withMarker('', { ...OWNER, storeId: 'someone-else' }) });
      assert.equal(storeIdConflict(current, OWNER, STORE_ID), 'someone-else');
      assert.equal(storeIdConflict(current, OWNER, 'someone-else'), null);
      assert.equal(storeIdConflict(owned(), OWNER, STORE_ID), null, 'an old marker conflicts with nobody');
      assert.equal(storeIdConflict(current, { ...OWNER, ruleId: 'other' }, STORE_ID), null, 'another rule’s user is the plan’s skip, not a conflict');
    });
  });

  describe('admins', () => {
    it('a user plan plans no administrator: src/domain/admins.ts does, and keeps the recorded a= on updates', () => {
      assert.deepEqual(kinds(plan(desired({ userType: 'admin' }), null)), ['create', 'attachPhone']);
      assert.deepEqual(plan(desired({ userType: 'user' }), owned({ isAdmin: true })), []);
      const withAdmin = owned({ notes: '[duo-sync:c=acme;r=staff;a=DEADMIN1]' });
      const [update] = plan(desired({ notes: 'hello' }), withAdmin, {}, { storeId: 'id-ada' });
      assert.equal(update?.op === 'update' && update.changes.notes, 'hello\n[duo-sync:c=acme;r=staff;s=id-ada;a=DEADMIN1]');
    });

    it('an invalid userType never reaches the plan: mapping fails that user', () => {
      const mapped = mapStoreUser(storeUser({ attributes: { userType: 'root' } }), AttributeMappingsSchema.parse({ userType: { from: 'attr:userType' } }));
      assert.equal(mapped.ok, false);
    });
  });

  describe('deprovision (user gone or out of scope)', () => {
    it('removeAction delete: delete, then remove the phones Duo keeps', () => {
      const ops = plan(null, owned());
      assert.deepEqual(ops, [
        { op: 'delete', userId: 'DU0000000000000000A1', username: 'ada' },
        { op: 'deletePhoneIfUnused', username: 'ada', phoneId: 'DP0000000000000000P1', number: '+442079460958' },
      ]);
      assert.equal(planOutcome(ops), 'deleted');
    });

    it('removeAction delete without phone cleanup deletes only the user', () => {
      assert.deepEqual(kinds(plan(null, owned(), { cleanupUnusedPhones: false })), ['delete']);
    });

    it('removeAction disable: disable, and nothing once disabled', () => {
      assert.deepEqual(kinds(plan(null, owned(), { removeAction: 'disable' })), ['disable']);
      assert.deepEqual(plan(null, owned({ status: 'disabled' }), { removeAction: 'disable' }), []);
    });

    it('deprovision off → skip with a reason, no writes', () => {
      const ops = plan(null, owned(), { deprovision: false });
      assert.deepEqual(kinds(ops), ['skip']);
      assert.match(ops[0]?.op === 'skip' ? ops[0].reason : '', /deprovision is off/);
    });

    it('rule deletion deprovisions only with deprovisionOnRuleDeletion, otherwise releases ownership', () => {
      const current = owned({ notes: withMarker('human', OWNER) });
      const base = { current, owner: OWNER };
      assert.deepEqual(kinds(planDeprovision({ ...base, userActions: actions({ deprovision: false, deprovisionOnRuleDeletion: true }), trigger: 'ruleDeleted' })), ['delete', 'deletePhoneIfUnused']);
      const release = planDeprovision({ ...base, userActions: actions({ deprovisionOnRuleDeletion: false }), trigger: 'ruleDeleted' });
      assert.deepEqual(release, [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { notes: 'human' } }]);
      assert.equal(stripMarker(release[0]?.op === 'update' ? release[0].changes.notes : 'x'), 'human');
    });

    it('never deprovisions a user owned by someone else, whatever the caller thinks', () => {
      const userActions = actions({ deprovisionOnRuleDeletion: true });
      assert.deepEqual(planDeprovision({ current: owned({ notes: 'manual' }), owner: OWNER, userActions, trigger: 'ruleDeleted' }), []);
      assert.deepEqual(planDeprovision({ current: owned({}, { connectionId: 'acme', ruleId: 'other' }), owner: OWNER, userActions, trigger: 'gone' }), []);
    });
  });

  describe('convergence: planning again after applying changes writes nothing', () => {
    // Small deterministic PRNG so failures reproduce.
    function rng(seed: number): () => number {
      let s = seed >>> 0;
      return () => {
        s = (s + 0x6d2b79f5) >>> 0;
        let t = s;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }
    const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

    it('holds for 2000 random desired/current/actions combinations', () => {
      const r = rng(20240611);
      const texts = [null, '', 'Ada', 'ADA', 'Lovelace', ' Ada '];
      const phones = [
        null,
        undefined,
        { number: '+442079460958', type: 'mobile' as const },
        { number: '+442079460958', extension: '204', type: 'landline' as const },
        { number: '+15550100000', type: 'mobile' as const },
      ];
      const owners = [OWNER, { connectionId: 'acme', ruleId: 'other' }, { connectionId: 'globex', ruleId: 'staff' }];
      for (let i = 0; i < 2000; i++) {
        const removeAction = pick(r, ['delete', 'disable'] as const);
        const update = r() < 0.8;
        const disable = update && (removeAction === 'disable' || r() < 0.6);
        const userActions = actions({ create: r() < 0.8, update, disable, deprovision: r() < 0.7, removeAction, cleanupUnusedPhones: r() < 0.5 });
        const d: DesiredDuoUser | null =
          r() < 0.2
            ? null
            : {
                username: pick(r, ['ada', 'Ada']),
                email: pick(r, [null, 'ada@example.com', 'ADA@example.com']),
                realname: pick(r, texts),
                firstname: pick(r, texts),
                lastname: pick(r, texts),
                status: pick(r, ['active', 'disabled'] as const),
                ...((phone) => (phone === undefined ? {} : { phone }))(pick(r, phones)),
                userType: pick(r, ['user', 'admin'] as const),
                ...(r() < 0.5 ? { notes: pick(r, [null, 'mapped note', 'x'.repeat(2000)]) } : {}),
              };
        const c: DuoUserView | null =
          r() < 0.25
            ? null
            : {
                user_id: 'DU1',
                username: 'ada',
                email: pick(r, [null, '', 'ada@example.com']),
                realname: pick(r, texts),
                firstname: pick(r, texts),
                lastname: pick(r, texts),
                status: pick(r, ['active', 'disabled', 'bypass', 'locked out', 'pending deletion'] as const),
                notes: r() < 0.15 ? pick(r, [null, '', 'manual']) : withMarker(pick(r, ['', 'human']), pick(r, owners)),
                phones: pick(r, [
                  [],
                  [{ phone_id: 'DP1', number: '+1 555 010 0000', name: OUR_PHONE }],
                  [{ phone_id: 'DP2', number: '+442079460958' }, { phone_id: 'DP3', number: '' }],
                  [{ phone_id: 'DP4', number: '442079460958', extension: '204', name: OUR_PHONE }],
                  [{ phone_id: 'DP5', number: '+15550100000', name: 'own' }],
                ]),
                ...(r() < 0.5 ? { isAdmin: r() < 0.5 } : {}),
              };
        const extra = { ...(r() < 0.5 ? { storeId: 'store-1' } : {}) };
        const first = planUser({ desired: d, current: c, owner: OWNER, userActions, ...extra });
        const after = applyPlanToView(c, first);
        const second = planUser({ desired: d, current: after, owner: OWNER, userActions, ...extra });
        assert.deepEqual(second.filter(isWriteOp), [], `case ${i}: ${JSON.stringify({ d, c, userActions, first, second })}`);
      }
    });
  });

  describe('rename (same store id, new username)', () => {
    const ours = (): DuoUserView => owned({ notes: withMarker('', { ...OWNER, storeId: 'id-ada' }) });

    it('renames this rule’s user recording the store id in place: one update of username only', () => {
      const ops = planRename(ours(), 'ada.lovelace', OWNER, 'id-ada');
      assert.deepEqual(ops, [{ op: 'update', userId: 'DU0000000000000000A1', username: 'ada', changes: { username: 'ada.lovelace' } }]);
      assert.ok(PlanOpSchema.safeParse(ops[0]).success);
      assert.equal(applyPlanToView(ours(), ops)?.username, 'ada.lovelace');
    });

    it('plans nothing for another store id, an old marker, another rule, a user in the Trash or the same name', () => {
      assert.deepEqual(planRename(ours(), 'x', OWNER, 'id-other'), []);
      assert.deepEqual(planRename(owned({ notes: withMarker('', OWNER) }), 'x', OWNER, 'id-ada'), []);
      assert.deepEqual(planRename(ours(), 'x', { ...OWNER, ruleId: 'admins' }, 'id-ada'), []);
      assert.deepEqual(planRename({ ...ours(), status: 'pending deletion' }, 'x', OWNER, 'id-ada'), []);
      assert.deepEqual(planRename(ours(), 'ada', OWNER, 'id-ada'), []);
    });
  });

  describe('adoption of an existing Duo user no marker claims', () => {
    // A same-name user made by hand: its own notes, phones and a field the store leaves empty.
    const byHand = (overrides: Partial<DuoUserView> = {}): DuoUserView =>
      owned({ notes: 'VIP, call first', realname: 'Ada L.', firstname: 'Ada', phones: [{ phone_id: 'DPHAND', number: '+15550001111', name: null }], ...overrides });
    const input = (current: DuoUserView, extra: Partial<Parameters<typeof planAdoption>[0]> = {}) =>
      planAdoption({ desired: desired({ lastname: null }), current, owner: OWNER, mode: 'username', storeId: 'id-ada', userActions: actions(), isAdmin: false, ...extra });

    it('adopts by username with one update (marker after the human notes, the mapped fields), then what the mapping plans; people’s phones stay; planning again plans nothing', () => {
      const result = input(byHand({ lastname: 'Byron' }));
      assert.ok(result.adopt, JSON.stringify(result));
      for (const op of result.ops) assert.ok(PlanOpSchema.safeParse(op).success, JSON.stringify(op));
      const [op, ...rest] = result.ops;
      assert.ok(op && op.op === 'update');
      assert.deepEqual(op.changes, { notes: withMarker('VIP, call first', { ...OWNER, storeId: 'id-ada' }), realname: 'Ada Lovelace', lastname: '' }, 'the rule’s mapping applies from now on, a cleared field included');
      assert.deepEqual(kinds(rest), ['attachPhone'], 'the store’s phone is attached beside the person’s own phone, never instead of it');
      const after = applyPlanToView(byHand({ lastname: 'Byron' }), result.ops);
      assert.deepEqual(after?.phones.map((p) => p.phone_id), ['DPHAND', 'planned:+442079460958']);
      assert.deepEqual(plan(desired({ lastname: null }), after, {}, { storeId: 'id-ada' }), [], 'the re-sync after an adoption writes nothing');
    });

    it('a person’s own phone with the store’s number serves: nothing is attached or detached', () => {
      const result = input(byHand({ phones: [{ phone_id: 'DPOWN', number: '+442079460958', name: 'iPhone' }] }));
      assert.ok(result.adopt);
      assert.deepEqual(kinds(result.ops), ['update']);
    });

    it('email mode adopts the user with the store’s email and renames it to the mapped username in the same update', () => {
      const result = input(byHand({ username: 'ada.lovelace', email: 'ADA@example.com' }), { mode: 'email' });
      assert.ok(result.adopt, JSON.stringify(result));
      const [op] = result.ops;
      assert.ok(op && op.op === 'update');
      assert.equal(op.changes.username, 'ada');
      assert.equal(op.username, 'ada.lovelace');
    });

    it('refuses, saying why: another connection’s or rule’s user, the Trash, directory sync, an administrator’s user, unknown admin status, email mismatch, never', () => {
      const reasons = [
        input(byHand({ notes: withMarker('', { connectionId: 'other', ruleId: 'staff' }) })),
        input(byHand({ notes: withMarker('', { ...OWNER, ruleId: 'admins' }) })),
        input(byHand({ status: 'pending deletion' })),
        input(byHand({ directorySynced: true })),
        input(byHand(), { isAdmin: true }),
        input(byHand(), { isAdmin: undefined }),
        input(byHand({ email: 'someone.else@example.com' }), { mode: 'email' }),
        input(byHand(), { mode: 'never' }),
      ].map((r) => (r.adopt ? 'adopted' : r.reason));
      assert.match(reasons[0] ?? '', /connection other/);
      assert.match(reasons[1] ?? '', /rule admins/);
      assert.match(reasons[2] ?? '', /Trash/);
      assert.match(reasons[3] ?? '', /directory sync/);
      assert.match(reasons[4] ?? '', /administrator/);
      assert.match(reasons[5] ?? '', /administrator/);
      assert.match(reasons[6] ?? '', /someone\.else@example\.com/);
      assert.match(reasons[7] ?? '', /does not adopt/);
      assert.ok(input(byHand(), { mode: 'email' }).adopt, 'email mode adopts when the emails match');
    });

    it('an administrator’s linked user is adopted only by a rule that manages administrators, and its administrator with it', () => {
      assert.ok(!input(byHand(), { isAdmin: true, adminId: 'DEADMIN1' }).adopt);
      const adopted = input(byHand(), { isAdmin: true, managesAdministrators: true, adminId: 'DEADMIN1' });
      assert.ok(adopted.adopt);
      const claim = adopted.ops[0];
      assert.ok(claim?.op === 'update' && parseUserMarker(claim.changes.notes)?.adminId === 'DEADMIN1', JSON.stringify(claim));
    });

    it('outbound rules may adopt by username or email; inbound rules may not', () => {
      const rule = { id: 'staff', direction: 'outbound', scope: { kind: 'all' } };
      for (const adopt of ['never', 'username', 'email']) assert.ok(RuleSchema.safeParse({ ...rule, adopt }).success, adopt);
      assert.ok(!RuleSchema.safeParse({ ...rule, adopt: 'always' }).success);
      const inbound = RuleSchema.safeParse({ ...rule, direction: 'inbound', adopt: 'username' });
      assert.ok(!inbound.success);
      assert.match(inbound.error.message, /inbound/);
    });
  });
});
