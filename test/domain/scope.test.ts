import assert from 'node:assert/strict';
import { FilterSchema, isInScope, matchesUser, ScopeSchema, type Filter } from '../../src/domain/scope';
import { storeUser } from './fixtures';

describe('domain/scope', () => {
  const user = storeUser({
    username: 'ada',
    email: 'Ada@Example.com',
    enabled: true,
    groupIds: ['G-Staff', 'g-eng'],
    attributes: { department: 'Research', roles: ['reader', 'Admin'], empty: '' },
  });

  const cases: [string, Filter, boolean][] = [
    ['eq on a custom attribute, case-insensitive', { attr: 'department', op: 'eq', value: 'research' }, true],
    ['eq mismatch', { attr: 'department', op: 'eq', value: 'Sales' }, false],
    ['ne', { attr: 'department', op: 'ne', value: 'Sales' }, true],
    ['ne on an absent attribute holds', { attr: 'costCenter', op: 'ne', value: 'x' }, true],
    ['present', { attr: 'department', op: 'present' }, true],
    ['present is false for an empty string', { attr: 'empty', op: 'present' }, false],
    ['present is false when absent', { attr: 'costCenter', op: 'present' }, false],
    ['multi-valued: any value matches', { attr: 'roles', op: 'eq', value: 'admin' }, true],
    ['startsWith', { attr: 'email', op: 'startsWith', value: 'ada@' }, true],
    ['endsWith on a built-in field', { attr: 'email', op: 'endsWith', value: '@example.com' }, true],
    ['contains', { attr: 'department', op: 'contains', value: 'sear' }, true],
    ['enabled is readable as true/false', { attr: 'enabled', op: 'eq', value: 'true' }, true],
    ['groupIds is readable', { attr: 'groupIds', op: 'eq', value: 'g-eng' }, true],
    ['and', { and: [{ attr: 'department', op: 'eq', value: 'Research' }, { attr: 'roles', op: 'eq', value: 'writer' }] }, false],
    ['or', { or: [{ attr: 'department', op: 'eq', value: 'Sales' }, { attr: 'roles', op: 'eq', value: 'reader' }] }, true],
    ['not', { not: { attr: 'department', op: 'eq', value: 'Research' } }, false],
  ];
  for (const [name, filter, expected] of cases) {
    it(`filter: ${name}`, () => {
      assert.ok(FilterSchema.safeParse(filter).success, 'fixture filter must be valid');
      assert.equal(matchesUser(filter, user), expected);
    });
  }

  it('scope all covers everyone', () => {
    assert.equal(isInScope(ScopeSchema.parse({ kind: 'all' }), user), true);
  });

  it('scope groups matches group ids case-insensitively', () => {
    assert.equal(isInScope(ScopeSchema.parse({ kind: 'groups', groups: ['g-staff'] }), user), true);
    assert.equal(isInScope(ScopeSchema.parse({ kind: 'groups', groups: ['g-sales'] }), user), false);
  });

  it('scope groups resolves group names through the caller-provided map', () => {
    const scope = ScopeSchema.parse({ kind: 'groups', groups: ['Engineering'] });
    assert.equal(isInScope(scope, user), false);
    assert.equal(isInScope(scope, user, new Map([['engineering', 'G-ENG']])), true);
  });

  it('scope filter delegates to the filter', () => {
    assert.equal(isInScope(ScopeSchema.parse({ kind: 'filter', filter: { attr: 'department', op: 'eq', value: 'Sales' } }), user), false);
  });
});
