import assert from 'node:assert/strict';
import type { UserActions } from '../../src/domain/connection';
import {
  defaultOwnerAttribute,
  formatInboundMarker,
  InboundOpSchema,
  isInboundOwned,
  isOutboundOwned,
  mapDuoUser,
  ownerAttributeOf,
  parseInboundOwner,
  planInbound,
  type DesiredStoreUser,
  type InboundOp,
} from '../../src/domain/inbound';
import type { StoreUser } from '../../src/domain/mapping';
import { withMarker } from '../../src/domain/ownership';
import { planOutcome, type DuoUserView } from '../../src/domain/plan';
import { actions, baseConfig, parseConfig, storeUser } from './fixtures';
import { validateConnectionConfig } from '../../src/domain/connection';

const OWNER = { connectionId: 'acme', ruleId: 'duo-users' };
const ATTR = 'duoSyncOwner';
const MARKER = formatInboundMarker(OWNER);

function duoUser(overrides: Partial<DuoUserView> = {}): DuoUserView {
  return {
    user_id: 'DU1',
    username: 'grace',
    email: 'grace@example.com',
    realname: 'Grace Hopper',
    firstname: 'Grace',
    lastname: 'Hopper',
    status: 'active',
    notes: null,
    phones: [{ phone_id: 'DP1', number: '+15551230001' }],
    ...overrides,
  };
}

/** The store user inbound sync would have created for `duoUser()`. */
function ownedStoreUser(overrides: Partial<StoreUser> = {}): StoreUser {
  return storeUser({
    username: 'grace',
    email: 'grace@example.com',
    displayName: 'Grace Hopper',
    givenName: 'Grace',
    familyName: 'Hopper',
    phones: ['+15551230001'],
    groupIds: [],
    attributes: { [ATTR]: MARKER },
    ...overrides,
  });
}

function plan(desired: DesiredStoreUser | null, current: StoreUser | null, a: Partial<UserActions> = {}): InboundOp[] {
  const ops = planInbound({ desired, current, owner: OWNER, ownerAttribute: ATTR, userActions: actions(a) });
  for (const op of ops) assert.ok(InboundOpSchema.safeParse(op).success, `op must match InboundOpSchema: ${JSON.stringify(op)}`);
  return ops;
}

describe('domain/inbound', () => {
  describe('mapDuoUser (defaults)', () => {
    it('maps username, email, realname→displayName, first/last name, phones and status', () => {
      const d = mapDuoUser(duoUser({ phones: [{ phone_id: 'a', number: '+15551230002' }, { phone_id: 'b', number: '+15551230001' }, { phone_id: 't', number: null }] }));
      assert.deepEqual(d, {
        username: 'grace',
        email: 'grace@example.com',
        displayName: 'Grace Hopper',
        givenName: 'Grace',
        familyName: 'Hopper',
        phones: ['+15551230001', '+15551230002'],
        enabled: true,
      });
    });

    it('empty Duo fields become null (clear); disabled → enabled false; bypass/locked out leave enabled unmanaged', () => {
      const d = mapDuoUser(duoUser({ email: '', realname: '  ', firstname: null, phones: [], status: 'disabled' }));
      assert.equal(d.email, null);
      assert.equal(d.displayName, null);
      assert.equal(d.givenName, null);
      assert.deepEqual(d.phones, []);
      assert.equal(d.enabled, false);
      assert.equal('enabled' in mapDuoUser(duoUser({ status: 'bypass' })), false);
      assert.equal('enabled' in mapDuoUser(duoUser({ status: 'locked out' })), false);
    });
  });

  describe('ownership', () => {
    it('reads the marker from the owner attribute, case-insensitively by name and in multi-valued attributes', () => {
      assert.deepEqual(parseInboundOwner(storeUser({ attributes: { [ATTR]: MARKER } }), ATTR), OWNER);
      assert.deepEqual(parseInboundOwner(storeUser({ attributes: { Description: ['hello', MARKER] } }), 'description'), OWNER);
      assert.equal(parseInboundOwner(storeUser({ attributes: { [ATTR]: `note ${MARKER}` } }), ATTR), null, 'a marker inside other text does not count');
      assert.equal(parseInboundOwner(storeUser({ attributes: { [ATTR]: withMarker('', { connectionId: 'acme', ruleId: 'duo-users' }) } }), ATTR), null, 'the outbound marker is not the inbound one');
      assert.equal(isInboundOwned(storeUser({ attributes: { [ATTR]: MARKER } }), ATTR, 'other'), false);
      assert.equal(isInboundOwned(storeUser({ attributes: { [ATTR]: MARKER } }), ATTR, 'acme', 'duo-users'), true);
    });

    it('recognises Duo users that this connection provisioned outbound (loop prevention)', () => {
      assert.equal(isOutboundOwned({ notes: withMarker('hi', { connectionId: 'acme', ruleId: 'staff' }) }, 'acme'), true);
      assert.equal(isOutboundOwned({ notes: withMarker('hi', { connectionId: 'other', ruleId: 'staff' }) }, 'acme'), false);
      assert.equal(isOutboundOwned({ notes: null }, 'acme'), false);
    });

    it('owner attribute defaults per store kind; SCIM must name one', () => {
      assert.equal(defaultOwnerAttribute('file'), 'duoSyncOwner');
      assert.equal(defaultOwnerAttribute('ldap'), 'description');
      const rule = { id: 'duo-users', direction: 'inbound' as const, scope: { kind: 'all' as const }, attributeMappings: {} };
      const scim = ownerAttributeOf(rule, 'scim');
      assert.equal(scim.ok, false);
      assert.match(scim.ok ? '' : scim.message, /set the rule's ownerAttribute/);
      assert.deepEqual(ownerAttributeOf({ ...rule, ownerAttribute: 'title' }, 'scim'), { ok: true, attribute: 'title' });
    });
  });

  describe('planInbound', () => {
    it('creates a missing user with the ownership marker, only when create is on and the user is not disabled', () => {
      const ops = plan(mapDuoUser(duoUser()), null);
      assert.deepEqual(ops, [
        {
          op: 'create',
          username: 'grace',
          user: { username: 'grace', email: 'grace@example.com', displayName: 'Grace Hopper', givenName: 'Grace', familyName: 'Hopper', phones: ['+15551230001'], attributes: { [ATTR]: MARKER } },
        },
      ]);
      assert.equal(planOutcome(ops), 'created');
      assert.deepEqual(plan(mapDuoUser(duoUser()), null, { create: false }).map((o) => o.op), ['skip']);
      assert.deepEqual(plan(mapDuoUser(duoUser({ status: 'disabled' })), null).map((o) => o.op), ['skip']);
    });

    it('an unchanged owned user plans nothing', () => {
      const ops = plan(mapDuoUser(duoUser()), ownedStoreUser());
      assert.deepEqual(ops, []);
      assert.equal(planOutcome(ops), 'unchanged');
    });

    it('updates changed fields and clears emptied ones (null), phones as a set', () => {
      const ops = plan(mapDuoUser(duoUser({ email: 'GRACE@example.com', lastname: '', realname: 'G. Hopper', phones: [] })), ownedStoreUser());
      assert.deepEqual(ops, [{ op: 'update', username: 'grace', patch: { displayName: 'G. Hopper', familyName: null, phones: null } }]);
      assert.equal(planOutcome(ops), 'updated');
      assert.deepEqual(plan(mapDuoUser(duoUser({ lastname: '' })), ownedStoreUser(), { update: false }), []);
    });

    it('disables with update+disable, re-enables a Duo-activated user, leaves status alone without disable', () => {
      const disabled = plan(mapDuoUser(duoUser({ status: 'disabled', realname: 'Grace B. Hopper' })), ownedStoreUser());
      assert.deepEqual(disabled.map((o) => o.op), ['update', 'disable']);
      assert.equal(planOutcome(disabled), 'disabled');
      assert.deepEqual(plan(mapDuoUser(duoUser({ status: 'disabled' })), ownedStoreUser(), { disable: false, removeAction: 'delete' }), []);
      assert.deepEqual(plan(mapDuoUser(duoUser()), ownedStoreUser({ enabled: false })), [{ op: 'update', username: 'grace', patch: { enabled: true } }]);
      assert.deepEqual(plan(mapDuoUser(duoUser({ status: 'bypass' })), ownedStoreUser({ enabled: false })), [], 'bypass says nothing about the account');
    });

    it('never changes or removes store users it did not create (no adoption by username)', () => {
      const notOwned = ownedStoreUser({ attributes: {}, email: 'hr@example.com' });
      assert.deepEqual(plan(mapDuoUser(duoUser()), notOwned).map((o) => o.op), ['skip']);
      assert.deepEqual(plan(null, notOwned), []);
      const otherRule = ownedStoreUser({ attributes: { [ATTR]: formatInboundMarker({ connectionId: 'acme', ruleId: 'other' }) } });
      assert.match((plan(mapDuoUser(duoUser()), otherRule)[0] as { reason: string }).reason, /rule other/);
      assert.deepEqual(plan(null, otherRule), []);
    });

    it('deprovisions an owned user gone from Duo per removeAction, and not at all when deprovision is off', () => {
      assert.deepEqual(plan(null, ownedStoreUser()), [{ op: 'delete', username: 'grace' }]);
      assert.deepEqual(plan(null, ownedStoreUser(), { removeAction: 'disable' }), [{ op: 'disable', username: 'grace' }]);
      assert.deepEqual(plan(null, ownedStoreUser({ enabled: false }), { removeAction: 'disable' }), [], 'already disabled');
      assert.deepEqual(plan(null, ownedStoreUser(), { deprovision: false }).map((o) => o.op), ['skip']);
      assert.equal(planOutcome([{ op: 'delete', username: 'grace' }]), 'deleted');
    });
  });

  describe('config checks', () => {
    const inbound = { id: 'duo-users', direction: 'inbound' as const, scope: { kind: 'all' as const } };

    it('accepts one inbound rule with scope all beside outbound rules', () => {
      const config = parseConfig({ rules: [inbound, { id: 'staff', direction: 'outbound', scope: { kind: 'all' } }] });
      assert.equal(config.rules.length, 2);
    });

    it('rejects a second inbound rule, a scope, mappings and groups on an inbound rule, with the path', () => {
      const result = validateConnectionConfig(
        baseConfig({
          rules: [
            { ...inbound, scope: { kind: 'groups', groups: ['staff'] }, attributeMappings: { email: { from: 'email' } }, groups: { include: ['staff'] } },
            { ...inbound, id: 'second' },
          ],
        }),
      );
      assert.equal(result.ok, false);
      const errors = result.ok ? [] : result.errors;
      assert.ok(errors.some((e) => /^rules\[0\]\.scope: .*"kind":"all"/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /^rules\[0\]\.attributeMappings: .*outbound rules only/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /^rules\[0\]\.groups: groups are not synced inbound/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /^rules\[1\]\.direction: only one inbound rule/.test(e)), errors.join('\n'));
    });
  });
});
