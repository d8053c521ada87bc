/**
 * Client-side pacing: the RequestPacer cap (`duo.requestsPerSecond`), the adaptive per-category
 * AccountPacer (AIMD on 429s) on a fake clock, and two clients sharing one sandbox account the way
 * two worker processes would, judged by the share of 429s among their calls (never by time).
 */
import assert from 'node:assert/strict';
import { AccountPacer, DuoClient, RequestPacer } from '../../src/duo';
import { modifyLoad } from '../support/modify-load';
import { simulateSharedAccount, type SharedAccountResult } from '../support/shared-account-sim';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';

describe('RequestPacer', () => {
  it('rejects a rate or burst that cannot work', () => {
    assert.throws(() => new RequestPacer(0), /positive/);
    assert.throws(() => new RequestPacer(Number.NaN), /positive/);
    assert.throws(() => new RequestPacer(10, 0), /burst/);
  });

  it('lets a burst through at once, then spaces requests at the rate', async () => {
    const pacer = new RequestPacer(100, 5);
    const started = performance.now();
    await Promise.all(Array.from({ length: 5 }, () => pacer.take()));
    assert.ok(performance.now() - started < 40, 'the burst is not delayed');
    await Promise.all(Array.from({ length: 30 }, () => pacer.take()));
    // 30 more at 100/s need at least ~0.3 s of refill.
    assert.ok(performance.now() - started >= 280, `took ${(performance.now() - started).toFixed(0)} ms`);
  });
});

describe('Duo client paced under the account limit', function () {
  this.timeout(60_000);
  let sandbox: DuoSandbox;
  before(async () => {
    sandbox = await startDuoSandbox({ seed: 7, rateLimit: { requestsPerSecond: 40, burst: 5 } });
  });
  after(() => sandbox.stop());
  beforeEach(() => sandbox.resetStats());

  const hammer = (duo: DuoClient): Promise<PromiseSettledResult<unknown>[]> =>
    Promise.allSettled(Array.from({ length: 40 }, () => duo.listUsers({ limit: 1 })));

  it('unpaced, a burst of 40 calls meets 429s', async () => {
    const results = await hammer(new DuoClient(sandbox.clientOptions()));
    assert.ok(sandbox.stats().rateLimited > 0, 'the sandbox limited the burst');
    assert.ok(results.some((r) => r.status === 'rejected'));
  });

  it('paced a little under the limit, the same burst gets no 429 at all', async () => {
    await new Promise((r) => setTimeout(r, 500)); // let the sandbox bucket refill
    // A client burst of 1 leaves the sandbox's burst of 5 as slack for requests that the event loop or
    // the network delivers bunched together; with equal bursts one bunched pair already meets a 429.
    const results = await hammer(new DuoClient({ ...sandbox.clientOptions(), pacer: new RequestPacer(35, 1) }));
    assert.equal(sandbox.stats().rateLimited, 0);
    assert.ok(results.every((r) => r.status === 'fulfilled'));
  });
});

describe('AccountPacer (adaptive, per category)', () => {
  /** A clock that only moves when the pacer sleeps. */
  function fakeTime() {
    const t = { now: 0 };
    return { t, clock: () => t.now, sleep: async (ms: number) => void (t.now += ms) };
  }

  it('starts each category a little under its known limit and spaces requests at that pace', async () => {
    const { t, clock, sleep } = fakeTime();
    const pacer = new AccountPacer({ limits: { modify: 60, getPage: 120 }, clock, sleep });
    assert.equal(pacer.state().modify.ratePerSecond, 0.9);
    assert.equal(pacer.state().getPage.ratePerSecond, 1.8);
    assert.equal(pacer.state().getObject.ratePerSecond, undefined, 'a category without a limit is unpaced');
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push((await pacer.take('modify')).sentAt);
    assert.deepEqual(
      sent.map((s) => Math.round(s)),
      [0, 1111, 2222],
    );
    await pacer.take('getObject');
    assert.equal(Math.round(t.now), 2222, 'unpaced categories never wait');
  });

  it("Duo's known limits are the default start, scaled by the sandbox's time scale", () => {
    const pacer = new AccountPacer({ timeScale: 10 });
    assert.equal(pacer.state().modify.ratePerSecond, (300 / 60) * 10 * 0.9);
    assert.equal(pacer.state().logs.ratePerSecond, (2 / 60) * 10 * 0.9);
    assert.throws(() => new AccountPacer({ timeScale: 0 }), /timeScale/);
  });

  /** Sends (without answers) for `seconds` of fake time: a busy spell long enough that the account's burst is no excuse for a 429. */
  async function busyFor(pacer: AccountPacer, t: { now: number }, seconds: number): Promise<void> {
    while (t.now < seconds * 1000) await pacer.take('modify');
  }

  it('halves a category on a 429, once per round, regains pace additively on success, never above the known limit', async () => {
    const { t, clock, sleep } = fakeTime();
    const pacer = new AccountPacer({ limits: { modify: 600, getPage: 200 }, clock, sleep });
    // 70 s at 9/s: a minute's burst (600) cannot explain the 429, so the first cut is a plain halving.
    await busyFor(pacer, t, 70);
    const a = await pacer.take('modify');
    const b = await pacer.take('modify');
    pacer.record(b, 'rateLimited');
    assert.equal(pacer.state().modify.ratePerSecond, 4.5, '9/s halved');
    pacer.record(a, 'rateLimited');
    assert.equal(pacer.state().modify.ratePerSecond, 4.5, 'a 429 for a request sent before the decrease does not halve again');
    assert.equal(pacer.state().getPage.ratePerSecond, (200 / 60) * 0.9, 'other categories are untouched');
    let previous = 4.5;
    for (let i = 0; i < 20; i++) {
      pacer.record(await pacer.take('modify'), 'ok');
      const now = pacer.state().modify.ratePerSecond ?? 0;
      assert.ok(now > previous, 'each success adds a little');
      previous = now;
    }
    const c = await pacer.take('modify');
    pacer.record(c, 'rateLimited');
    assert.ok(Math.abs((pacer.state().modify.ratePerSecond ?? 0) - previous / 2) < 1e-9, 'a later 429 of the spell halves the pace again');
    for (let i = 0; i < 4000; i++) pacer.record(await pacer.take('modify'), 'ok');
    assert.equal(pacer.state().modify.ratePerSecond, 10, 'capped at the known limit (600/min)');
    pacer.record(await pacer.take('modify'), 'other');
    assert.equal(pacer.state().modify.ratePerSecond, 10, 'other failures say nothing about the rate');
    assert.deepEqual([pacer.state().modify.rateLimited, pacer.state().modify.decreases], [3, 2]);
  });

  it('the first 429 of a busy spell cuts to the share the account left: four processes that emptied a minute\'s burst in 23 s each keep about a quarter', async () => {
    // Four processes at 9/s each (36/s) against 10/s empty a bucket of 600 in 600 / (36 - 10) = 23 s.
    const { t, clock, sleep } = fakeTime();
    const pacer = new AccountPacer({ limits: { modify: 600 }, clock, sleep });
    await busyFor(pacer, t, 23);
    pacer.record(await pacer.take('modify'), 'rateLimited');
    // The account sent about 600/23 + 10 = 36/s: this process keeps 9 × 0.95 × 10/36, and the four together 0.95 × the limit.
    const rate = pacer.state().modify.ratePerSecond ?? 0;
    assert.ok(rate > 2.2 && rate < 2.5, `about 2.37/s, got ${rate.toFixed(2)}`);
    assert.equal(pacer.state().modify.decreases, 1, 'one round, not the two halvings 36/s → 18/s → 9/s would take');
  });

  it('after a 429 regains 1/30 per second of the pace the cut left (its share of the account), not of the whole limit', async () => {
    // A process sharing the account with three others sends about a quarter of the limit before its 429.
    const { t, clock, sleep } = fakeTime();
    const pacer = new AccountPacer({ limits: { modify: 600 }, startFraction: 0.25, clock, sleep });
    await busyFor(pacer, t, 70);
    pacer.record(await pacer.take('modify'), 'rateLimited');
    assert.equal(pacer.state().modify.ratePerSecond, 1.25, '2.5/s halved');
    const from = t.now;
    while (t.now - from < 10_000) pacer.record(await pacer.take('modify'), 'ok');
    // 10 s at +1.25/30 per second: about 1.25 + 0.42. Growing by 1/30 of the whole limit (10/s) would give about 4.6,
    // and four such processes would together come back over the limit four times as fast as one.
    const rate = pacer.state().modify.ratePerSecond ?? 0;
    assert.ok(rate > 1.55 && rate < 1.85, `about 1.7/s after 10 s, got ${rate.toFixed(2)}`);
    // Above its share again (the others finished), it keeps growing by 1/30 of its own pace per second, up to the limit.
    for (let i = 0; i < 4000; i++) pacer.record(await pacer.take('modify'), 'ok');
    assert.equal(pacer.state().modify.ratePerSecond, 10);
  });

  it('with no known limit, is unpaced until the first 429, then paces at half the rate it was sending', async () => {
    const { t, clock, sleep } = fakeTime();
    const pacer = new AccountPacer({ limits: 'none', clock, sleep });
    const tickets = [];
    for (let i = 0; i < 40; i++) {
      tickets.push(await pacer.take('getObject'));
      t.now += 25; // 40 requests/s
    }
    assert.equal(t.now, 1000, 'nothing waited');
    pacer.record(tickets[39] as (typeof tickets)[number], 'rateLimited');
    const rate = pacer.state().getObject.ratePerSecond ?? 0;
    assert.ok(rate >= 19 && rate <= 20, `about half of 40/s, got ${rate}`);
  });
});

describe('Two worker processes sharing one Duo account', function () {
  this.timeout(120_000);
  // Duo's 300 modifications per minute at time scale 10: 50/s, a bucket of 10.
  const LIMIT_PER_MINUTE = 300;
  const TIME_SCALE = 10;
  const CALLS_PER_CLIENT = 150;
  let sandbox: DuoSandbox;
  let userIds: string[];

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 13, categoryLimits: { profile: 'unlimited', perMinute: { modify: LIMIT_PER_MINUTE }, burstSeconds: 2 }, timeScale: TIME_SCALE });
    userIds = Array.from({ length: 20 }, (_, i) => sandbox.store.createUser(new Map([['username', `shared${i}`]])).user_id);
  });
  after(() => sandbox.stop());

  const work = (duo: DuoClient, tag: string) => modifyLoad(duo, { modifications: CALLS_PER_CLIENT, lanes: 8, users: userIds, tag });

  async function runPair(makeClient: () => DuoClient): Promise<{ calls: number; rateLimited: number; seconds: number }> {
    await new Promise((r) => setTimeout(r, 300)); // the sandbox's bucket refills between runs
    const started = Date.now();
    const results = await Promise.all([work(makeClient(), 'a'), work(makeClient(), 'b')]);
    return { calls: results[0].calls + results[1].calls, rateLimited: results[0].rateLimited + results[1].rateLimited, seconds: (Date.now() - started) / 1000 };
  }

  it('each adapting on its own 429s, they settle under the shared limit without a 429 storm; fixed pacing at the limit does not', async () => {
    // Each process knows the limit but not that another one shares it: both start at 0.9 × the limit.
    const pacers: AccountPacer[] = [];
    const adaptive = await runPair(() => {
      const pacing = new AccountPacer({ limits: { modify: LIMIT_PER_MINUTE }, timeScale: TIME_SCALE });
      pacers.push(pacing);
      return new DuoClient({ ...sandbox.clientOptions(), pacing });
    });
    const limitPerSecond = (LIMIT_PER_MINUTE / 60) * TIME_SCALE;
    const fixed = await runPair(() => new DuoClient({ ...sandbox.clientOptions(), pacing: false, pacer: new RequestPacer(limitPerSecond * 0.9, 1) }));
    const share = (r: { calls: number; rateLimited: number }) => r.rateLimited / r.calls;
    console.log(`      adaptive: ${adaptive.rateLimited}/${adaptive.calls} calls got 429 (${(share(adaptive) * 100).toFixed(1)}%); fixed: ${fixed.rateLimited}/${fixed.calls} (${(share(fixed) * 100).toFixed(1)}%)`);
    // The control shows the setting is hard, but only where the fixed pair really offers its
    // 1.8 × the limit: a CPU too busy to send that barely overruns the limit, and there is nothing to compare.
    const fixedOffered = fixed.calls / fixed.seconds;
    if (fixedOffered >= 1.5 * limitPerSecond) assert.ok(share(fixed) > 0.2, 'the setting is hard: two fixed pacers at 0.9 × the limit meet many 429s');
    else console.log(`      (control not applicable: the fixed pair offered only ${fixedOffered.toFixed(1)}/s on this busy machine)`);
    assert.ok(share(adaptive) < 0.08, `adaptive pacers keep 429s rare, got ${(share(adaptive) * 100).toFixed(1)}%`);
    // Each adapts on its own 429s only; one cut sized from the burst estimate can bring both under the limit.
    assert.ok(pacers.some((p) => p.state().modify.decreases > 0), 'a process slowed down on its own 429s');
    const combined = pacers.reduce((sum, p) => sum + (p.state().modify.ratePerSecond ?? 0), 0);
    assert.ok(combined < 1.3 * limitPerSecond, `together they pace near the shared limit (${combined.toFixed(1)}/s vs ${limitPerSecond}/s)`);
  });
});

describe('Worker processes starting together on one Duo account (virtual time)', () => {
  // The initial sync of bench/duo-scenarios.ts, "4 connections on W workers": the bulk category
  // (50/min) at time scale 5, the sandbox's bucket with a minute's burst, 500 calls in pages of 5
  // that Temporal hands to any of the processes. One run depends on how pages fall on processes,
  // so the targets hold for the mean of ten runs (the benchmark's own measurement is one such run).
  for (const processes of [1, 2, 4]) {
    it(`${processes} process${processes > 1 ? 'es' : ''}: on average at most 2% of calls meet 429 and at least 90% of the limit is used`, async () => {
      const runs: SharedAccountResult[] = [];
      for (let seed = 1; seed <= 10; seed++) {
        runs.push(await simulateSharedAccount({ processes, lanes: 4, callsPerPage: 5, calls: 500, category: 'bulk', limitPerMinute: 50, timeScale: 5, burstSeconds: 60, requestMs: 100, seed }));
      }
      const mean = (f: (r: SharedAccountResult) => number) => runs.reduce((sum, r) => sum + f(r), 0) / runs.length;
      const share = mean((r) => r.rateLimited / (r.accepted + r.rateLimited));
      const used = mean((r) => r.utilisation);
      const what = `429s ${(share * 100).toFixed(2)}% of calls, limit used ${(used * 100).toFixed(0)}% (steady, without the initial burst: ${(mean((r) => r.steadyUtilisation) * 100).toFixed(0)}%)`;
      assert.ok(share <= 0.02, what);
      assert.ok(used >= 0.9, what);
    });
  }
});

describe('Waiting for the pacer', function () {
  this.timeout(30_000);
  let sandbox: DuoSandbox;
  before(async () => {
    sandbox = await startDuoSandbox({ seed: 17 });
  });
  after(() => sandbox.stop());

  it('tells the caller it is still alive while a request waits for its turn (an activity heartbeats instead of timing out)', async () => {
    let ticks = 0;
    // 60 get-page calls a minute: the third request waits about 2 s for its turn.
    const duo = new DuoClient({ ...sandbox.clientOptions(), pacing: new AccountPacer({ limits: { getPage: 60 } }), whileWaiting: { everyMs: 100, tick: () => (ticks += 1) } });
    await Promise.all([duo.listUsers({ limit: 1 }), duo.listUsers({ limit: 1 }), duo.listUsers({ limit: 1 })]);
    assert.ok(ticks >= 10, `ticked ${ticks} times during about 2 s of waiting`);
    const before = ticks;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(ticks, before, 'no ticks once nothing waits');
  });
});
