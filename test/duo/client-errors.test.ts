/**
 * How the client classifies failures (rate limit, outages, timeouts, garbage replies), the retry
 * advice it gives Temporal, and its transport rules (loopback-only http, user agent, exact bytes).
 */
import { strict as assert } from 'node:assert';
import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { DuoClient, DuoError, isDuoError, resolveDuoEndpoint, suggestedRetryDelayMs, toActivityFailure, DuoConfigError, type DuoErrorKind } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { fakeServer } from './helpers';

async function errorOf(promise: Promise<unknown>): Promise<DuoError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isDuoError(err), `expected DuoError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('DuoClient failures and retry advice', () => {
  let sandbox: DuoSandbox;
  let duo: DuoClient;

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 3 });
    duo = new DuoClient({ ...sandbox.clientOptions(), timeoutMs: 2000 });
  });
  afterEach(() => {
    sandbox.setFaults([]);
    sandbox.setRateLimit(null);
  });
  after(() => sandbox.stop());

  describe('rate limiting', () => {
    it("answers over-limit calls with 429/42901 in Duo's envelope, classified rateLimited and retryable", async () => {
      sandbox.setRateLimit({ requestsPerSecond: 0.01, burst: 2 });
      sandbox.resetStats();
      await duo.listUsers({ limit: 1 });
      await duo.listUsers({ limit: 1 });
      const err = await errorOf(duo.listUsers({ limit: 1 }));
      assert.equal(err.kind, 'rateLimited');
      assert.deepEqual([err.httpStatus, err.code, err.retryable], [429, 42901, true]);
      assert.equal(sandbox.stats().rateLimited, 1);
    });

    it('suggests 1 s doubling to 32 s plus up to 1 s of jitter, by attempt number', () => {
      const limited = new DuoError({ kind: 'rateLimited', operation: 'x', method: 'GET', path: '/p', httpStatus: 429 });
      assert.equal(suggestedRetryDelayMs(limited, 1, () => 0), 1000);
      assert.equal(suggestedRetryDelayMs(limited, 1, () => 0.999), 1999);
      assert.equal(suggestedRetryDelayMs(limited, 3, () => 0), 4000);
      assert.equal(suggestedRetryDelayMs(limited, 6, () => 0), 32_000);
      assert.equal(suggestedRetryDelayMs(limited, 40, () => 0.5), 32_500);
      const denied = new DuoError({ kind: 'permission', operation: 'x', method: 'POST', path: '/p', httpStatus: 403 });
      assert.equal(suggestedRetryDelayMs(denied, 1), undefined);
      assert.equal(suggestedRetryDelayMs(new Error('other'), 1), undefined);
    });

    it('converts to Temporal failures: retryable kinds carry nextRetryDelay, others are non-retryable', () => {
      const limited = new DuoError({ kind: 'rateLimited', operation: 'list users', method: 'GET', path: '/admin/v1/users', httpStatus: 429, code: 42901 });
      const f = toActivityFailure(limited, 2);
      assert.ok(f instanceof ApplicationFailure);
      assert.equal(f.type, 'DuoRateLimited');
      assert.equal(f.nonRetryable, false);
      assert.ok(typeof f.nextRetryDelay === 'number' && f.nextRetryDelay >= 2000 && f.nextRetryDelay < 3000);
      const denied = toActivityFailure(new DuoError({ kind: 'permission', operation: 'x', method: 'POST', path: '/p', missingPermission: 'Grant write resource' }), 1);
      assert.ok(denied instanceof ApplicationFailure);
      assert.deepEqual([denied.type, denied.nonRetryable, denied.nextRetryDelay], ['DuoPermission', true, undefined]);
      const plain = new Error('not duo');
      assert.equal(toActivityFailure(plain, 1), plain);
    });
  });

  describe('injected faults', () => {
    const cases: Array<[string, Parameters<DuoSandbox['setFaults']>[0][number], DuoErrorKind]> = [
      ['a load balancer 503 page', { errorRate: 1, errorStatus: 503 }, 'unavailable'],
      ["Duo's JSON 500 on a read", { errorRate: 1, errorStatus: 500 }, 'unavailable'],
      ['a connection reset', { resetRate: 1 }, 'unavailable'],
      ['a forced 429', { rateLimitRate: 1 }, 'rateLimited'],
    ];
    for (const [name, rule, kind] of cases) {
      it(`${name} → ${kind} (retryable)`, async () => {
        sandbox.setFaults([rule]);
        const err = await errorOf(duo.listUsers());
        assert.equal(err.kind, kind);
        assert.equal(err.retryable, true);
      });
    }

    it('a hung request → timeout after the client timeout', async () => {
      // Far apart, so a busy machine answering the healthy call late cannot pass for a timeout.
      sandbox.setFaults([{ endpoint: 'GET /admin/v1/groups', timeoutRate: 1, hangMs: 20_000 }]);
      const quick = new DuoClient({ ...sandbox.clientOptions(), timeoutMs: 1_000 });
      const started = Date.now();
      const err = await errorOf(quick.listGroups());
      assert.equal(err.kind, 'timeout');
      assert.ok(Date.now() - started < 15_000);
      await quick.listUsers({ limit: 1 });
    });

    it('"fail the Nth call" fails exactly that call of that endpoint', async () => {
      sandbox.setFaults([{ endpoint: 'POST /admin/v1/groups', failCalls: [2], failWith: 'error', errorStatus: 502 }]);
      await duo.createGroup({ name: 'nth-1' });
      const err = await errorOf(duo.createGroup({ name: 'nth-2' }));
      assert.deepEqual([err.kind, err.httpStatus], ['unavailable', 502]);
      await duo.createGroup({ name: 'nth-3' });
      await duo.listUsers({ limit: 1 });
      assert.deepEqual([...sandbox.store.groups.values()].map((g) => g.name).filter((n) => n.startsWith('nth-')), ['nth-1', 'nth-3'], 'the failed call changed nothing');
    });

    it('fault dice are reproducible with the same seed', async () => {
      const pattern = async (seed: number): Promise<string> => {
        sandbox.setFaults([{ endpoint: 'GET /admin/v1/users', errorRate: 0.5, errorStatus: 500 }], seed);
        let out = '';
        for (let i = 0; i < 24; i++) out += await duo.listUsers({ limit: 1 }).then(() => '.', () => 'x');
        return out;
      };
      const a = await pattern(99);
      assert.equal(await pattern(99), a);
      assert.match(a, /x/);
      assert.match(a, /\./);
      assert.notEqual(await pattern(100), a);
    });

    it('latency is added to every request', async () => {
      sandbox.setLatency(60);
      const started = Date.now();
      await duo.listUsers({ limit: 1 });
      sandbox.setLatency(0);
      assert.ok(Date.now() - started >= 55);
    });
  });

  describe('replies that are not Duo', () => {
    it('a refused connection is unavailable and the connection test says "unreachable"', async () => {
      const fake = await fakeServer((_req, res) => res.end());
      await fake.stop();
      const client = new DuoClient({ apiHost: fake.apiHost, integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: 'x'.repeat(40) });
      assert.equal((await errorOf(client.listUsers())).kind, 'unavailable');
      const report = await client.testConnection();
      assert.deepEqual([report.ok, report.reachable.ok], [false, false]);
      assert.equal(report.reachable.errorKind, 'unavailable');
    });

    it('a 200 with an unexpected shape or HTML is invalidResponse; a non-advancing page is refused', async () => {
      let body = '';
      const fake = await fakeServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
      });
      const client = new DuoClient({ apiHost: fake.apiHost, integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: 'x'.repeat(40) });
      try {
        body = JSON.stringify({ stat: 'OK', response: [{ nope: 1 }] });
        const shape = await errorOf(client.listUsers());
        assert.equal(shape.kind, 'invalidResponse');
        assert.match(shape.message, /unexpected response shape/);
        body = '<html>login</html>';
        assert.equal((await errorOf(client.listUsers())).kind, 'invalidResponse');
        body = JSON.stringify({ stat: 'OK', response: [], metadata: { total_objects: 5, next_offset: 0 } });
        const pages = client.iterateGroups();
        await pages.next();
        assert.equal((await errorOf(pages.next())).kind, 'invalidResponse');
      } finally {
        await fake.stop();
      }
    });
  });

  describe('transport', () => {
    it('network errors keep method, host, path and status only: the Authorization value appears nowhere in a serialized error', async () => {
      const sentAuthorizations: string[] = [];
      let hang = false;
      const fake = await fakeServer((req) => {
        sentAuthorizations.push(String(req.headers['authorization']));
        if (!hang) req.socket.destroy();
      });
      const secretKey = 's'.repeat(40);
      const client = new DuoClient({ apiHost: fake.apiHost, integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey, timeoutMs: 200 });
      try {
        const reset = await errorOf(client.createUser({ username: 'someone' }));
        hang = true;
        const timedOut = await errorOf(client.getUser('DU123'));
        assert.deepEqual([reset.kind, timedOut.kind], ['unavailable', 'timeout']);
        assert.equal(sentAuthorizations.length, 2);
        for (const err of [reset, timedOut]) {
          const chain: unknown[] = [];
          for (let e: unknown = err; e !== undefined && chain.length < 10; e = e instanceof Error ? e.cause : undefined) chain.push(e);
          assert.ok(chain.length >= 2, 'the cause (what the network said) is kept');
          for (const link of chain) {
            for (const text of [JSON.stringify(link), inspect(link, { depth: Infinity, showHidden: true }), String(link), link instanceof Error ? String(link.stack) : '']) {
              for (const auth of sentAuthorizations) {
                assert.ok(!text.includes(auth), `Authorization value found in ${text.slice(0, 200)}`);
                assert.ok(!text.includes(auth.replace(/^Basic /, '')), 'base64 credentials found');
              }
              assert.ok(!text.includes(secretKey), 'secret key found');
            }
          }
          const cause = err.cause as Record<string, unknown>;
          assert.equal(cause['host'], fake.apiHost);
          assert.equal(cause['path'], err.path);
          assert.equal(cause['method'], err.method);
        }
      } finally {
        await fake.stop();
      }
    });

    it('uses plain http only for loopback hosts with a port; everything else is https', () => {
      assert.equal(resolveDuoEndpoint('127.0.0.1:43127').baseUrl, 'http://127.0.0.1:43127');
      assert.equal(resolveDuoEndpoint('LOCALHOST:8443').baseUrl, 'http://localhost:8443');
      assert.equal(resolveDuoEndpoint('[::1]:8443').baseUrl, 'http://[::1]:8443');
      assert.equal(resolveDuoEndpoint('127.0.0.1').baseUrl, 'https://127.0.0.1');
      assert.equal(resolveDuoEndpoint('10.0.0.5:8443').baseUrl, 'https://10.0.0.5:8443');
      assert.equal(resolveDuoEndpoint('API-ABC123.duosecurity.com').baseUrl, 'https://api-abc123.duosecurity.com');
      assert.equal(resolveDuoEndpoint('API-ABC123.duosecurity.com').signedHost, 'api-abc123.duosecurity.com');
      assert.throws(() => resolveDuoEndpoint('https://api-abc.duosecurity.com'), DuoConfigError);
      assert.throws(() => resolveDuoEndpoint('api-abc.duosecurity.com/admin'), DuoConfigError);
      assert.throws(() => resolveDuoEndpoint('127.0.0.1:70000'), DuoConfigError);
    });

    it('sends the signed Date, its user agent, no query for parameterless GETs, and JSON bodies byte for byte', async () => {
      const seen: Array<{ method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }> = [];
      const fake = await fakeServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ stat: 'OK', response: { group_id: 'DG1', name: 'n', desc: '', status: 'Active' } }));
        });
      });
      try {
        const client = new DuoClient({ apiHost: fake.apiHost, integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: 'x'.repeat(40), now: () => new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) });
        await client.getGroup('DG1');
        await client.createGroup({ name: 'Ünïcode & "quotes"', desc: 'd' });
        const [get, post] = seen;
        assert.equal(get?.url, '/admin/v2/groups/DG1');
        assert.equal(get?.headers['date'], 'Tue, 02 Jan 2024 03:04:05 GMT');
        assert.match(String(get?.headers['user-agent']), /^duo-sync\/\d+\.\d+\.\d+/);
        assert.equal(post?.headers['content-type'], 'application/json');
        assert.equal(post?.body, JSON.stringify({ name: 'Ünïcode & "quotes"', desc: 'd' }));
      } finally {
        await fake.stop();
      }
    });
  });
});
