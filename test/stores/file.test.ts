/** File store: the shared contract, plus atomic writes, serialised writers and re-reading edits. */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import YAML from 'yaml';
import { createStore, type DirectoryFile } from '../../src/stores';
import { largeDirectoryContract, storeContract, type StoreHarness } from './contract';
import type { Dataset } from './fixtures';

function toDirectoryFile(data: Dataset): DirectoryFile {
  const users: NonNullable<DirectoryFile['users']> = [];
  for (const u of data.users) {
    users.push({
      id: `id-${u.username}`,
      username: u.username,
      ...(u.email ? { email: u.email } : {}),
      phones: u.phones ?? [],
      ...(u.givenName ? { givenName: u.givenName } : {}),
      ...(u.familyName ? { familyName: u.familyName } : {}),
      ...(u.displayName ? { displayName: u.displayName } : {}),
      enabled: u.enabled ?? true,
      groups: u.groups ?? [],
      attributes: u.title ? { title: u.title } : {},
    });
  }
  return { users, groups: data.groups.map((g) => ({ id: `gid-${g.name}`, name: g.name, ...(g.description ? { description: g.description } : {}) })) };
}

const fileHarness: StoreHarness = {
  name: 'file',
  async start(data) {
    const dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-file-store-'));
    const file = path.join(dir, 'directory.json');
    await writeFile(file, JSON.stringify(toDirectoryFile(data)));
    return {
      store: (o) => createStore({ kind: 'file', path: file, readOnly: o?.readOnly ?? false }),
      unreachable: () => createStore({ kind: 'file', path: path.join(dir, 'missing', 'directory.json') }),
      stop: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

storeContract(fileHarness);
largeDirectoryContract(fileHarness);

describe('file store specifics', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'duo-sync-file-store-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('serialises concurrent writers and leaves no temp files behind', async () => {
    const file = path.join(dir, 'd.json');
    await writeFile(file, JSON.stringify({ users: [], groups: [] }));
    const a = createStore({ kind: 'file', path: file });
    const b = createStore({ kind: 'file', path: file });
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).createUser({ username: `u${i}` })));
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { users: unknown[] };
    assert.equal(parsed.users.length, 20);
    assert.deepEqual(await readdir(dir), ['d.json']);
  });

  it('picks up edits made by someone else', async () => {
    const file = path.join(dir, 'd.json');
    await writeFile(file, JSON.stringify({ users: [{ username: 'x' }] }));
    const s = createStore({ kind: 'file', path: file });
    assert.equal((await s.listUsers({ kind: 'all' })).items.length, 1);
    await writeFile(file, JSON.stringify({ users: [{ username: 'x' }, { username: 'y', enabled: false }] }));
    const items = (await s.listUsers({ kind: 'all' })).items;
    assert.deepEqual(items.map((u) => [u.username, u.enabled]), [['x', true], ['y', false]]);
  });

  it('reads and writes YAML by extension', async () => {
    const file = path.join(dir, 'd.yaml');
    await writeFile(file, YAML.stringify({ users: [{ username: 'yaml-user', email: 'y@example.com' }], groups: [] }));
    const s = createStore({ kind: 'file', path: file });
    assert.equal((await s.getUser('yaml-user'))?.email, 'y@example.com');
    await s.updateUser('yaml-user', { email: null });
    const doc = YAML.parse(await readFile(file, 'utf8')) as { users: { email?: string }[] };
    assert.equal(doc.users[0]?.email, undefined);
  });

  it('explains an invalid file', async () => {
    const file = path.join(dir, 'd.json');
    await writeFile(file, JSON.stringify({ users: [{ email: 'no-username@example.com' }] }));
    await assert.rejects(createStore({ kind: 'file', path: file }).check(), /invalid entry at users\.0\.username/);
  });
});
