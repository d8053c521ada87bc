/**
 * SCIM filter values with `"`, `\`, control characters and non-ASCII text against a server that
 * parses RFC 7644 §3.4.2.2 filters for real (string literals are RFC 7159 JSON strings): every
 * such username is found by getUser, by a batched lookup and by a scope filter, and only itself.
 * The test server is checked too: a literal escaped wrongly is a 400 there, as on a real server.
 */
import assert from 'node:assert/strict';
import { createStore, type IdentityStore, type Scope } from '../../src/stores';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
import { collect } from '../stores/contract';

const TOKEN_ENV = 'DUO_SYNC_TEST_SAFETY_SCIM_FILTER_TOKEN';
const TRICKY = [
  'quote"inside',
  '"leading-quote',
  'back\\slash',
  'trailing-backslash\\',
  'escaped-quote\\"mix',
  'tab\there',
  'josé',
  'Zoë Ünïcödé',
  '日本語ユーザー',
  'emoji😀user',
];
const DECOYS = ['jose', 'quote', 'back', 'trailing-backslash', 'escaped-quote'];

describe('safety: SCIM filter values are JSON string literals a conforming server reads back exactly', function () {
  this.timeout(30_000);
  let server: ScimTestServer;
  let store: IdentityStore;
  before(async () => {
    process.env[TOKEN_ENV] = 'filter-token';
    server = await startScimServer({ bearerTokens: ['filter-token'] });
    server.seed([...TRICKY, ...DECOYS].map((userName) => ({ userName, title: TRICKY.includes(userName) ? 'Tricky' : 'Decoy' })), []);
    store = createStore({ kind: 'scim', baseUrl: server.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 });
  });
  after(async () => {
    await store?.close();
    await server?.close();
    delete process.env[TOKEN_ENV];
  });

  it('getUser finds each tricky username, and only it', async () => {
    for (const name of TRICKY) assert.equal((await store.getUser(name))?.username, name, `getUser(${JSON.stringify(name)})`);
  });

  it('a batched lookup finds every tricky username, and no decoy', async () => {
    const found = (await store.lookupUsers(TRICKY)).map((u) => u.username).sort();
    assert.deepEqual(found, [...TRICKY].sort());
  });

  it('scope filters with such values match exactly (eq, startsWith, contains, endsWith)', async () => {
    const run = async (scope: Scope): Promise<string[]> => (await collect((p) => store.listUsers(scope, p), 50)).items.map((u) => u.username).sort();
    for (const name of TRICKY) assert.deepEqual(await run({ kind: 'filter', filter: { attr: 'username', op: 'eq', value: name } }), [name]);
    assert.deepEqual(await run({ kind: 'filter', filter: { attr: 'username', op: 'contains', value: '"' } }), ['"leading-quote', 'escaped-quote\\"mix', 'quote"inside']);
    assert.deepEqual(await run({ kind: 'filter', filter: { attr: 'username', op: 'endsWith', value: '\\' } }), ['trailing-backslash\\']);
    assert.deepEqual(await run({ kind: 'filter', filter: { and: [{ attr: 'username', op: 'startsWith', value: 'jos' }, { not: { attr: 'title', op: 'eq', value: 'Decoy' } }] } }), ['josé']);
  });

  it('the test server parses like a real one: a wrongly escaped literal is a 400 invalidFilter', async () => {
    const get = async (filter: string): Promise<{ status: number; body: { scimType?: string; totalResults?: number; Resources?: { userName: string }[] } }> => {
      const res = await fetch(`${server.baseUrl}/Users?filter=${encodeURIComponent(filter)}`, { headers: { Authorization: 'Bearer filter-token' } });
      return { status: res.status, body: (await res.json()) as { scimType?: string; totalResults?: number; Resources?: { userName: string }[] } };
    };
    // An unescaped quote ends the literal: what follows is not a filter.
    const broken = await get('userName eq "quote"inside"');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.scimType, 'invalidFilter');
    // `\\` is one backslash; a lone `\` before the closing quote escapes it, leaving the literal open.
    assert.equal((await get('userName eq "trailing-backslash\\"')).status, 400);
    const ok = await get('userName eq "trailing-backslash\\\\"');
    assert.deepEqual(ok.body.Resources?.map((u) => u.userName), ['trailing-backslash\\']);
    const unicode = await get('userName eq "jos\\u00e9"');
    assert.deepEqual(unicode.body.Resources?.map((u) => u.userName), ['josé']);
  });
});
