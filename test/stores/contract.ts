/**
 * The identity-store contract, run against every adapter: paging, lookups, scopes, writes,
 * clearing, hostile usernames, auth failure, server down, and flat memory over 10k users.
 * Each adapter's test file supplies a harness that loads a Dataset into a real backend.
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MAX_LOOKUP_BATCH, StoreError, type IdentityStore, type Page, type PageRequest, type Scope, type StoreGroup, type StoreUser } from '../../src/stores';
import { BACKSLASH_HOSTILE, contractDataset, largeDataset, LDAP_HOSTILE, SCIM_HOSTILE, type Dataset } from './fixtures';

export interface HarnessInstance {
  store(options?: { readOnly?: boolean }): IdentityStore;
  /** A store pointed at a port nothing listens on. */
  unreachable(): IdentityStore;
  /** A store with wrong credentials; absent for backends without auth (file). */
  badAuth?(): IdentityStore;
  stop(): Promise<void>;
}

export interface StoreHarness {
  name: string;
  start(data: Dataset): Promise<HarnessInstance>;
}

export async function collect<T>(fetch: (page: PageRequest) => Promise<Page<T>>, pageSize: number): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: Page<T> = await fetch({ cursor, pageSize });
    assert.ok(page.items.length <= pageSize, `page of ${page.items.length} exceeds ${pageSize}`);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    assert.ok(pages < 10_000, 'paging does not terminate');
  } while (cursor !== null);
  return { items, pages };
}

async function rejectsWith(p: Promise<unknown>, kind: StoreError['kind'], hint?: string): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${String(err)}`);
    assert.equal(err.kind, kind, `expected ${kind}, got ${err.kind}: ${err.message}`);
    if (hint) assert.ok(err.message.includes(hint), `message should name ${hint}: ${err.message}`);
    return err;
  }
  assert.fail(`expected StoreError(${kind})`);
}

const names = (users: StoreUser[]): string[] => users.map((u) => u.username).sort();

export function storeContract(harness: StoreHarness): void {
  describe(`${harness.name} store contract`, function () {
    let inst: HarnessInstance;
    let store: IdentityStore;
    const data = contractDataset();
    let groups: StoreGroup[];
    const groupId = (name: string): string => {
      const g = groups.find((x) => x.name === name);
      assert.ok(g, `group ${name} listed`);
      return g.externalId;
    };

    before(async function () {
      this.timeout(120_000);
      inst = await harness.start(data);
      store = inst.store();
      groups = (await collect((p) => store.listGroups(p), 2)).items;
    });
    after(async () => {
      await store?.close();
      await inst?.stop();
    });

    it('pages through all users with an opaque cursor, no duplicates, stable order', async () => {
      const { items, pages } = await collect((p) => store.listUsers({ kind: 'all' }, p), 7);
      assert.equal(items.length, data.count);
      assert.equal(new Set(items.map((u) => u.externalId)).size, data.count);
      assert.ok(pages >= 5);
      const again = await collect((p) => store.listUsers({ kind: 'all' }, p), 7);
      assert.deepEqual(again.items.map((u) => u.externalId), items.map((u) => u.externalId));
    });

    it('returns normalised user records', async () => {
      const alice = await store.getUser('alice');
      assert.ok(alice);
      assert.equal(alice.username, 'alice');
      assert.equal(alice.email, 'alice@example.com');
      assert.deepEqual(alice.phones, ['+15550001']);
      assert.equal(alice.givenName, 'Alice');
      assert.equal(alice.familyName, 'Anders');
      assert.equal(alice.displayName, 'Alice Anders');
      assert.equal(alice.enabled, true);
      assert.deepEqual(alice.groupIds, [groupId('engineering')]);
      assert.equal(alice.attributes.title, 'Engineer');
      const bob = await store.getUser('BOB');
      assert.ok(bob);
      assert.deepEqual([...bob.phones].sort(), ['+15550002', '+15550003']);
      assert.deepEqual([...bob.groupIds].sort(), [groupId('engineering'), groupId('sales')].sort());
      const carol = await store.getUser('carol');
      assert.equal(carol?.enabled, false);
      assert.equal(await store.getUser('nobody'), null);
      const emile = await store.getUser('émile');
      assert.equal(emile?.familyName, 'Zola');
    });

    it('lists groups page by page, and a group\'s members', async () => {
      assert.deepEqual(groups.map((g) => g.name).sort(), ['contractors', 'engineering', 'sales']);
      assert.equal(new Set(groups.map((g) => g.externalId)).size, 3);
      const members = await collect((p) => store.listGroupMembers(groupId('engineering'), p), 1);
      assert.deepEqual(names(members.items), ['alice', 'bob']);
    });

    it('scopes by group name or externalId; an unknown group is an error, not "nobody"', async () => {
      const byName = await collect((p) => store.listUsers({ kind: 'groups', groups: ['sales'] }, p), 100);
      assert.deepEqual(names(byName.items), ['bob', 'carol']);
      const byId = await collect((p) => store.listUsers({ kind: 'groups', groups: [groupId('engineering'), 'sales'] }, p), 100);
      assert.deepEqual(names(byId.items), ['alice', 'bob', 'carol']);
      await rejectsWith(store.listUsers({ kind: 'groups', groups: ['no-such-group'] }), 'not_found');
    });

    it('scopes by attribute filter (eq, ne, present, startsWith, endsWith, contains, and/or/not)', async () => {
      const run = async (scope: Scope): Promise<string[]> => names((await collect((p) => store.listUsers(scope, p), 50)).items);
      assert.deepEqual(await run({ kind: 'filter', filter: { attr: 'title', op: 'eq', value: 'Engineer' } }), ['alice', 'bob']);
      assert.deepEqual(await run({ kind: 'filter', filter: { and: [{ attr: 'email', op: 'endsWith', value: '@example.com' }, { not: { attr: 'title', op: 'eq', value: 'Filler' } }] } }), ['alice', 'carol', 'dave', 'émile']);
      assert.deepEqual(await run({ kind: 'filter', filter: { or: [{ attr: 'username', op: 'startsWith', value: 'ca' }, { attr: 'email', op: 'contains', value: 'corp' }] } }), ['bob', 'carol']);
      assert.deepEqual(await run({ kind: 'filter', filter: { and: [{ attr: 'title', op: 'ne', value: 'Filler' }, { not: { attr: 'email', op: 'present' } }] } }), [BACKSLASH_HOSTILE, LDAP_HOSTILE, SCIM_HOSTILE].sort());
    });

    it('looks users up in batches, honouring scope', async () => {
      assert.deepEqual(names(await store.lookupUsers(['alice', 'BOB', 'nobody', 'carol'])), ['bob', 'alice', 'carol'].sort());
      assert.deepEqual(names(await store.lookupUsers(['alice', 'bob', 'carol'], { kind: 'groups', groups: ['engineering'] })), ['alice', 'bob']);
      assert.deepEqual(names(await store.lookupUsers(['alice', 'dave'], { kind: 'filter', filter: { attr: 'title', op: 'eq', value: 'Manager' } })), ['dave']);
      assert.deepEqual(await store.lookupUsers([]), []);
      const fillers = Array.from({ length: 25 }, (_, i) => `filler${String(i).padStart(3, '0')}`);
      assert.equal((await store.lookupUsers(fillers)).length, 25);
    });

    it('looks users up by store id (externalId) in batches, honouring scope', async () => {
      const [alice, bob, dave] = await Promise.all(['alice', 'bob', 'dave'].map((n) => store.getUser(n)));
      assert.ok(alice && bob && dave);
      assert.deepEqual(names(await store.lookupUsersByExternalId([alice.externalId, bob.externalId, 'no-such-id'])), ['alice', 'bob']);
      assert.deepEqual(names(await store.lookupUsersByExternalId([alice.externalId, dave.externalId], { kind: 'filter', filter: { attr: 'title', op: 'eq', value: 'Manager' } })), ['dave']);
      assert.deepEqual(await store.lookupUsersByExternalId([]), []);
      assert.deepEqual(await store.lookupUsersByExternalId(['*', '*)(entryUUID=*', 'x" or id pr or "y']), []);
    });

    it('treats hostile usernames as data, never as filter syntax', async () => {
      for (const hostile of [LDAP_HOSTILE, SCIM_HOSTILE, BACKSLASH_HOSTILE]) {
        const u = await store.getUser(hostile);
        assert.equal(u?.username, hostile, `getUser(${hostile})`);
        assert.deepEqual(names(await store.lookupUsers([hostile])), [hostile]);
        const scoped = await collect((p) => store.listUsers({ kind: 'filter', filter: { attr: 'username', op: 'eq', value: hostile } }, p), 50);
        assert.deepEqual(names(scoped.items), [hostile]);
      }
      assert.deepEqual(await store.lookupUsers(['*', 'a*', '*)(uid=*', '" or "1"="1', 'x" or userName pr or "y']), []);
      assert.equal(await store.getUser('*'), null);
      const starts = await collect((p) => store.listUsers({ kind: 'filter', filter: { attr: 'username', op: 'startsWith', value: 'a*)' } }, p), 50);
      assert.deepEqual(names(starts.items), [LDAP_HOSTILE]);
    });

    it('creates, updates (with clearing), disables, re-enables and deletes a user', async () => {
      store.assertWritable();
      const created = await store.createUser({ username: 'newbie', email: 'newbie@example.com', phones: ['+15559999'], givenName: 'New', familyName: 'Bie', displayName: 'New Bie' });
      assert.equal(created.username, 'newbie');
      assert.equal(created.email, 'newbie@example.com');
      assert.deepEqual(created.phones, ['+15559999']);
      assert.equal(created.enabled, true);
      await rejectsWith(store.createUser({ username: 'newbie' }), 'conflict');
      const updated = await store.updateUser('newbie', { email: 'nb@example.com', givenName: null, phones: null, displayName: 'Newbie' });
      assert.equal(updated.email, 'nb@example.com');
      assert.equal(updated.givenName, undefined);
      assert.deepEqual(updated.phones, []);
      assert.equal(updated.displayName, 'Newbie');
      assert.equal(updated.externalId, created.externalId);
      const noop = await store.updateUser('newbie', { givenName: null });
      assert.equal(noop.givenName, undefined);
      assert.equal((await store.disableUser('newbie')).enabled, false);
      assert.equal((await store.updateUser('newbie', { enabled: true })).enabled, true);
      assert.equal(await store.deleteUser('newbie'), true);
      assert.equal(await store.deleteUser('newbie'), false);
      assert.equal(await store.getUser('newbie'), null);
      await rejectsWith(store.updateUser('newbie', { email: 'x@example.com' }), 'not_found');
    });

    it('writes hostile usernames safely', async () => {
      const name = 'evil,cn=admin+x\\"*)(';
      const u = await store.createUser({ username: name, familyName: 'Evil' });
      assert.equal(u.username, name);
      assert.equal((await store.getUser(name))?.externalId, u.externalId);
      assert.equal(await store.deleteUser(name), true);
      assert.ok(await store.getUser('alice'), 'neighbours untouched');
    });

    it('refuses a cursor from another query, bad page sizes and oversized lookups', async () => {
      const first = await store.listUsers({ kind: 'all' }, { pageSize: 3 });
      assert.ok(first.nextCursor);
      await rejectsWith(store.listUsers({ kind: 'groups', groups: ['sales'] }, { cursor: first.nextCursor }), 'invalid_request');
      await rejectsWith(store.listUsers({ kind: 'all' }, { cursor: 'not-a-cursor' }), 'invalid_request');
      await rejectsWith(store.listUsers({ kind: 'all' }, { pageSize: 0 }), 'invalid_request');
      await rejectsWith(store.lookupUsers(Array.from({ length: MAX_LOOKUP_BATCH + 1 }, (_, i) => `u${i}`)), 'invalid_request');
    });

    it('says at configuration time when it cannot write', async () => {
      const ro = inst.store({ readOnly: true });
      try {
        assert.equal(ro.capabilities.write, false);
        assert.throws(() => ro.assertWritable(), (e: unknown) => e instanceof StoreError && e.kind === 'read_only');
        await rejectsWith(ro.createUser({ username: 'nope' }), 'read_only');
        assert.ok((await ro.getUser('alice'))?.username);
      } finally {
        await ro.close();
      }
    });

    it('reports a store that is down as unavailable, naming where', async () => {
      const down = inst.unreachable();
      try {
        await rejectsWith(down.check(), 'unavailable', down.location);
        await rejectsWith(down.listUsers({ kind: 'all' }), 'unavailable');
      } finally {
        await down.close();
      }
    });

    it('reports wrong credentials as auth_failed, naming the host', async function () {
      // The file adapter has no credentials, so there is nothing to get wrong: skipped for it alone.
      if (!inst.badAuth) this.skip();
      const bad = inst.badAuth!();
      try {
        const err = await rejectsWith(bad.check(), 'auth_failed', bad.location);
        assert.ok(!/test-admin-secret|wrong-secret|bad-token/.test(err.message), 'no secrets in messages');
      } finally {
        await bad.close();
      }
    });
  });
}

let gcFn: (() => void) | undefined;
/** A full garbage collection, for heap measurements (no --expose-gc needed). */
export function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

/** Pages through 10k users with bounded heap growth; logs the measured time per 1k users. */
export function largeDirectoryContract(harness: StoreHarness, count = 10_000): void {
  describe(`${harness.name} store with ${count} users`, function () {
    this.timeout(300_000);
    let inst: HarnessInstance;
    before(async () => {
      inst = await harness.start(largeDataset(count));
    });
    after(async () => inst?.stop());

    it('pages through every user with flat memory', async () => {
      const store = inst.store();
      try {
        let cursor: string | null = null;
        let seen = 0;
        let pages = 0;
        let baseline = 0;
        let peak = 0;
        let started = 0;
        let last = '';
        do {
          const page: Page<StoreUser> = await store.listUsers({ kind: 'all' }, { cursor, pageSize: 100 });
          for (const u of page.items) assert.notEqual(u.username, last);
          seen += page.items.length;
          last = page.items[page.items.length - 1]?.username ?? last;
          cursor = page.nextCursor;
          pages++;
          if (pages === 5) {
            gc();
            baseline = process.memoryUsage().heapUsed;
            started = performance.now();
          } else if (pages > 5 && pages % 20 === 0) {
            gc();
            peak = Math.max(peak, process.memoryUsage().heapUsed);
          }
        } while (cursor !== null);
        const elapsed = performance.now() - started;
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed);
        assert.equal(seen, count);
        const growthMb = (peak - baseline) / 1024 / 1024;
        const per1k = elapsed / ((seen - 500) / 1000);
        console.log(`      ${harness.name}: ${count} users in ${pages} pages; ${per1k.toFixed(0)} ms per 1k users; heap growth ${growthMb.toFixed(1)} MB`);
        // Generous bound: a whole-directory array of 10k users would be far above this.
        assert.ok(growthMb < 16, `heap grew ${growthMb.toFixed(1)} MB while paging`);
      } finally {
        await store.close();
      }
    });
  });
}
