import assert from 'node:assert/strict';
import { validateRule } from '../../src/domain/connection';
import { groupIdMapOf, planGroups, planMemberships, resolveIncluded, type DuoGroupView, type PlanGroupsInput, type StoreGroupRef } from '../../src/domain/groups';
import { parseGroupMarker, parseMarker, stripGroupMarker, withGroupMarker } from '../../src/domain/ownership';
import { OWNER } from './fixtures';

const STORE: StoreGroupRef[] = [
  { externalId: 'g-eng', name: 'Engineering', description: 'All engineers' },
  { externalId: 'g-ops', name: 'Operations' },
  { externalId: 'g-hr', name: 'HR' },
];

function owned(externalId: string, name: string, id = `DG-${externalId}`, human?: string, ruleId = OWNER.ruleId): DuoGroupView {
  return { group_id: id, name, desc: withGroupMarker(human, { ...OWNER, ruleId, externalId }) };
}

function plan(overrides: Partial<PlanGroupsInput> & { include?: string[] } = {}) {
  const include = overrides.include ?? ['Engineering', 'g-ops'];
  const { included, missing } = resolveIncluded(STORE, include);
  return planGroups({ owner: OWNER, include, included, missing, duoGroups: [], deleteUnlisted: true, ...overrides });
}

describe('domain/groups', () => {
  it('group markers name connection, rule and store id, survive odd ids, and are not user markers', () => {
    const desc = withGroupMarker('Team\n', { ...OWNER, externalId: 'cn=a;b],x' });
    assert.equal(desc, 'Team\n[duo-sync:c=acme;r=staff;g=cn%3Da%3Bb%5D%2Cx]');
    assert.deepEqual(parseGroupMarker(desc), { ...OWNER, externalId: 'cn=a;b],x' });
    assert.equal(stripGroupMarker(desc), 'Team');
    assert.equal(parseMarker(desc), null, 'a group marker never makes a user owned');
    assert.equal(parseGroupMarker('[duo-sync:c=acme;r=staff]'), null);
    assert.equal(parseGroupMarker('text [duo-sync:c=acme;r=staff;g=x] more'), null, 'only a marker on its own last line counts');
  });

  it('resolves include entries by externalId or case-insensitive name and reports the rest', () => {
    const r = resolveIncluded(STORE, ['engineering', 'g-ops', 'nope']);
    assert.deepEqual(r.included.map((g) => g.externalId), ['g-eng', 'g-ops']);
    assert.deepEqual(r.missing, ['nope']);
  });

  it('creates missing groups with the marker (store description kept) and reports unknown include entries', () => {
    const p = plan({ include: ['Engineering', 'g-ops', 'Ghost'] });
    assert.deepEqual(
      p.ops.map((o) => [o.op, o.op === 'create' ? o.name : '', o.op === 'create' ? o.desc : '']),
      [
        ['create', 'Engineering', 'All engineers\n[duo-sync:c=acme;r=staff;g=g-eng]'],
        ['create', 'Operations', '[duo-sync:c=acme;r=staff;g=g-ops]'],
      ],
    );
    assert.equal(p.problems.length, 1);
    assert.equal(p.problems[0]?.code, 'GroupNotFound');
    assert.match(p.problems[0]?.message ?? '', /"Ghost" in rule staff's groups.include matches no group/);
  });

  it('renames by externalId (same group id), leaves an unchanged group alone', () => {
    const p = plan({ duoGroups: [owned('g-eng', 'Eng (old name)', 'DG1', 'All engineers'), owned('g-ops', 'Operations', 'DG2')] });
    assert.deepEqual(p.ops, [{ op: 'update', externalId: 'g-eng', groupId: 'DG1', name: 'Engineering' }]);
    assert.deepEqual(p.ids, { 'g-eng': 'DG1', 'g-ops': 'DG2' });
    assert.equal(p.unchanged, 1);
  });

  it('never adopts a group it does not own: the name clash fails that group with what to do', () => {
    const p = plan({ duoGroups: [{ group_id: 'DGX', name: 'engineering', desc: 'made by hand' }] });
    assert.deepEqual(p.ops.map((o) => o.op), ['create']);
    assert.equal(p.problems[0]?.code, 'GroupNotOwned');
    assert.match(p.problems[0]?.message ?? '', /a Duo group named "engineering" exists and is not owned by duo-sync connection acme .*rename or delete it in Duo/);
    assert.equal(p.ids['g-eng'], undefined);
  });

  it('a name held by another rule of the connection is reported as such', () => {
    const p = plan({ duoGroups: [owned('g-eng', 'Engineering', 'DGO', undefined, 'contractors')] });
    assert.equal(p.problems[0]?.code, 'GroupNameTaken');
    assert.match(p.problems[0]?.message ?? '', /provisioned by rule contractors of this connection/);
  });

  it('deletes only owned groups no longer included, and only when the store read was complete', () => {
    const duoGroups = [owned('g-eng', 'Engineering', 'DG1', 'All engineers'), owned('g-hr', 'HR', 'DG3'), owned('g-x', 'X', 'DG4', undefined, 'other'), { group_id: 'DG5', name: 'Mine', desc: null }];
    const p = plan({ include: ['Engineering'], duoGroups });
    assert.deepEqual(p.ops, [{ op: 'delete', externalId: 'g-hr', groupId: 'DG3', name: 'HR' }]);
    assert.deepEqual(plan({ include: ['Engineering'], duoGroups, deleteUnlisted: false }).ops, []);
  });

  it('a deleted group frees its name for the store group that now has it', () => {
    const p = plan({ include: ['HR'], duoGroups: [owned('g-old', 'HR', 'DG9')] });
    assert.deepEqual(p.ops.map((o) => o.op), ['delete', 'create']);
    assert.deepEqual(p.problems, []);
  });

  it('memberships: adds wanted, removes unwanted in owned groups only, never touches other groups', () => {
    const groupIds = { 'g-eng': 'DG1', 'g-ops': 'DG2' };
    const current: DuoGroupView[] = [owned('g-ops', 'Operations', 'DG2'), owned('g-gone', 'Old', 'DG7'), { group_id: 'DGX', name: 'VPN', desc: 'manual' }];
    const p = planMemberships({ owner: OWNER, username: 'ada', userId: 'DU1', storeGroupIds: ['g-eng', 'g-unrelated'], groupIds, current });
    assert.equal(p.failure, undefined);
    assert.deepEqual(
      p.ops.map((o) => [o.op, 'groupId' in o ? o.groupId : '']),
      [
        ['removeFromGroup', 'DG2'],
        ['removeFromGroup', 'DG7'],
        ['addToGroup', 'DG1'],
      ],
    );
    const same = planMemberships({ owner: OWNER, username: 'ada', userId: 'DU1', storeGroupIds: ['g-ops'], groupIds, current: [owned('g-ops', 'Operations', 'DG2')] });
    assert.deepEqual(same.ops, [], 'in step: no writes');
  });

  it('a user created by the same plan is added with userId null (filled in after create)', () => {
    const p = planMemberships({ owner: OWNER, username: 'ada', userId: null, storeGroupIds: ['g-eng'], groupIds: { 'g-eng': 'DG1' }, current: [] });
    assert.deepEqual(p.ops, [{ op: 'addToGroup', userId: null, username: 'ada', groupId: 'DG1', groupName: 'g-eng' }]);
  });

  it('over 100 groups (counting the user’s other Duo groups) fails that user clearly and adds nothing', () => {
    const others: DuoGroupView[] = Array.from({ length: 98 }, (_, i) => ({ group_id: `DGO${i}`, name: `other${i}`, desc: '' }));
    const groupIds = { a: 'DGA', b: 'DGB', c: 'DGC' };
    const p = planMemberships({ owner: OWNER, username: 'ada', userId: 'DU1', storeGroupIds: ['a', 'b', 'c'], groupIds, current: others });
    assert.deepEqual(p.ops, []);
    assert.equal(p.failure?.code, 'GroupLimit');
    assert.match(p.failure?.message ?? '', /ada would be in 101 Duo groups \(3 from rule staff, 98 others\); Duo allows at most 100 groups per user/);
    const ok = planMemberships({ owner: OWNER, username: 'ada', userId: 'DU1', storeGroupIds: ['a', 'b'], groupIds, current: others });
    assert.equal(ok.failure, undefined);
    assert.equal(ok.ops.length, 2);
  });

  it('groupIdMapOf maps the rule’s owned groups by store id', () => {
    assert.deepEqual(groupIdMapOf([owned('g-eng', 'Engineering', 'DG1'), owned('g-x', 'X', 'DG4', undefined, 'other'), { group_id: 'DG5', name: 'Mine' }], OWNER), { 'g-eng': 'DG1' });
  });

  it('a rule lists at most 100 groups', () => {
    const rule = (n: number) => validateRule({ id: 'r', direction: 'outbound', scope: { kind: 'all' }, groups: { include: Array.from({ length: n }, (_, i) => `g${i}`) } });
    assert.equal(rule(100).ok, true);
    const bad = rule(101);
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.errors.join(), /at most 100 groups per rule/);
  });
});
