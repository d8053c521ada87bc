/** The streaming JSON directory index behind the file store: structure, edge cases, bounded memory. */
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createStore } from '../../src/stores';
import { readSpans, scanJsonDirectory } from '../../src/stores/json-index';
import { gc } from './contract';

describe('file store JSON index', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-json-index-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function scan(text: string | Buffer): Promise<{ texts: string[]; groups: unknown }> {
    const file = path.join(dir, 'd.json');
    await writeFile(file, text);
    const fh = await open(file, 'r');
    try {
      const seen: string[] = [];
      const result = await scanJsonDirectory(fh, (t) => seen.push(t));
      const texts = await readSpans(fh, result.users);
      assert.deepEqual(texts.map((t) => t.trimEnd()), seen, 'spans read back what the scan saw');
      return { texts: seen, groups: result.others.get('groups') };
    } finally {
      await fh.close();
    }
  }

  it('finds every user element, whatever its strings contain', async () => {
    const users = [
      { username: 'a"}],{[', email: 'x\\"@y' },
      { username: 'ünï-çødé ✓', attributes: { nested: ['[', ']', '{'] } },
      { username: '\\', phones: [] },
    ];
    const { texts, groups } = await scan(`\ufeff {\n "groups": [{"name": "g]\\"", "id": "1"}],\n "users" : [ ${users.map((u) => JSON.stringify(u, null, 1)).join(' ,\n')} ]\n}\n`);
    assert.deepEqual(texts.map((t) => JSON.parse(t) as unknown), users);
    assert.deepEqual(groups, [{ name: 'g]"', id: '1' }]);
  });

  it('handles elements that straddle the 1 MiB read chunks', async () => {
    const users = Array.from({ length: 3000 }, (_, i) => ({ username: `user-${i}`, attributes: { pad: 'x'.repeat(700 + (i % 13)) } }));
    const { texts } = await scan(JSON.stringify({ users }));
    assert.equal(texts.length, users.length);
    texts.forEach((t, i) => assert.equal((JSON.parse(t) as { username: string }).username, `user-${i}`));
  });

  it('accepts an empty object and empty arrays', async () => {
    assert.deepEqual((await scan('{}')).texts, []);
    assert.deepEqual((await scan('{"users":[],"groups":[]}')).texts, []);
    assert.deepEqual((await scan('')).texts, []);
  });

  for (const [name, text, message] of [
    ['a top-level array', '[{"username":"a"}]', /start with an object/],
    ['an unknown member', '{"users":[],"admins":[]}', /unrecognized member "admins"/],
    ['users that is not an array', '{"users":{"username":"a"}}', /"users" must be an array/],
    ['content after the object', '{"users":[]} {}', /after the top-level object/],
    ['a truncated file', '{"users":[{"username":"a"}', /ends before/],
    ['an empty element', '{"users":[{"username":"a"},,{"username":"b"}]}', /empty element/],
    ['two elements without a comma', '{"users":[{"username":"a"} {"username":"b"}]}', /not valid JSON: users\.0/],
  ] as const) {
    it(`the file store explains ${name}`, async () => {
      const file = path.join(dir, 'd.json');
      await writeFile(file, text);
      await assert.rejects(createStore({ kind: 'file', path: file }).check(), (err: Error) => {
        assert.match(err.message, message);
        assert.ok(err.message.includes(file), 'names the file');
        return true;
      });
    });
  }

  it('rejects the same username twice, case-insensitively', async () => {
    const file = path.join(dir, 'd.json');
    await writeFile(file, JSON.stringify({ users: [{ username: 'Bob' }, { username: 'alice' }, { username: 'bob' }] }));
    await assert.rejects(createStore({ kind: 'file', path: file }).check(), /lists user bob twice/);
  });

  it('looks store ids up by an index: reads the users it returns, not the whole file', async () => {
    const total = 5_000;
    const users = Array.from({ length: total }, (_, i) => ({
      ...(i % 2 === 0 ? { id: `uuid-${i}` } : {}),
      username: `user${String(i).padStart(5, '0')}`,
      email: `user${i}@example.com`,
    }));
    const file = path.join(dir, 'ids.json');
    const text = JSON.stringify({ users });
    await writeFile(file, text);
    const store = createStore({ kind: 'file', path: file });
    assert.ok(await store.getUser('user00000'), 'first read builds the index');

    const probe = await open(file, 'r');
    const handleProto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    const originalRead = handleProto.read;
    let bytesRead = 0;
    handleProto.read = async function (this: unknown, ...args: unknown[]) {
      const result = await originalRead.apply(this, args);
      bytesRead += result.bytesRead;
      return result;
    };
    let found;
    try {
      // An explicit id, a user without one (its store id is its username, exactly), a username that
      // belongs to a user with an id (not a store id), a differently-cased username, and no match.
      found = await store.lookupUsersByExternalId(['uuid-4000', 'user00001', 'user00002', 'USER00003', 'nobody']);
    } finally {
      handleProto.read = originalRead;
    }
    assert.deepEqual(found.map((u) => [u.externalId, u.username]), [['user00001', 'user00001'], ['uuid-4000', 'user04000']]);
    assert.ok(bytesRead < Buffer.byteLength(text) / 100, `read ${bytesRead} of ${Buffer.byteLength(text)} bytes for 2 users`);
  });

  it('keeps a few bytes per user, not the parsed directory', async function () {
    this.timeout(120_000);
    const total = 50_000;
    const users = Array.from({ length: total }, (_, i) => ({
      username: `user${String(i).padStart(6, '0')}`,
      email: `user${i}@example.com`,
      phones: [`+1555${String(i).padStart(7, '0')}`],
      givenName: 'Given',
      familyName: 'Family',
      attributes: { department: 'Engineering', title: 'Engineer', costCenter: `cc-${i % 97}` },
    }));
    const file = path.join(dir, 'big.json');
    const text = JSON.stringify({ users });
    await writeFile(file, text);
    const fileBytes = Buffer.byteLength(text);
    const settle = async (): Promise<number> => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setImmediate(r));
      }
      return process.memoryUsage().heapUsed;
    };
    const store = createStore({ kind: 'file', path: file });
    const before = await settle();
    const page = await store.listUsers({ kind: 'all' }, { pageSize: 100 });
    const after = await settle();
    assert.equal(page.items.length, 100);
    assert.equal((await store.getUser('user049999'))?.email, 'user49999@example.com');
    const retained = after - before;
    // The parsed directory would retain several times the file's size; the index a fraction of it.
    assert.ok(retained < fileBytes / 3, `retained ${(retained / 1e6).toFixed(1)} MB for a ${(fileBytes / 1e6).toFixed(1)} MB file`);
  });
});
