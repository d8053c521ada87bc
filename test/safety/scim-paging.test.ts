/**
 * SCIM paging against a server that caps `count` (RFC 7644 §3.4.2.4) or pages wrongly: listings
 * and batched lookups follow startIndex/itemsPerPage/totalResults to the end, and a short or
 * non-advancing answer is a StoreError('incomplete'), never a shorter list of users (a lookup
 * that came back short would make present users look gone to the deprovision pass).
 */
import assert from 'node:assert/strict';
import { createStore, StoreError, type IdentityStore, type StoreConfig } from '../../src/stores';
import { startScimServer, type ScimServerOptions, type ScimTestServer } from '../support/scim-server';
import { collect } from '../stores/contract';

const TOKEN_ENV = 'DUO_SYNC_TEST_SAFETY_SCIM_TOKEN';
const USERS = Array.from({ length: 60 }, (_, i) => `user${String(i).padStart(2, '0')}`);

async function serve(options: ScimServerOptions): Promise<ScimTestServer> {
  const server = await startScimServer({ bearerTokens: ['paging-token'], ...options });
  server.seed(
    USERS.map((userName) => ({ userName, email: `${userName}@example.com` })),
    [],
  );
  return server;
}

function storeFor(server: ScimTestServer, extra: Partial<Extract<StoreConfig, { kind: 'scim' }>> = {}): IdentityStore {
  return createStore({ kind: 'scim', baseUrl: server.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000, ...extra });
}

async function rejectsIncomplete(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    assert.equal(err.kind, 'incomplete', err.message);
    assert.equal(err.retryable, true);
    assert.match(err.message, /SCIM http:\/\/127\.0\.0\.1/);
    return true;
  });
}

describe('safety: SCIM paging follows startIndex/itemsPerPage/totalResults', function () {
  this.timeout(30_000);
  before(() => {
    process.env[TOKEN_ENV] = 'paging-token';
  });
  after(() => {
    delete process.env[TOKEN_ENV];
  });

  describe('a server that caps count at 20', () => {
    let server: ScimTestServer;
    let store: IdentityStore;
    before(async () => {
      server = await serve({ maxCount: 20 });
      store = storeFor(server);
    });
    after(async () => {
      await store?.close();
      await server?.close();
    });

    it('lists all 60 users, none twice, though every page asked for 100', async () => {
      const { items, pages } = await collect((p) => store.listUsers({ kind: 'all' }, p), 100);
      assert.equal(items.length, 60);
      assert.deepEqual(items.map((u) => u.username).sort(), USERS);
      assert.equal(pages, 3);
    });

    it('finds all 60 users in a batched lookup (default batch of 50, and one batch of 200)', async () => {
      assert.deepEqual((await store.lookupUsers(USERS)).map((u) => u.username).sort(), USERS);
      const oneBatch = storeFor(server, { lookupBatchSize: 200 });
      try {
        assert.deepEqual((await oneBatch.lookupUsers([...USERS, 'nobody'])).map((u) => u.username).sort(), USERS);
      } finally {
        await oneBatch.close();
      }
    });
  });

  describe('a server whose paging is broken', () => {
    it('a server that ignores startIndex: listing and lookups fail as incomplete', async () => {
      const server = await serve({ maxCount: 20, listFault: 'ignoreStartIndex' });
      const store = storeFor(server);
      try {
        const first = await store.listUsers({ kind: 'all' }, { pageSize: 100 });
        assert.equal(first.items.length, 20);
        assert.ok(first.nextCursor);
        await rejectsIncomplete(store.listUsers({ kind: 'all' }, { cursor: first.nextCursor, pageSize: 100 }));
        await rejectsIncomplete(store.lookupUsers(USERS));
      } finally {
        await store.close();
        await server.close();
      }
    });

    it('a server whose later pages come back empty while totalResults counts them: incomplete, not fewer users', async () => {
      const server = await serve({ maxCount: 20, listFault: 'emptyAfterFirstPage' });
      const store = storeFor(server);
      try {
        const first = await store.listUsers({ kind: 'all' }, { pageSize: 100 });
        assert.ok(first.nextCursor, 'totalResults says there is more');
        await rejectsIncomplete(store.listUsers({ kind: 'all' }, { cursor: first.nextCursor, pageSize: 100 }));
        await rejectsIncomplete(store.lookupUsers(USERS));
        assert.equal((await store.getUser('user05'))?.username, 'user05');
      } finally {
        await store.close();
        await server.close();
      }
    });
  });
});
