/** Client-side pacing against the sandbox's per-account rate limit. */
import assert from 'node:assert/strict';
import { DuoClient, RequestPacer } from '../../src/duo';
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
