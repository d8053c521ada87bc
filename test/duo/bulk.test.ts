/**
 * Bulk endpoints and Trash, end to end: the sandbox's wire shapes (per-item envelopes, batch-limit
 * errors with Duo's codes, all-or-nothing mode), and the client's bulk methods against it: partial
 * failures mapped per user, batch sizes, splitting refused batches, the fallback to single calls on
 * 404 or when bulk is off, whole-request failures, Trash/restore/purge on the sandbox clock, and the
 * bulk rate category.
 */
import { strict as assert } from 'node:assert';
import { authorizationHeader, DuoClient, DuoClientInputError, type DuoItemResult } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { rawRequest } from './helpers';

const DAY_MS = 86_400_000;

function postSigned(sandbox: DuoSandbox, path: string, params: Record<string, string>) {
  const date = new Date().toUTCString();
  const body = JSON.stringify(params);
  const auth = authorizationHeader(sandbox.account.integrationKey, 5, { date, method: 'POST', host: sandbox.apiHost, path, params: {}, body }, sandbox.account.secretKey);
  return rawRequest(sandbox.apiHost, 'POST', path, { Date: date, Authorization: auth, 'Content-Type': 'application/json' }, body);
}

function okValues<T>(results: Array<DuoItemResult<T>>): T[] {
  return results.map((r, i) => {
    assert.ok(r.ok, `item ${i} failed: ${r.ok ? '' : r.error.message}`);
    return r.value;
  });
}

function failureOf<T>(result: DuoItemResult<T> | undefined): { kind: string; message: string; existingId: string | undefined; code: number | undefined } {
  assert.ok(result && !result.ok, 'expected a failed item');
  return { kind: result.error.kind, message: result.error.message, existingId: result.error.existingId, code: result.error.code };
}

describe('Duo sandbox: bulk wire format', () => {
  let sandbox: DuoSandbox;
  before(async () => {
    sandbox = await startDuoSandbox({ seed: 21 });
  });
  after(() => sandbox.stop());
  afterEach(() => sandbox.setBulk({ failureMode: 'perItem', maxUsers: 100, enabled: true }));

  it('answers bulk_create with one Duo envelope per user, in order; a bad user fails alone', async () => {
    sandbox.store.createUser(new Map([['username', 'taken']]));
    const res = await postSigned(sandbox, '/admin/v1/users/bulk_create', { users: JSON.stringify([{ username: 'wire1', realname: 'W One' }, { username: 'TAKEN' }, { username: 'wire3', email: 'not an email' }]) });
    assert.equal(res.status, 200);
    const items = res.body.response as Array<{ stat: string; response?: { username: string }; code?: number; message_detail?: string }>;
    assert.deepEqual(
      items.map((i) => [i.stat, i.response?.username ?? i.code, i.message_detail]),
      [
        ['OK', 'wire1', undefined],
        ['FAIL', 40003, 'username'],
        ['FAIL', 40002, 'email'],
      ],
    );
    assert.ok(sandbox.store.findUserIdByName('wire1'));
    assert.equal(sandbox.store.findUserIdByName('wire3'), undefined);
  });

  it('refuses a batch over the maximum, a missing list and a list that is not JSON with 400 and Duo-style codes', async () => {
    sandbox.setBulk({ maxUsers: 2 });
    const over = await postSigned(sandbox, '/admin/v1/users/bulk_create', { users: JSON.stringify([{ username: 'a' }, { username: 'b' }, { username: 'c' }]) });
    assert.deepEqual([over.status, over.body.code, over.body.message, over.body.message_detail], [400, 40002, 'Invalid request parameters', 'users: at most 2 per request, got 3']);
    const missing = await postSigned(sandbox, '/admin/v1/bulk', {});
    assert.deepEqual([missing.status, missing.body.code, missing.body.message_detail], [400, 40001, 'operations']);
    const garbled = await postSigned(sandbox, '/admin/v1/users/bulk_send_to_trash', { user_id_list: 'DU1,DU2' });
    assert.deepEqual([garbled.status, garbled.body.code, garbled.body.message_detail], [400, 40002, 'user_id_list']);
    const ops = await postSigned(sandbox, '/admin/v1/bulk', { operations: JSON.stringify(Array.from({ length: 51 }, () => ({ method: 'POST', path: '/admin/v1/users', body: { username: 'x' } }))) });
    assert.deepEqual([ops.status, ops.body.message_detail], [400, 'operations: at most 50 per request, got 51']);
    assert.equal(sandbox.store.findUserIdByName('x'), undefined);
  });

  it('all-or-nothing mode: one bad item fails the whole request with 400 naming it, and nothing is applied', async () => {
    sandbox.setBulk({ failureMode: 'allOrNothing' });
    const res = await postSigned(sandbox, '/admin/v1/users/bulk_create', { users: JSON.stringify([{ username: 'aon1' }, { username: 'aon1' }]) });
    assert.deepEqual([res.status, res.body.code, res.body.message_detail], [400, 40002, 'users[1]: Duplicate resource (40003, username)']);
    assert.equal(sandbox.store.findUserIdByName('aon1'), undefined, 'the first user was rolled back');
  });

  it('bulk operations accept removal from a group as DELETE and as POST (the Ruby client documents POST)', async () => {
    const user = sandbox.store.createUser(new Map([['username', 'member']]));
    const group = sandbox.store.createGroup(new Map([['name', 'wire-group']]));
    sandbox.store.addUserToGroup(user.user_id, group.group_id);
    const res = await postSigned(sandbox, '/admin/v1/bulk', {
      operations: JSON.stringify([
        { method: 'POST', path: `/admin/v1/users/${user.user_id}/groups/${group.group_id}`, body: {} },
        { method: 'DELETE', path: `/admin/v1/users/${user.user_id}/groups/${group.group_id}` },
        { method: 'GET', path: '/admin/v1/users' },
      ]),
    });
    const items = res.body.response as Array<{ stat: string; message_detail?: string }>;
    assert.deepEqual(
      items.map((i) => [i.stat, i.message_detail]),
      [
        ['OK', undefined],
        ['OK', undefined],
        ['FAIL', 'unsupported operation GET /admin/v1/users'],
      ],
    );
    assert.equal(user.groupIds.size, 0);
  });

  it('a sandbox without bulk endpoints answers them 404/40401', async () => {
    sandbox.setBulk({ enabled: false });
    const res = await postSigned(sandbox, '/admin/v1/users/bulk_create', { users: JSON.stringify([{ username: 'nope' }]) });
    assert.deepEqual([res.status, res.body.code], [404, 40401]);
  });
});

describe('DuoClient bulk methods against the sandbox', () => {
  let sandbox: DuoSandbox;
  let clock: number;
  const clientOptions = () => ({ ...sandbox.clientOptions(), now: () => new Date(clock) });

  beforeEach(async () => {
    clock = Date.UTC(2026, 2, 1, 12, 0, 0);
    sandbox = await startDuoSandbox({ seed: 8, now: () => clock });
  });
  afterEach(() => sandbox.stop());

  for (const signatureVersion of [5, 2] as const) {
    it(`bulk-creates users in batches and maps partial failures to each user (signature v${signatureVersion})`, async () => {
      const existing = sandbox.store.createUser(new Map([['username', 'holder'], ['alias1', 'nick']]));
      const duo = new DuoClient({ ...clientOptions(), signatureVersion, bulk: { createUsersBatchSize: 3 } });
      const results = await duo.bulkCreateUsers([
        { username: 'b1', realname: 'B One', email: 'b1@example.com', notes: 'marker' },
        { username: 'HOLDER' },
        { username: 'b3', status: 'disabled' },
        { username: 'nick' },
        { username: 'b5', email: 'broken' },
        { username: 'b6' },
        { username: 'b7' },
      ]);
      assert.equal(results.length, 7);
      const created = results.flatMap((r) => (r.ok ? [r.value.username] : []));
      assert.deepEqual(created, ['b1', 'b3', 'b6', 'b7']);
      const first = results[0];
      assert.ok(first?.ok && first.value.notes === 'marker' && first.value.email === 'b1@example.com');
      assert.equal(results[2]?.ok && results[2].value.status, 'disabled');
      assert.deepEqual([failureOf(results[1]).kind, failureOf(results[1]).existingId], ['conflict', existing.user_id]);
      assert.deepEqual([failureOf(results[3]).kind, failureOf(results[3]).existingId], ['conflict', existing.user_id], 'an alias holder counts too');
      assert.match(failureOf(results[3]).message, /name "nick" is used by user "holder"/);
      assert.deepEqual([failureOf(results[4]).kind, failureOf(results[4]).code], ['invalidRequest', 40002]);
      assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/users/bulk_create'], 3, '7 users in batches of 3');
      assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/users'] ?? 0, 0, 'no single creates');
    });
  }

  it('runs bulk operations of every supported kind, with per-operation results and failures', async () => {
    const duo = new DuoClient(clientOptions());
    const group = await duo.createGroup({ name: 'bulk-group' });
    const [alice, bob] = okValues(await duo.bulkCreateUsers([{ username: 'alice' }, { username: 'bob' }]));
    assert.ok(alice && bob);
    await duo.addUserToGroup(bob.user_id, group.group_id);
    const results = await duo.bulkOperations([
      { kind: 'createUser', user: { username: 'carol', alias1: 'caz' } },
      { kind: 'modifyUser', userId: alice.user_id, changes: { realname: 'Alice A', status: 'disabled' } },
      { kind: 'addUserToGroup', userId: alice.user_id, groupId: group.group_id },
      { kind: 'removeUserFromGroup', userId: bob.user_id, groupId: group.group_id },
      { kind: 'addUserToGroup', userId: alice.user_id, groupId: 'DGNOSUCHGROUP0000000' },
      { kind: 'modifyUser', userId: 'DUNOSUCHUSER00000000', changes: { realname: 'x' } },
      { kind: 'deleteUser', userId: bob.user_id },
    ]);
    assert.equal(results[0]?.ok && results[0].value?.alias1, 'caz');
    assert.equal(results[1]?.ok && results[1].value?.status, 'disabled');
    assert.deepEqual(
      results.slice(2, 4).map((r) => r.ok && r.value),
      [undefined, undefined],
    );
    assert.deepEqual([failureOf(results[4]).kind, failureOf(results[4]).code], ['invalidRequest', 40002]);
    assert.match(failureOf(results[4]).message, /add user DU\w+ to group DGNOSUCHGROUP0000000/);
    assert.deepEqual([failureOf(results[5]).kind, failureOf(results[5]).code], ['notFound', 40401]);
    assert.ok(results[6]?.ok);
    assert.deepEqual([...(sandbox.store.users.get(alice.user_id)?.groupIds ?? [])], [group.group_id]);
    assert.equal(sandbox.store.users.get(bob.user_id), undefined);
    assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/bulk'], 1);
  });

  it('reports a one-to-many limit per operation as limitExceeded', async () => {
    await sandbox.stop();
    sandbox = await startDuoSandbox({ seed: 8, now: () => clock, limits: { groupsPerUser: 1 } });
    const duo = new DuoClient(clientOptions());
    const [g1, g2] = [await duo.createGroup({ name: 'g1' }), await duo.createGroup({ name: 'g2' })];
    const user = await duo.createUser({ username: 'limited' });
    const results = await duo.bulkOperations([
      { kind: 'addUserToGroup', userId: user.user_id, groupId: g1.group_id },
      { kind: 'addUserToGroup', userId: user.user_id, groupId: g2.group_id },
    ]);
    assert.ok(results[0]?.ok);
    assert.deepEqual([failureOf(results[1]).kind, failureOf(results[1]).code], ['limitExceeded', 50001]);
  });

  it('a batch Duo refuses as too large is split, and the client remembers the smaller size', async () => {
    sandbox.setBulk({ maxUsers: 4 });
    const duo = new DuoClient({ ...clientOptions(), bulk: { createUsersBatchSize: 10 } });
    const names = Array.from({ length: 10 }, (_, i) => `split${i}`);
    okValues(await duo.bulkCreateUsers(names.map((username) => ({ username }))));
    assert.deepEqual(names.filter((n) => sandbox.store.findUserIdByName(n)), names);
    assert.ok(duo.bulkBatchSizes.createUsersBatchSize <= 4, `remembered ${duo.bulkBatchSizes.createUsersBatchSize}`);
    const refusals = sandbox.stats().byStatus['400'] ?? 0;
    assert.ok(refusals > 0, 'the sandbox refused the first batches');
    okValues(await duo.bulkCreateUsers(['later1', 'later2', 'later3', 'later4', 'later5'].map((username) => ({ username }))));
    assert.equal(sandbox.stats().byStatus['400'] ?? 0, refusals, 'later batches fit at once');
  });

  it('against an all-or-nothing account, splits around the bad user: the others are created once, the bad one fails precisely', async () => {
    sandbox.setBulk({ failureMode: 'allOrNothing' });
    const holder = sandbox.store.createUser(new Map([['username', 'aon-taken']]));
    const duo = new DuoClient(clientOptions());
    const results = await duo.bulkCreateUsers(['aon-a', 'aon-b', 'aon-taken', 'aon-c', 'aon-d', 'aon-e'].map((username) => ({ username })));
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, false, true, true, true],
    );
    assert.deepEqual([failureOf(results[2]).kind, failureOf(results[2]).existingId], ['conflict', holder.user_id]);
    assert.equal(sandbox.store.users.size, 6);
    assert.equal(duo.bulkBatchSizes.createUsersBatchSize, 100, 'a refused item is not a refused batch size');
  });

  it('falls back to single calls when the account answers 404 for a bulk endpoint, and remembers it', async () => {
    sandbox.setBulk({ enabled: false });
    const duo = new DuoClient(clientOptions());
    const first = await duo.bulkCreateUsers([{ username: 'single1' }, { username: 'single2' }]);
    okValues(first);
    const ops = await duo.bulkOperations([{ kind: 'modifyUser', userId: (first[0] as { value: { user_id: string } }).value.user_id, changes: { realname: 'One' } }]);
    okValues(ops);
    okValues(await duo.bulkCreateUsers([{ username: 'single3' }]));
    const s = sandbox.stats();
    assert.equal(s.byEndpoint['POST /admin/v1/users/bulk_create'], 1, 'asked once, then remembered');
    assert.equal(s.byEndpoint['POST /admin/v1/bulk'], 1);
    assert.equal(s.byEndpoint['POST /admin/v1/users'], 3);
    assert.equal(s.byEndpoint['POST /admin/v1/users/{user_id}'], 1);
    assert.equal(sandbox.store.users.get((first[0] as { value: { user_id: string } }).value.user_id)?.realname, 'One');
  });

  it('with bulk turned off by the setting, makes single calls only; Trash then fails each item saying why', async () => {
    const duo = new DuoClient({ ...clientOptions(), bulk: { enabled: false } });
    const [u] = okValues(await duo.bulkCreateUsers([{ username: 'off1' }]));
    const trash = await duo.sendUsersToTrash([u?.user_id ?? '']);
    assert.match(failureOf(trash[0]).message, /bulk\.enabled/);
    assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/users/bulk_create'] ?? 0, 0);
    assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/users/bulk_send_to_trash'] ?? 0, 0);
    assert.throws(() => new DuoClient({ ...clientOptions(), bulk: { operationsBatchSize: 51 } }), DuoClientInputError);
  });

  it('a whole-request failure (429) fails that batch and every later item, and sends nothing more', async () => {
    sandbox.setFaults([{ endpoint: 'POST /admin/v1/users/bulk_create', failCalls: [2], failWith: 'rateLimit' }]);
    const duo = new DuoClient({ ...clientOptions(), bulk: { createUsersBatchSize: 2 } });
    const results = await duo.bulkCreateUsers(['w1', 'w2', 'w3', 'w4', 'w5', 'w6'].map((username) => ({ username })));
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : r.error.kind)),
      ['ok', 'ok', 'rateLimited', 'rateLimited', 'rateLimited', 'rateLimited'],
    );
    assert.ok(results.slice(2).every((r) => !r.ok && r.error.retryable));
    assert.match(failureOf(results[4]).message, /not sent after an earlier batch failed \(user "w5"\)/);
    assert.equal(sandbox.stats().byEndpoint['POST /admin/v1/users/bulk_create'], 2);
  });

  it('sends users to Trash (pending deletion, still listed, name still taken), restores them with their status, and purges after 7 days on the sandbox clock', async () => {
    const duo = new DuoClient(clientOptions());
    const [keep, purge, disabled] = okValues(await duo.bulkCreateUsers([{ username: 'keep' }, { username: 'purge' }, { username: 'was-disabled', status: 'disabled' }]));
    assert.ok(keep && purge && disabled);
    const trashed = await duo.sendUsersToTrash([keep.user_id, purge.user_id, disabled.user_id, 'DUNOSUCHUSER00000000']);
    assert.deepEqual(
      trashed.slice(0, 3).map((r) => r.ok && r.value?.status),
      ['pending deletion', 'pending deletion', 'pending deletion'],
    );
    assert.deepEqual([failureOf(trashed[3]).kind, failureOf(trashed[3]).code], ['notFound', 40401]);
    const listed = await duo.listUsers({ limit: 10 });
    assert.deepEqual(listed.items.map((u) => [u.username, u.status]), [
      ['keep', 'pending deletion'],
      ['purge', 'pending deletion'],
      ['was-disabled', 'pending deletion'],
    ]);
    const again = await duo.createUser({ username: 'keep' }).then(
      () => 'created',
      (e: { kind?: string; existingId?: string }) => `${e.kind} ${e.existingId}`,
    );
    assert.equal(again, `conflict ${keep.user_id}`, 'a trashed user keeps its name');

    clock += 3 * DAY_MS;
    okValues(await duo.restoreUsersFromTrash([keep.user_id, disabled.user_id]));
    clock += 4 * DAY_MS - 1000;
    assert.equal((await duo.getUser(purge.user_id)).status, 'pending deletion', 'one second before 7 days it is still there');
    clock += 1000;
    const gone = await duo.getUser(purge.user_id).then(
      () => 'present',
      (e: { kind?: string }) => e.kind,
    );
    assert.equal(gone, 'notFound', 'purged 7 days after it was trashed');
    assert.equal((await duo.getUser(keep.user_id)).status, 'active');
    assert.equal((await duo.getUser(disabled.user_id)).status, 'disabled', 'restore gives back the status it had');
    assert.equal(sandbox.store.findUserIdByName('purge'), undefined, 'the name is free after the purge');
  });

  it('a Trash call on an account without the endpoint fails every item saying so', async () => {
    sandbox.setBulk({ enabled: false });
    const duo = new DuoClient(clientOptions());
    const user = await duo.createUser({ username: 'no-trash' });
    const results = await duo.restoreUsersFromTrash([user.user_id, user.user_id]);
    assert.equal(results.length, 2);
    assert.deepEqual([failureOf(results[1]).kind, failureOf(results[1]).code], ['notFound', 40401]);
    assert.match(failureOf(results[0]).message, /answered 404 for \/admin\/v1\/users\/bulk_restore.*Trash is reachable only through its bulk endpoints/);
  });

  it('bulk calls are limited in their own rate category', async () => {
    sandbox.setCategoryLimits({ profile: 'duo', perMinute: { bulk: 1 } });
    const duo = new DuoClient({ ...clientOptions(), bulk: { createUsersBatchSize: 1 } });
    const results = await duo.bulkCreateUsers([{ username: 'rate1' }, { username: 'rate2' }]);
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : r.error.kind)),
      ['ok', 'rateLimited'],
    );
    await duo.createUser({ username: 'single-still-fine' });
    const s = sandbox.stats();
    assert.deepEqual(s.byCategory?.bulk, { requests: 2, rateLimited: 1 });
    assert.deepEqual(s.byCategory?.modify, { requests: 1, rateLimited: 0 });
  });
});
