/**
 * Bounded work: a scope filter is limited in depth and size when it is configured (a 3,000-deep
 * `not` chain used to overflow the stack in every activity, which Temporal then retried as if it
 * were transient); store attributes named like Object.prototype members are ordinary attributes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { validateRule } from '../../src/domain/connection';
import { mapStoreUser } from '../../src/domain/mapping';
import { MAX_FILTER_DEPTH, MAX_FILTER_NODES, ScopeSchema, type Filter } from '../../src/domain/scope';
import { createStore, StoreError, type DirectoryFile, type IdentityStore, type Scope } from '../../src/stores';
import { collect } from '../stores/contract';

function nestedNot(depth: number): Filter {
  let f: Filter = { attr: 'title', op: 'eq', value: 'x' };
  for (let i = 1; i < depth; i++) f = { not: f };
  return f;
}

const comparisons = (n: number): Filter[] => Array.from({ length: n }, (_, i) => ({ attr: 'title', op: 'eq' as const, value: `t${i}` }));

describe('safety: scope filters are bounded at configuration', () => {
  it('refuses a 3,000-deep not chain with a message naming the limit, without overflowing the stack', () => {
    const r = ScopeSchema.safeParse({ kind: 'filter', filter: nestedNot(3000) });
    assert.equal(r.success, false);
    assert.match(r.error?.issues.map((i) => i.message).join('; ') ?? '', new RegExp(`nested more than ${MAX_FILTER_DEPTH} levels deep`));
    const rule = validateRule({ id: 'deep', direction: 'outbound', scope: { kind: 'filter', filter: nestedNot(3000) } });
    assert.equal(rule.ok, false);
  });

  it(`accepts depth ${MAX_FILTER_DEPTH}, refuses depth ${MAX_FILTER_DEPTH + 1}`, () => {
    assert.equal(MAX_FILTER_DEPTH, 16);
    assert.equal(ScopeSchema.safeParse({ kind: 'filter', filter: nestedNot(MAX_FILTER_DEPTH) }).success, true);
    assert.equal(ScopeSchema.safeParse({ kind: 'filter', filter: nestedNot(MAX_FILTER_DEPTH + 1) }).success, false);
  });

  it(`refuses more than ${MAX_FILTER_NODES} nodes, saying how many`, () => {
    assert.equal(MAX_FILTER_NODES, 200);
    // or of two ands of 99 comparisons: 1 + 2 + 198 = 201 nodes.
    const big: Filter = { or: [{ and: comparisons(99) }, { and: comparisons(99) }] };
    const r = ScopeSchema.safeParse({ kind: 'filter', filter: big });
    assert.equal(r.success, false);
    assert.match(r.error?.issues[0]?.message ?? '', /more than 200 conditions/);
    const fits: Filter = { or: [{ and: comparisons(99) }, { and: comparisons(98) }] };
    assert.equal(ScopeSchema.safeParse({ kind: 'filter', filter: fits }).success, true);
  });

  it('stores re-check the bound: a deep filter handed straight to an adapter is invalid_request, not a crash', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-bounded-'));
    try {
      const file = path.join(dir, 'd.json');
      await writeFile(file, JSON.stringify({ users: [{ username: 'alice' }] }));
      const store = createStore({ kind: 'file', path: file });
      await assert.rejects(store.listUsers({ kind: 'filter', filter: nestedNot(3000) }), (err: unknown) => err instanceof StoreError && err.kind === 'invalid_request');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('safety: attributes named like Object.prototype members', () => {
  const PROTO_NAMES = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  let dir: string;
  let store: IdentityStore;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-proto-'));
    const file = path.join(dir, 'directory.json');
    // Written as text: `__proto__` must be an own key in the file, as a hand-edited file has it.
    const withProto = `{"username":"proto","attributes":{${PROTO_NAMES.map((n) => `"${n}":"v-${n}"`).join(',')}}}`;
    const plain: NonNullable<DirectoryFile['users']>[number] = { username: 'plain', attributes: { title: 'Engineer' } };
    await writeFile(file, `{"users":[${withProto},${JSON.stringify(plain)}],"groups":[]}`);
    store = createStore({ kind: 'file', path: file });
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads them as own attributes, and filters on them match only users that have them', async () => {
    const proto = await store.getUser('proto');
    assert.ok(proto);
    for (const n of PROTO_NAMES) assert.equal(Object.getOwnPropertyDescriptor(proto.attributes, n)?.value, `v-${n}`, n);
    // `__proto__` is no filter attribute name (it starts with "_"); the others are.
    for (const n of PROTO_NAMES.filter((x) => x !== '__proto__')) {
      const run = async (scope: Scope): Promise<string[]> => (await collect((p) => store.listUsers(scope, p), 10)).items.map((u) => u.username).sort();
      assert.deepEqual(await run({ kind: 'filter', filter: { attr: n, op: 'eq', value: `v-${n}` } }), ['proto'], `eq on ${n}`);
      assert.deepEqual(await run({ kind: 'filter', filter: { attr: n, op: 'present' } }), ['proto'], `present on ${n}`);
      assert.deepEqual(await run({ kind: 'filter', filter: { not: { attr: n, op: 'present' } } }), ['plain'], `not present on ${n}`);
    }
  });

  it('mappings from attr:<prototype name> read the user\'s own value, or nothing', async () => {
    for (const username of ['proto', 'plain']) {
      const user = await store.getUser(username);
      assert.ok(user);
      for (const n of PROTO_NAMES.filter((x) => x !== '__proto__')) {
        const mapped = mapStoreUser(user, { realname: { from: `attr:${n}` } });
        assert.ok(mapped.ok, `${username} attr:${n}`);
        assert.equal(mapped.user.realname, username === 'proto' ? `v-${n}` : null, `${username} attr:${n}`);
      }
    }
  });
});
