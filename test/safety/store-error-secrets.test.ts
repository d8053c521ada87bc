/**
 * Store errors carry what failed (method, host, path, status, error code), never the HTTP client's
 * request config: axios errors hold the request headers (bearer tokens, Basic client credentials)
 * and body (client_secret), and anything kept in `cause` ends up in logs and Temporal failures.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { inspect } from 'node:util';
import { createStore, StoreError, type StoreConfig } from '../../src/stores';
import { freePort } from '../support/openldap';

const TOKEN = 'sekrit-bearer-token-4f1c9a';
const CLIENT_SECRET = 'sekrit-client-secret-77b2e0';
const TOKEN_ENV = 'DUO_SYNC_TEST_SAFETY_LEAK_TOKEN';
const SECRET_ENV = 'DUO_SYNC_TEST_SAFETY_LEAK_CLIENT_SECRET';

/** Everything an error shows when logged or serialised: JSON of each error in the cause chain, and util.inspect of the whole. */
function everythingShown(err: unknown): string {
  const parts = [inspect(err, { depth: 20, showHidden: true })];
  for (let e: unknown = err, i = 0; e !== undefined && e !== null && i < 20; i++) {
    parts.push(JSON.stringify(e, Object.getOwnPropertyNames(e)));
    parts.push(String(e));
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join('\n');
}

/** A TCP server that accepts and immediately resets every connection: a network error mid-request. */
async function resettingServer(): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { port: address.port, server };
}

async function failure(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected StoreError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('safety: store errors never keep request config, headers or bodies', function () {
  this.timeout(30_000);
  let reset: { port: number; server: Server };
  before(async () => {
    process.env[TOKEN_ENV] = TOKEN;
    process.env[SECRET_ENV] = CLIENT_SECRET;
    reset = await resettingServer();
  });
  after(async () => {
    delete process.env[TOKEN_ENV];
    delete process.env[SECRET_ENV];
    await new Promise((resolve) => reset?.server.close(resolve));
  });

  for (const [label, port] of [
    ['connection refused', async () => freePort()],
    ['connection reset mid-request', async () => reset.port],
  ] as const) {
    it(`SCIM with a bearer token, ${label}: the error names method, host and path, and not the token`, async () => {
      const p = await port();
      const config: StoreConfig = { kind: 'scim', baseUrl: `http://127.0.0.1:${p}/scim/v2`, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 };
      const store = createStore(config);
      try {
        const err = await failure(store.lookupUsers(['alice']));
        assert.equal(err.kind, 'unavailable');
        const shown = everythingShown(err);
        assert.ok(!shown.includes(TOKEN), `the bearer token leaks:\n${shown}`);
        assert.match(shown, /GET/);
        assert.match(shown, new RegExp(`127\\.0\\.0\\.1:${p}`));
        assert.match(shown, /\/scim\/v2\/Users/);
      } finally {
        await store.close();
      }
    });

    for (const clientAuth of ['basic', 'body'] as const) {
      it(`SCIM with OAuth (${clientAuth}), token endpoint ${label}: the error does not hold the client secret`, async () => {
        const p = await port();
        const config: StoreConfig = {
          kind: 'scim',
          baseUrl: `http://127.0.0.1:${p}/scim/v2`,
          auth: { kind: 'oauth', tokenUrl: `http://127.0.0.1:${p}/oauth/token`, clientId: 'duo-sync', clientSecret: { env: SECRET_ENV }, clientAuth },
          timeoutMs: 5000,
        };
        const store = createStore(config);
        try {
          const err = await failure(store.check());
          assert.equal(err.kind, 'unavailable');
          const shown = everythingShown(err);
          const basic = Buffer.from(`duo-sync:${CLIENT_SECRET}`).toString('base64');
          assert.ok(!shown.includes(CLIENT_SECRET) && !shown.includes(basic), `the client secret leaks:\n${shown}`);
          assert.match(shown, /POST/);
          assert.match(shown, /\/oauth\/token/);
        } finally {
          await store.close();
        }
      });
    }
  }
});
