/**
 * SCIM store against a real SCIM 2.0 service provider (SCIMMY + express, test/support/scim-server.ts):
 * the shared contract, 10k users through startIndex/count paging, RFC 7644 filter quoting, and
 * OAuth client credentials with token refresh.
 */
import assert from 'node:assert/strict';
import { createStore, quoteScimValue, toScimFilter, StoreError, type StoreConfig } from '../../src/stores';
import { freePort } from '../support/openldap';
import { startScimServer, type ScimSeedUser } from '../support/scim-server';
import { largeDirectoryContract, storeContract, type StoreHarness } from './contract';
import type { Dataset } from './fixtures';

const TOKEN_ENV = 'DUO_SYNC_TEST_SCIM_TOKEN';
const BAD_TOKEN_ENV = 'DUO_SYNC_TEST_SCIM_BAD_TOKEN';
const CLIENT_SECRET_ENV = 'DUO_SYNC_TEST_SCIM_CLIENT_SECRET';

function* toScim(data: Dataset): Generator<ScimSeedUser> {
  for (const u of data.users) {
    yield {
      userName: u.username,
      ...(u.givenName ? { givenName: u.givenName } : {}),
      ...(u.familyName ? { familyName: u.familyName } : {}),
      ...(u.displayName ? { displayName: u.displayName } : {}),
      ...(u.email ? { email: u.email } : {}),
      phones: u.phones ?? [],
      active: u.enabled ?? true,
      ...(u.title ? { title: u.title } : {}),
      groups: u.groups ?? [],
    };
  }
}

function bearerConfig(baseUrl: string, tokenEnv = TOKEN_ENV, readOnly = false): StoreConfig {
  return { kind: 'scim', baseUrl, auth: { kind: 'bearer', token: { env: tokenEnv } }, readOnly, timeoutMs: 5000 };
}

const scimHarness: StoreHarness = {
  name: 'scim',
  async start(data) {
    process.env[TOKEN_ENV] = 'test-token';
    process.env[BAD_TOKEN_ENV] = 'bad-token';
    const server = await startScimServer({ bearerTokens: ['test-token'] });
    server.seed(toScim(data), data.groups);
    const closedPort = await freePort();
    return {
      store: (o) => createStore(bearerConfig(server.baseUrl, TOKEN_ENV, o?.readOnly ?? false)),
      unreachable: () => createStore(bearerConfig(`http://127.0.0.1:${closedPort}/scim/v2`)),
      badAuth: () => createStore(bearerConfig(server.baseUrl, BAD_TOKEN_ENV)),
      stop: () => server.close(),
    };
  },
};

storeContract(scimHarness);
largeDirectoryContract(scimHarness);

describe('scim filter translation (RFC 7644 §3.4.2.2)', () => {
  it('quotes values as JSON strings so they cannot close the literal', () => {
    assert.equal(quoteScimValue('x" or userName pr or "'), '"x\\" or userName pr or \\""');
    assert.equal(quoteScimValue('back\\slash'), '"back\\\\slash"');
    assert.equal(
      toScimFilter({ and: [{ attr: 'userName', op: 'startsWith', value: 'a"b' }, { not: { attr: 'title', op: 'eq', value: 'x' } }, { attr: 'emails', op: 'present' }] }),
      'userName sw "a\\"b" and not (title eq "x") and emails pr',
    );
    assert.equal(
      toScimFilter({ and: [{ or: [{ attr: 'a', op: 'eq', value: '1' }, { attr: 'b', op: 'eq', value: '2' }] }, { not: { or: [{ attr: 'c', op: 'present' }, { attr: 'd', op: 'present' }] } }] }),
      '(a eq "1" or b eq "2") and not (c pr or d pr)',
    );
  });
});

describe('scim store with OAuth client credentials', function () {
  this.timeout(30_000);
  let server: Awaited<ReturnType<typeof startScimServer>>;
  before(async () => {
    process.env[CLIENT_SECRET_ENV] = 'client-secret';
    server = await startScimServer({ oauthClients: { 'duo-sync': 'client-secret' }, tokenLifetimeSeconds: 2 });
    server.seed([{ userName: 'alice', email: 'alice@example.com' }], []);
  });
  after(() => server?.close());

  const oauthConfig = (secretEnv: string, clientAuth: 'basic' | 'body' = 'basic'): StoreConfig => ({
    kind: 'scim',
    baseUrl: server.baseUrl,
    auth: { kind: 'oauth', tokenUrl: server.tokenUrl, clientId: 'duo-sync', clientSecret: { env: secretEnv }, clientAuth },
  });

  it('gets a token, reuses it, and refreshes it before it expires', async () => {
    const store = createStore(oauthConfig(CLIENT_SECRET_ENV));
    const before = server.tokensIssued();
    assert.equal((await store.getUser('alice'))?.email, 'alice@example.com');
    await store.getUser('alice');
    assert.equal(server.tokensIssued() - before, 1, 'token reused');
    // 2 s lifetime: refreshed at half-life, before the server would reject it.
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(await store.getUser('alice'));
    assert.equal(server.tokensIssued() - before, 2, 'token refreshed');
    await store.close();
  });

  it('sends client credentials in the body when configured', async () => {
    const store = createStore(oauthConfig(CLIENT_SECRET_ENV, 'body'));
    assert.ok(await store.getUser('alice'));
    await store.close();
  });

  it('reports a refused client as auth_failed without the secret', async () => {
    process.env.DUO_SYNC_TEST_SCIM_WRONG_SECRET = 'wrong-secret';
    const store = createStore(oauthConfig('DUO_SYNC_TEST_SCIM_WRONG_SECRET'));
    await assert.rejects(store.check(), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.kind, 'auth_failed');
      assert.match(err.message, /invalid_client/);
      assert.match(err.message, /127\.0\.0\.1/);
      assert.doesNotMatch(err.message, /wrong-secret/);
      return true;
    });
    await store.close();
  });
});
