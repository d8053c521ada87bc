/**
 * The embedded demo behind `npm start`: a Duo sandbox (or real Duo when DUO_API_HOST is set), a
 * sample JSON directory, and one connection `demo` that provisions it. Everything lives under the
 * data dir so a restart resumes: the sandbox saves its users on exit, the demo account's secret key
 * sits in a 0600 file that the connection references (the key itself never enters workflow history).
 *
 * Real Duo is an existing account with real people in it: without `--yes` (or
 * DUO_SYNC_DEMO_WRITE=yes) the demo connection is configured disabled (nothing scheduled, nothing
 * written) and `npm start` runs one dry run, printing what it would write. The demo rule maps no
 * administrators (a `userType` attribute in the sample directory is ignored without a mapping, and
 * Duo would make an administrator created without a role an Owner).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadSecretPolicy, widenSecretPolicy, type SecretPolicy } from './config/secrets';
import { configureConnection, syncNow, type DuoSyncClient } from './client';
import type { FullSyncInput, FullSyncResult } from './contract';
import { ConnectionConfigSchema, type ConnectionConfig } from './domain/connection';
import { duoSecretRefFromEnv } from './duo';
import { startDuoSandbox, type DuoSandbox } from './sandbox';
import type { DirectoryFile } from './stores';

export const DEMO_CONNECTION_ID = 'demo';

const DemoAccountSchema = z.object({ integrationKey: z.string(), secretKeyFile: z.string() });

export interface DemoEnvironment {
  config: ConnectionConfig;
  describe: string;
  /** The in-process Duo sandbox; absent when the demo provisions real Duo. */
  sandbox?: DuoSandbox;
  /** The sample directory the demo connection reads (edit it, then send syncNow). */
  storePath: string;
  /** Real Duo without the operator's consent to write: the connection is disabled and only a dry run is started. */
  dryRunOnly: boolean;
  stop(): Promise<void>;
}

const GIVEN = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Leslie'];
const FAMILY = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Lamport'];

function sampleDirectory(): DirectoryFile {
  const users = Array.from({ length: 40 }, (_, i) => {
    const given = GIVEN[i % GIVEN.length] as string;
    const family = FAMILY[Math.floor(i / GIVEN.length) % FAMILY.length] as string;
    const username = `${given}.${family}${i >= GIVEN.length * FAMILY.length ? i : ''}`.toLowerCase();
    return {
      username,
      email: `${username}@example.org`,
      phones: [`+1555010${String(i).padStart(4, '0')}`],
      givenName: given,
      familyName: family,
      enabled: i % 13 !== 12,
      groups: [i % 3 === 0 ? 'engineering' : 'staff'],
      attributes: (i === 0 ? { userType: 'admin' } : {}) as Record<string, string>,
    };
  });
  return { users, groups: [{ id: 'staff', name: 'staff' }, { id: 'engineering', name: 'engineering' }] };
}

/** The environment variable that, set to `yes`, lets `npm start` write to real Duo (like `--yes`). */
export const DEMO_WRITE_ENV = 'DUO_SYNC_DEMO_WRITE';

/** Whether the operator agreed to let the demo write to real Duo: `--yes` on the command line or DUO_SYNC_DEMO_WRITE=yes. */
export function demoWriteConsent(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  return argv.includes('--yes') || env[DEMO_WRITE_ENV] === 'yes';
}

function demoConfig(duo: ConnectionConfig['duo'], storePath: string, enabled = true): ConnectionConfig {
  return ConnectionConfigSchema.parse({
    connectionId: DEMO_CONNECTION_ID,
    enabled,
    duo,
    store: { kind: 'file', path: storePath },
    userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'disable', cleanupUnusedPhones: true },
    fullSyncIntervalMinutes: 30,
    // The sample's store groups become Duo groups with their members, so the demo shows groups too.
    rules: [{ id: 'everyone', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['staff', 'engineering'] } }],
  });
}

/**
 * The worker's secret allow-list widened by the demo's own secrets: the sandbox key file in the
 * data directory, or the operator's DUO_SKEY / DUO_SKEY_FILE for real Duo.
 */
export function demoSecretPolicy(dataDir: string, env: NodeJS.ProcessEnv = process.env): SecretPolicy {
  return widenSecretPolicy(loadSecretPolicy(env), { envPrefixes: ['DUO_SKEY'], dirs: [dataDir, ...(env.DUO_SKEY_FILE ? [dirname(resolve(env.DUO_SKEY_FILE))] : [])] });
}

export async function startDemoEnvironment(dataDir: string, env: NodeJS.ProcessEnv = process.env, options: { write?: boolean } = {}): Promise<DemoEnvironment> {
  const storePath = resolve(dataDir, 'demo-directory.json');
  if (!existsSync(storePath)) writeFileSync(storePath, `${JSON.stringify(sampleDirectory(), null, 2)}\n`);

  if (env.DUO_API_HOST) {
    // Real credentials switch the same code to real Duo; the secret stays a reference.
    const write = options.write === true;
    const config = demoConfig({ apiHost: env.DUO_API_HOST, integrationKey: env.DUO_IKEY ?? '', secretKey: duoSecretRefFromEnv(env) }, storePath, write);
    const mode = write ? 'writes enabled by --yes' : `dry run only: pass --yes or set ${DEMO_WRITE_ENV}=yes to write`;
    return { config, describe: `real Duo at ${config.duo.apiHost} (${mode})`, storePath, dryRunOnly: !write, stop: async () => undefined };
  }

  const accountFile = resolve(dataDir, 'duo-sandbox-account.json');
  const stateFile = resolve(dataDir, 'duo-sandbox-state.json');
  let sandbox: DuoSandbox;
  if (existsSync(accountFile)) {
    const account = DemoAccountSchema.parse(JSON.parse(readFileSync(accountFile, 'utf8')));
    sandbox = await startDuoSandbox({ accounts: [{ integrationKey: account.integrationKey, secretKey: readFileSync(account.secretKeyFile, 'utf8').trim() }] });
  } else {
    sandbox = await startDuoSandbox({});
    const secretKeyFile = resolve(dataDir, 'duo-sandbox.skey');
    writeFileSync(secretKeyFile, `${sandbox.account.secretKey}\n`, { mode: 0o600 });
    writeFileSync(accountFile, JSON.stringify({ integrationKey: sandbox.account.integrationKey, secretKeyFile }, null, 2), { mode: 0o600 });
  }
  if (existsSync(stateFile)) await sandbox.loadState(stateFile);
  const account = DemoAccountSchema.parse(JSON.parse(readFileSync(accountFile, 'utf8')));
  const config = demoConfig({ apiHost: sandbox.apiHost, integrationKey: account.integrationKey, secretKey: { file: account.secretKeyFile } }, storePath);
  return {
    config,
    describe: `Duo sandbox at http://${sandbox.apiHost} (state in ${stateFile})`,
    sandbox,
    storePath,
    dryRunOnly: false,
    async stop() {
      await sandbox.saveState(stateFile);
      await sandbox.stop();
    },
  };
}

/**
 * Configures the demo connection and runs its first full sync, waiting for the result. A dry-run-only
 * demo (real Duo without consent) is configured disabled, so the entity schedules nothing, and its
 * one full sync is a dry run started by hand (which a disabled connection still allows).
 */
export async function runFirstDemoSync(dsc: DuoSyncClient, demo: DemoEnvironment, reason = 'npm start'): Promise<FullSyncResult> {
  await configureConnection(dsc, demo.config);
  let workflowId: string;
  if (demo.dryRunOnly) {
    workflowId = `full-sync/${DEMO_CONNECTION_ID}/preview-${Date.now()}`;
    const input: FullSyncInput = { connectionId: DEMO_CONNECTION_ID, dryRun: true };
    await dsc.client.workflow.start('fullSyncWorkflow', { taskQueue: dsc.taskQueue, workflowId, args: [input] });
  } else {
    workflowId = (await syncNow(dsc, DEMO_CONNECTION_ID, { reason })).workflowId;
  }
  return (await dsc.client.workflow.getHandle(workflowId).result()) as FullSyncResult;
}
