/**
 * Two workers' activity resources, two connections each, all on one Duo account whose sandbox runs
 * Duo's per-category limits: each worker paces the account with one adaptive pacer shared by its
 * connections, so together they meet few 429s. Counts, not time, are asserted.
 */
import assert from 'node:assert/strict';
import { createConnectionResources, type ConnectionResources } from '../../src/activities/resources';
import { ConnectionConfigSchema, type ConnectionConfig } from '../../src/domain/connection';
import type { DuoClient } from '../../src/duo';
import { modifyLoad } from '../support/modify-load';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';

describe('Pacing on every worker: one adaptive pacer per Duo account, shared by its connections', function () {
  this.timeout(120_000);
  const TIME_SCALE = 10;
  const CALLS_PER_CONNECTION = 120;
  let sandbox: DuoSandbox;
  let userIds: string[];
  const workers: ConnectionResources[] = [];

  before(async () => {
    // Duo's limits with a strict bucket (2 s of traffic): the default (a whole minute's allowance at once) would hide overload.
    sandbox = await startDuoSandbox({ seed: 21, categoryLimits: { profile: 'duo', burstSeconds: 2 }, timeScale: TIME_SCALE });
    userIds = Array.from({ length: 20 }, (_, i) => sandbox.store.createUser(new Map([['username', `paced${i}`]])).user_id);
  });
  after(async () => {
    for (const w of workers.splice(0)) await w.close();
    await sandbox.stop();
  });

  const config = (connectionId: string): ConnectionConfig =>
    ConnectionConfigSchema.parse({
      connectionId,
      duo: { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { env: 'DUO_SYNC_UNUSED' } },
      store: { kind: 'file', path: '/nonexistent.json' },
      rules: [],
    });

  const work = (duo: DuoClient, tag: string) => modifyLoad(duo, { modifications: CALLS_PER_CONNECTION, lanes: 4, users: userIds, tag });

  it('two workers with two connections each stay under ~2% 429s on a category-limited account', async () => {
    const worker = () => {
      const w = createConnectionResources({ resolveSecret: async () => sandbox.account.secretKey, pacing: { limits: 'duo', timeScale: TIME_SCALE } });
      workers.push(w);
      return w;
    };
    const [a, b] = [worker(), worker()];
    const clients = await Promise.all([a.duo(config('c-a1')), a.duo(config('c-a2')), b.duo(config('c-b1')), b.duo(config('c-b2'))]);
    sandbox.resetStats();
    const results = await Promise.all(clients.map((c, i) => work(c, `w${i}`)));
    const calls = results.reduce((n, r) => n + r.calls, 0);
    const rateLimited = results.reduce((n, r) => n + r.rateLimited, 0);
    const modify = sandbox.stats().byCategory?.modify;
    console.log(`      ${rateLimited}/${calls} modifications got 429 (${((rateLimited / calls) * 100).toFixed(1)}%); sandbox modify: ${JSON.stringify(modify)}`);
    assert.equal(modify?.requests, calls);
    assert.ok(rateLimited / calls <= 0.02, `at most ~2% 429s, got ${rateLimited}/${calls}`);
  });
});
