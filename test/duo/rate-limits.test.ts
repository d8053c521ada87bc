/**
 * Duo's per-category rate limits: the one classification the client and the sandbox share, the
 * sandbox's `duo` profile with each category on its own bucket, the time scale, and the
 * per-category counters. The sandbox clock is frozen or stepped by hand, so nothing here waits.
 */
import { strict as assert } from 'node:assert';
import { authorizationHeader, classifyDuoRequest, DuoClient, DUO_KNOWN_LIMITS_PER_MINUTE, isDuoError, type DuoRateCategory } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox, type DuoSandboxOptions } from '../../src/sandbox';
import { rawRequest } from './helpers';

async function kindOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    assert.ok(isDuoError(err), String(err));
    return err.kind;
  }
}

describe('Duo rate categories', () => {
  it('classifies every request duo-sync makes, the bulk endpoints and the rest', () => {
    const cases: Array<[string, string, string[], DuoRateCategory]> = [
      ['POST', '/admin/v1/users', ['username'], 'modify'],
      ['POST', '/admin/v1/users/DU1', ['status'], 'modify'],
      ['DELETE', '/admin/v1/users/DU1', [], 'modify'],
      ['POST', '/admin/v1/users/DU1/groups', ['group_id'], 'modify'],
      ['DELETE', '/admin/v1/users/DU1/phones/DP1', [], 'modify'],
      ['POST', '/admin/v1/groups', ['name'], 'modify'],
      ['POST', '/admin/v1/admins/DE1', ['name'], 'modify'],
      ['GET', '/admin/v1/users/DU1', [], 'getObject'],
      ['GET', '/admin/v2/groups/DG1', [], 'getObject'],
      ['GET', '/admin/v1/phones/DP1', [], 'getObject'],
      ['GET', '/admin/v1/admins/DE1', [], 'getObject'],
      ['GET', '/admin/v1/info/summary', [], 'getObject'],
      ['GET', '/admin/v1/users', ['limit', 'offset'], 'getPage'],
      ['GET', '/admin/v1/users', ['username'], 'getPage'],
      ['GET', '/admin/v1/users', ['username_list'], 'getPage'],
      ['GET', '/admin/v1/users', ['user_id_list'], 'getPage'],
      ['GET', '/admin/v1/phones', ['number'], 'getPage'],
      ['GET', '/admin/v1/users/DU1/groups', ['limit', 'offset'], 'getPage'],
      ['GET', '/admin/v2/groups/DG1/users', ['limit', 'offset'], 'getPage'],
      ['GET', '/admin/v1/users', [], 'getAll'],
      ['GET', '/admin/v1/groups', [], 'getAll'],
      ['GET', '/admin/v2/logs/authentication', ['mintime'], 'logs'],
      ['GET', '/admin/v1/logs/telephony', [], 'logs'],
      ['POST', '/admin/v1/users/bulk_create', ['users'], 'bulk'],
      ['POST', '/admin/v1/bulk', ['operations'], 'bulk'],
      ['POST', '/admin/v1/users/bulk_send_to_trash', ['user_id_list'], 'bulk'],
      ['POST', '/admin/v1/users/bulk_restore', ['user_id_list'], 'bulk'],
    ];
    for (const [method, path, params, expected] of cases) assert.equal(classifyDuoRequest(method, path, params), expected, `${method} ${path} ${params.join(',')}`);
  });

  it("carries Duo staff's numbers as the known limits", () => {
    assert.deepEqual(DUO_KNOWN_LIMITS_PER_MINUTE, { modify: 300, getObject: 300, getPage: 200, getAll: 40, logs: 2, bulk: 50 });
  });
});

describe('Duo sandbox: per-category rate limits', () => {
  let sandbox: DuoSandbox;
  let clock: number;
  let duo: DuoClient;

  const start = async (options: DuoSandboxOptions): Promise<void> => {
    clock = Date.UTC(2026, 0, 5, 9, 0, 0);
    sandbox = await startDuoSandbox({ seed: 5, now: () => clock, ...options });
    duo = new DuoClient({ ...sandbox.clientOptions(), now: () => new Date(clock) });
  };
  afterEach(() => sandbox.stop());

  it('limits each category on its own bucket and counts requests and 429s per category', async () => {
    await start({ categoryLimits: { profile: 'duo', perMinute: { getObject: 3, getPage: 2 } } });
    const user = await duo.createUser({ username: 'counted' });
    const reads = [];
    for (let i = 0; i < 4; i++) reads.push(await kindOf(duo.getUser(user.user_id)));
    assert.deepEqual(reads, ['ok', 'ok', 'ok', 'rateLimited'], 'the 4th single-object read in the same instant is over 3/min');
    assert.deepEqual([await kindOf(duo.listUsers({ limit: 1 })), await kindOf(duo.findUserByUsername('counted')), await kindOf(duo.listUsers({ limit: 1 }))], ['ok', 'ok', 'rateLimited'], 'pages have their own bucket of 2');
    assert.equal(await kindOf(duo.modifyUser(user.user_id, { realname: 'still writable' })), 'ok', 'writes are limited separately (300/min)');
    const stats = sandbox.stats();
    assert.deepEqual(stats.byCategory?.getObject, { requests: 4, rateLimited: 1 });
    assert.deepEqual(stats.byCategory?.getPage, { requests: 3, rateLimited: 1 });
    assert.deepEqual(stats.byCategory?.modify, { requests: 2, rateLimited: 0 });
    assert.equal(stats.rateLimited, 2);
  });

  it("the duo profile allows 40 get-all lists per minute, the 41st in the same minute gets 429", async () => {
    await start({ categoryLimits: 'duo' });
    const statuses: number[] = [];
    for (let i = 0; i < 41; i++) {
      const date = new Date(clock).toUTCString();
      const auth = authorizationHeader(sandbox.account.integrationKey, 2, { date, method: 'GET', host: sandbox.apiHost, path: '/admin/v1/users', params: {} }, sandbox.account.secretKey);
      statuses.push((await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Date: date, Authorization: auth })).status);
    }
    assert.deepEqual([statuses.filter((s) => s === 200).length, statuses[40]], [40, 429]);
    assert.deepEqual(sandbox.stats().byCategory?.getAll, { requests: 41, rateLimited: 1 });
    assert.equal(await kindOf(duo.getUser('DUNOTHERE00000000000')), 'notFound', 'a single-object read still passes: its bucket is untouched');
    assert.equal(await kindOf(duo.listUsers({ limit: 1 })), 'ok', 'so does a paged list (getPage, not getAll)');
  });

  for (const [timeScale, afterOneSecond] of [
    [1, 'rateLimited'],
    [10, 'ok'],
  ] as const) {
    it(`time scale ${timeScale}: a minute lasts ${60 / timeScale} s, the bucket size stays (one second later: ${afterOneSecond})`, async () => {
      await start({ categoryLimits: { profile: 'unlimited', perMinute: { getObject: 6 }, burstSeconds: 10 }, timeScale });
      const user = await duo.createUser({ username: 'scaled' });
      assert.equal(await kindOf(duo.getUser(user.user_id)), 'ok');
      assert.equal(await kindOf(duo.getUser(user.user_id)), 'rateLimited', 'a bucket of 6/min × 10 s holds one request');
      clock += 1000;
      assert.equal(await kindOf(duo.getUser(user.user_id)), afterOneSecond, '6/min refills one request in 10 s, or in 1 s at ×10');
      assert.equal(await kindOf(duo.listUsers({ limit: 1 })), 'ok', 'categories not named are unlimited in the unlimited profile');
    });
  }
});
