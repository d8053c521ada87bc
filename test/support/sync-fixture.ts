/**
 * A connection wired to real parts for workflow tests: an in-process Duo sandbox, a JSON file
 * store in a temp dir, and a connection config whose secret key is a reference to an environment
 * variable set here (the worker runs in this process, so the activity resolves it).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionConfigSchema, type ConnectionConfig, type ConnectionConfigInput } from '../../src/domain/connection';
import { startDuoSandbox, type DuoSandbox, type DuoSandboxOptions } from '../../src/sandbox';
import type { UserRecord } from '../../src/sandbox/store';
import type { DirectoryFile } from '../../src/stores/file';

export type FileUser = NonNullable<DirectoryFile['users']>[number];

/**
 * A distinct phone number per user and prefix (several people with one number are a PhoneConflict):
 * `+1555` and the index for the default prefix, `+1556`, three digits of the prefix and the index otherwise.
 */
function testPhone(prefix: string, i: number): string {
  if (prefix === 'user') return `+1555${String(i).padStart(7, '0')}`;
  const tag = [...prefix].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 1000, 7);
  return `+1556${String(tag).padStart(3, '0')}${String(i).padStart(4, '0')}`;
}

export function makeUsers(n: number, prefix = 'user', start = 0): FileUser[] {
  return Array.from({ length: n }, (_, k) => {
    const i = start + k;
    return {
      username: `${prefix}${i}`,
      email: `${prefix}${i}@example.org`,
      phones: [testPhone(prefix, i)],
      givenName: `Given${i}`,
      familyName: `Family${i}`,
      enabled: true,
      groups: ['staff'],
    };
  });
}

export interface SyncFixture {
  connectionId: string;
  sandbox: DuoSandbox;
  storePath: string;
  config: ConnectionConfig;
  writeUsers(users: FileUser[]): void;
  duoUser(username: string): UserRecord | undefined;
  duoUsernames(): string[];
  /** Runs `fn` first on cleanup (workers and entities the tests started for this fixture). */
  onCleanup(fn: () => Promise<void>): void;
  cleanup(): Promise<void>;
}

export interface FixtureOptions {
  users?: FileUser[];
  sandbox?: DuoSandboxOptions;
  config?: Partial<Omit<ConnectionConfigInput, 'connectionId' | 'duo' | 'store'>>;
}

export async function makeSyncFixture(options: FixtureOptions = {}): Promise<SyncFixture> {
  const connectionId = `c-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'duo-sync-test-'));
  const storePath = join(dir, 'directory.json');
  const writeUsers = (users: FileUser[]) => writeFileSync(storePath, JSON.stringify({ users, groups: [{ id: 'staff', name: 'staff' }] }));
  writeUsers(options.users ?? []);
  const sandbox = await startDuoSandbox({ seed: 7, ...options.sandbox });
  // Under the worker's default secret allow-list (DUO_SYNC_SECRET_ENV_PREFIXES=DUO_SYNC_).
  const secretVar = `DUO_SYNC_TEST_SKEY_${connectionId.replace(/-/g, '_').toUpperCase()}`;
  process.env[secretVar] = sandbox.account.secretKey;
  const config = ConnectionConfigSchema.parse({
    connectionId,
    duo: { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { env: secretVar } },
    store: { kind: 'file', path: storePath },
    userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete' },
    rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
    ...options.config,
  });
  const cleanups: (() => Promise<void>)[] = [];
  return {
    connectionId,
    sandbox,
    storePath,
    config,
    writeUsers,
    duoUser(username) {
      const id = sandbox.store.findUserIdByName(username);
      return id ? sandbox.store.users.get(id) : undefined;
    },
    duoUsernames() {
      return [...sandbox.store.users.values()].map((u) => u.username).sort();
    },
    onCleanup(fn) {
      cleanups.push(fn);
    },
    async cleanup() {
      for (const fn of cleanups.splice(0).reverse()) await fn();
      delete process.env[secretVar];
      await sandbox.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Call inside a `describe`: fixtures made through the returned function are cleaned up after each
 * test (sandbox stopped, store directory removed), whatever the test's outcome.
 */
export function fixturesPerTest(): (options?: FixtureOptions) => Promise<SyncFixture> {
  const made: SyncFixture[] = [];
  afterEach(async () => {
    await Promise.all(made.splice(0).map((fx) => fx.cleanup()));
  });
  return async (options = {}) => {
    const fx = await makeSyncFixture(options);
    made.push(fx);
    return fx;
  };
}
