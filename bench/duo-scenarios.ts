/**
 * The Duo-limits scenario suite (`npm run bench -- duo-scenarios`, not part of `npm test`): every
 * scenario of the benchmark issue against the sandbox enforcing Duo's per-category limits k times
 * faster (`categoryLimits: 'duo'`, time scale k), the worker pacing adaptively from the same limits:
 *
 *   initial-10k         10,000 new users, two groups each, no phones
 *   initial-10k-phones  the same with one phone each
 *   resync-100k         100,000 users already in Duo (seeded directly), no change
 *   changed-100k        the same after 1% of the users' emails changed
 *   deprovision-100k    the same after 1,000 users left the store
 *   workers-W           initial-10k (bulk on) split over 4 connections, run by W = 1, 2, 4 worker
 *                       processes on one task queue, all on one sandbox account
 *
 * each with the connection's `duo.bulk` on and off. Per scenario it computes the **bound** from the
 * scenario alone (minimalCalls below: the fewest calls per rate category any client needs, then the
 * slowest category), measures the wall time and the sandbox's calls per category, and writes a table
 * into bench/RESULTS.md. Results are kept per row in bench/duo-scenarios-rows.json, so a partial run
 * (`--only`) replaces its rows and the table always shows every row last measured.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { Command } from 'commander';
import { z } from 'zod';
import { configureUpdate, connectionWorkflowId, type FullSyncResult, type FullSyncWorkflowFn } from '../src/contract';
import { ConnectionConfigSchema, outboundRules, type ConnectionConfig } from '../src/domain/connection';
import { planGroups, resolveIncluded } from '../src/domain/groups';
import { mapStoreUser } from '../src/domain/mapping';
import { planUser } from '../src/domain/plan';
import { DUO_KNOWN_LIMITS_PER_MINUTE, DUO_RATE_CATEGORIES, type DuoRateCategory } from '../src/duo/rate-categories';
import { startDuoSandbox, type DuoSandbox, type SandboxStats } from '../src/sandbox';
import { createStore } from '../src/stores';
import type { DirectoryFile } from '../src/stores/file';
import { log, ROOT, SECRET_VAR, WorkerChild, startBenchTemporal } from './harness';
import { machine, updateReport } from './report';

// ---- the scenarios and their minimal calls ------------------------------------------------------

const GROUPS = 10;
const GROUPS_PER_USER = 2;
/** Duo's page maxima (users 300, groups 100, phones 500) and bulk batch maxima (bulk_create 100, /admin/v1/bulk 50). */
const PAGE = { users: 300, groups: 100, phones: 500 } as const;
const BATCH = { createUsers: 100, operations: 50 } as const;

type Bulk = 'on' | 'off';
type Category = DuoRateCategory;
type Calls = Record<Category, number>;

/** What a scenario asks of Duo, from which the minimal calls follow (per connection). */
interface Demand {
  /** Users in the account before the run (all of them are listed once to learn Duo's state). */
  duoUsersBefore: number;
  groupsBefore: number;
  newUsers: number;
  groupsToCreate: number;
  groupsPerNewUser: number;
  phonesPerNewUser: number;
  updatedUsers: number;
  deletedUsers: number;
}

const zero = (): Calls => Object.fromEntries(DUO_RATE_CATEGORIES.map((c) => [c, 0])) as Calls;

/**
 * The fewest calls per category any client needs for a demand, derived from Duo's API and not from
 * what duo-sync does:
 * - reads (getPage): Duo's state is learnt by listing every user once (300 a page; a user object
 *   carries its groups and phones), every group once (100 a page) and, when phones are added, the
 *   account's phones once (500 a page); an empty collection still costs one call;
 * - writes: a group create each (no bulk form); with bulk, users in bulk_create calls of 100 and
 *   memberships, updates and deletes together in /admin/v1/bulk calls of 50 operations; without bulk
 *   one modify call each; a phone is a create plus an association (modify, no bulk form).
 */
export function minimalCalls(d: Demand, bulk: Bulk): Calls {
  const calls = zero();
  calls.getPage = Math.max(1, Math.ceil(d.duoUsersBefore / PAGE.users)) + Math.max(1, Math.ceil(d.groupsBefore / PAGE.groups)) + (d.newUsers * d.phonesPerNewUser > 0 ? 1 : 0);
  const operations = d.newUsers * d.groupsPerNewUser + d.updatedUsers + d.deletedUsers;
  calls.modify = d.groupsToCreate + 2 * d.newUsers * d.phonesPerNewUser + (bulk === 'on' ? 0 : d.newUsers + operations);
  calls.bulk = bulk === 'on' ? Math.ceil(d.newUsers / BATCH.createUsers) + Math.ceil(operations / BATCH.operations) : 0;
  return calls;
}

const sumCalls = (all: readonly Calls[]): Calls => {
  const total = zero();
  for (const c of all) for (const k of DUO_RATE_CATEGORIES) total[k] += c[k];
  return total;
};

/** Seconds the calls need at Duo's limits × k: the slowest category (categories are limited each on its own). */
function boundOf(calls: Calls, k: number): { seconds: number; category: Category } {
  let worst: { seconds: number; category: Category } = { seconds: 0, category: 'getPage' };
  for (const c of DUO_RATE_CATEGORIES) {
    const seconds = calls[c] / ((DUO_KNOWN_LIMITS_PER_MINUTE[c] * k) / 60);
    if (seconds > worst.seconds) worst = { seconds, category: c };
  }
  return worst;
}

/** `max(bulk 500/50, getPage 3/200) min`: the nonzero terms of the bound. */
function boundFormula(calls: Calls): string {
  const terms = DUO_RATE_CATEGORIES.filter((c) => calls[c] > 0).map((c) => `${c} ${calls[c].toLocaleString('en-US')}/${DUO_KNOWN_LIMITS_PER_MINUTE[c]}`);
  return `max(${terms.join(', ')}) min`;
}

type ScenarioId = 'initial-10k' | 'initial-10k-phones' | 'resync-100k' | 'changed-100k' | 'deprovision-100k' | 'workers-1' | 'workers-2' | 'workers-4';

const TITLES: Record<ScenarioId, string> = {
  'initial-10k': '10k initial, 2 groups/user, no phones',
  'initial-10k-phones': '10k initial, 2 groups/user, 1 phone/user',
  'resync-100k': '100k re-sync, no change',
  'changed-100k': '100k re-sync, 1% changed (1,000 emails)',
  'deprovision-100k': '100k re-sync, 1,000 deprovisioned (deleted)',
  'workers-1': '10k initial (no phones) as 4 connections, 1 worker process',
  'workers-2': '10k initial (no phones) as 4 connections, 2 worker processes',
  'workers-4': '10k initial (no phones) as 4 connections, 4 worker processes',
};

// ---- options ------------------------------------------------------------------------------------

const ROW_KEYS = ['initial-10k', 'initial-10k-phones', 'resync-100k', 'changed-100k', 'deprovision-100k', 'workers'] as const;
type Part = (typeof ROW_KEYS)[number];

const OptionsSchema = z
  .object({
    only: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[a-z0-9-]+(:(on|off))?$/, 'entries look like initial-10k or initial-10k:on'))),
    workers: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'a comma-separated list, e.g. 1,2,4')
      .transform((s) => s.split(',').map(Number)),
    workersBulk: z.enum(['on', 'off']),
    scale: z
      .string()
      .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^[a-z0-9-]+:(on|off):\d+(\.\d+)?$/, 'entries look like initial-10k:off:30'))),
    users: z.coerce.number().int().positive(),
    bigUsers: z.coerce.number().int().positive(),
    latencyMs: z.coerce.number().int().min(0),
    label: z.string().regex(/^[a-z0-9-]{1,40}$/),
    out: z.string().min(1),
    results: z.string().min(1),
    timeoutMinutes: z.coerce.number().positive(),
  })
  .strict();
type Options = z.infer<typeof OptionsSchema>;

/**
 * Time scales: chosen so each scenario's sandbox bound is a minute or a few and the call rate stays
 * within what this 2-core machine serves (~150-250 calls/s while shared). Real time = sandbox time × k.
 */
const DEFAULT_SCALE: Record<Part, Record<Bulk, number>> = {
  'initial-10k': { on: 5, off: 20 },
  'initial-10k-phones': { on: 20, off: 20 },
  'resync-100k': { on: 3, off: 3 },
  'changed-100k': { on: 3, off: 3 },
  'deprovision-100k': { on: 3, off: 3 },
  workers: { on: 5, off: 20 },
};

function parseOptions(argv: string[]): Options {
  const program = new Command()
    .name('duo-scenarios')
    .description("Duo's per-category limits, time-scaled: every benchmark scenario with bulk on and off")
    .option('--only <list>', `parts to run (default all): ${ROW_KEYS.join(', ')}, each optionally :on or :off`, '')
    .option('--workers <list>', 'worker-process counts for the workers part', '1,2,4')
    .option('--workers-bulk <on|off>', "duo.bulk for the workers part", 'on')
    .option('--scale <list>', 'time-scale overrides, e.g. initial-10k:off:30', '')
    .option('--users <n>', 'users of the 10k scenarios (smaller for a smoke run)', '10000')
    .option('--big-users <n>', 'users of the 100k scenarios (smaller for a smoke run)', '100000')
    .option('--latency-ms <ms>', 'latency the sandbox adds to every request', '2')
    .option('--label <slug>', 'report section in the output file', 'duo-scenarios')
    .option('--out <path>', 'markdown report to update', 'bench/RESULTS.md')
    .option('--results <path>', 'measured rows, kept across partial runs', 'bench/duo-scenarios-rows.json')
    .option('--timeout-minutes <m>', 'terminate one scenario after this long', '20')
    .parse(['node', 'duo-scenarios', ...argv]);
  const parsed = OptionsSchema.safeParse(program.opts());
  if (parsed.success) return parsed.data;
  return program.error(`invalid options:\n  ${parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('\n  ')}`);
}

function scaleOf(options: Options, part: Part, bulk: Bulk): number {
  for (const entry of options.scale) {
    const [p, b, k] = entry.split(':');
    if (p === part && b === bulk) return Number(k);
  }
  return DEFAULT_SCALE[part][bulk];
}

function wanted(options: Options, part: Part, bulk: Bulk): boolean {
  if (options.only.length === 0) return true;
  return options.only.some((o) => o === part || o === `${part}:${bulk}`);
}

// ---- measured rows ------------------------------------------------------------------------------

const RowSchema = z.object({
  scenario: z.string(),
  bulk: z.enum(['on', 'off']),
  timeScale: z.number(),
  users: z.number(),
  workers: z.number(),
  minimal: z.record(z.string(), z.number()),
  accepted: z.record(z.string(), z.number()),
  rateLimited: z.record(z.string(), z.number()),
  wallS: z.number(),
  outcome: z.string(),
  date: z.string(),
  load: z.string(),
  commit: z.string(),
});
type Row = z.infer<typeof RowSchema>;
const RowsSchema = z.array(RowSchema);

function loadRows(path: string): Row[] {
  if (!existsSync(path)) return [];
  const parsed = RowsSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error(`${path} is not a list of measured rows (${parsed.error.issues[0]?.message}); move it away to start afresh`);
  return parsed.data;
}

const rowKey = (r: Pick<Row, 'scenario' | 'bulk'>): string => `${r.scenario}:${r.bulk}`;

function saveRow(path: string, row: Row): void {
  const rows = loadRows(path).filter((r) => rowKey(r) !== rowKey(row));
  rows.push(row);
  writeFileSync(path, `${JSON.stringify(rows, null, 2)}\n`);
}

const asCalls = (r: Record<string, number>): Calls => {
  const c = zero();
  for (const k of DUO_RATE_CATEGORIES) c[k] = r[k] ?? 0;
  return c;
};

// ---- fixtures -----------------------------------------------------------------------------------

type FileUser = NonNullable<DirectoryFile['users']>[number];

interface Directory {
  users: FileUser[];
  groups: { id: string; name: string }[];
}

/** Users `${prefix}u${i}` in groups g(i mod 10) and g(i+1 mod 10); group names carry the prefix (Duo group names are unique per account). */
function makeDirectory(prefix: string, n: number, phones: boolean, phoneBase: number): Directory {
  const groups = Array.from({ length: GROUPS }, (_, g) => ({ id: `g${g}`, name: `${prefix}group${g}` }));
  const users = Array.from({ length: n }, (_, i) => ({
    username: `${prefix}u${i}`,
    email: `${prefix}u${i}@example.org`,
    phones: phones ? [`+1555${String(phoneBase + i).padStart(7, '0')}`] : [],
    givenName: `Given${i}`,
    familyName: `Family${i}`,
    enabled: true,
    groups: Array.from({ length: GROUPS_PER_USER }, (_, j) => `g${(i + j) % GROUPS}`),
  }));
  return { users, groups };
}

const writeDirectory = (path: string, d: Directory): void => writeFileSync(path, JSON.stringify(d));

function benchConfig(connectionId: string, sandbox: DuoSandbox, storePath: string, bulk: Bulk): ConnectionConfig {
  return ConnectionConfigSchema.parse({
    connectionId,
    duo: { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { env: SECRET_VAR }, ...(bulk === 'off' ? { bulk: false } : {}) },
    store: { kind: 'file', path: storePath },
    userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete' },
    // The deprovision scenario removes 1,000 users at once: above the default guard's 500, which would wait for an approval.
    deletionGuard: { maxFraction: 0.1, maxCount: 5000 },
    rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: Array.from({ length: GROUPS }, (_, g) => `g${g}`) } }],
  });
}

/**
 * Puts the store's users, the rule's groups and the memberships into Duo without HTTP, through the
 * real planners (same fields and ownership markers as a sync writes), so a re-sync finds them synced.
 */
async function seedDuo(sandbox: DuoSandbox, config: ConnectionConfig): Promise<number> {
  const rule = outboundRules(config)[0];
  if (!rule?.groups) throw new Error('the bench connection has no outbound rule with groups');
  const owner = { connectionId: config.connectionId, ruleId: rule.id };
  const store = createStore(config.store);
  try {
    const { included, missing } = resolveIncluded((await store.listGroups({ cursor: null, pageSize: 1000 })).items, rule.groups.include);
    const plan = planGroups({ owner, include: rule.groups.include, included, missing, duoGroups: [], deleteUnlisted: false });
    const groupIds = new Map<string, string>();
    for (const op of plan.ops) {
      if (op.op !== 'create') throw new Error(`seeding: unexpected group op ${op.op}`);
      groupIds.set(op.externalId, sandbox.store.createGroup(new Map([['name', op.name], ['desc', op.desc]])).group_id);
    }
    let seeded = 0;
    let cursor: string | null = null;
    do {
      const page = await store.listUsers(rule.scope, { cursor, pageSize: 1000 });
      for (const user of page.items) {
        const mapped = mapStoreUser(user, rule.attributeMappings);
        if (!mapped.ok) throw new Error(`seeding: ${mapped.error.message}`);
        for (const op of planUser({ desired: mapped.user, current: null, owner, userActions: config.userActions, storeId: user.externalId })) {
          if (op.op !== 'create') throw new Error(`seeding supports users without phones; got ${op.op}`);
          const params = new Map(Object.entries(op.fields).filter((e): e is [string, string] => typeof e[1] === 'string'));
          const id = sandbox.store.createUser(params).user_id;
          for (const g of user.groupIds) sandbox.store.addUserToGroup(id, groupIds.get(g));
        }
        seeded += 1;
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
    return seeded;
  } finally {
    await store.close();
  }
}

// ---- running syncs ------------------------------------------------------------------------------

interface Env {
  client: Client;
  address: string;
  bundlePath: string;
  options: Options;
  /** The checkout's commit when a row is recorded (worker processes load the code when they start). */
  commit: () => string;
}

async function configureConnection(env: Env, taskQueue: string, config: ConnectionConfig): Promise<void> {
  const handle = await env.client.workflow.start('connectionWorkflow', {
    taskQueue,
    workflowId: connectionWorkflowId(config.connectionId),
    // Only the bench's runs: the schedule is pushed out of the way.
    args: [{ connectionId: config.connectionId, carried: { nextFullSyncAt: Date.UTC(2100, 0, 1) } }],
  });
  await handle.executeUpdate(configureUpdate, { args: [config] });
}

/** Full syncs of these connections started together; resolves when all are done, with the wall time. */
async function fullSyncs(env: Env, taskQueue: string, configs: readonly ConnectionConfig[], name: string): Promise<{ wallS: number; outcome: string }> {
  const started = performance.now();
  const handles = await Promise.all(
    configs.map((config) =>
      env.client.workflow.start<FullSyncWorkflowFn>('fullSyncWorkflow', {
        taskQueue,
        workflowId: `bench/${config.connectionId}/${name}`,
        args: [{ connectionId: config.connectionId, pagesPerRun: 50, pageSize: 100 }],
      }),
    ),
  );
  const outcomes = await Promise.all(
    handles.map(async (handle) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => {
        timer = setTimeout(() => r('timeout'), env.options.timeoutMinutes * 60_000);
      });
      try {
        const result: FullSyncResult | 'timeout' = await Promise.race([handle.result(), timeout]);
        if (result === 'timeout') {
          await handle.terminate('benchmark timeout');
          return `timeout after ${env.options.timeoutMinutes} min`;
        }
        const s = result.summary;
        return `${result.outcome} (created ${s.created}, updated ${s.updated}, deleted ${s.deleted}, unchanged ${s.unchanged}, failed ${s.failed})`;
      } catch (err) {
        return err instanceof WorkflowFailedError ? `failed: ${err.cause?.message ?? err.message}` : `error: ${err instanceof Error ? err.message : String(err)}`;
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const wallS = (performance.now() - started) / 1000;
  const distinct = [...new Set(outcomes)];
  return { wallS, outcome: distinct.length === 1 ? (configs.length > 1 ? `${configs.length} × ${distinct[0]}` : (distinct[0] as string)) : outcomes.join('; ') };
}

async function startWorkers(env: Env, taskQueue: string, sandbox: DuoSandbox, k: number, count: number): Promise<WorkerChild[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      WorkerChild.start({
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        BENCH_WORKFLOW_BUNDLE: env.bundlePath,
        [SECRET_VAR]: sandbox.account.secretKey,
        // Each process paces the account on its own, from Duo's limits × k (loopback is unpaced by default).
        BENCH_PACING_TIME_SCALE: String(k),
      }),
    ),
  );
}

function loadNow(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

function recordRow(env: Env, scenario: ScenarioId, bulk: Bulk, k: number, users: number, workers: number, minimal: Calls, stats: SandboxStats, run: { wallS: number; outcome: string }, load: string): Row {
  const accepted = zero();
  const rateLimited = zero();
  for (const c of DUO_RATE_CATEGORIES) {
    const s = stats.byCategory?.[c];
    accepted[c] = s ? s.requests - s.rateLimited : 0;
    rateLimited[c] = s ? s.rateLimited : 0;
  }
  const row: Row = { scenario, bulk, timeScale: k, users, workers, minimal, accepted, rateLimited, wallS: run.wallS, outcome: run.outcome, date: new Date().toISOString(), load, commit: env.commit() };
  saveRow(resolve(ROOT, env.options.results), row);
  const bound = boundOf(minimal, k);
  log(`${scenario} bulk ${bulk} ×${k}: ${run.outcome}; wall ${run.wallS.toFixed(1)} s, bound ${bound.seconds.toFixed(1)} s (${bound.category}), ratio ${(run.wallS / bound.seconds).toFixed(2)}, 429s ${stats.rateLimited}/${stats.total}; load ${load}`);
  return row;
}

/** A sandbox at Duo's limits × k and a fresh task queue for one part. */
async function withSandbox<T>(env: Env, k: number, body: (sandbox: DuoSandbox, dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'duo-sync-duo-scenarios-'));
  const sandbox = await startDuoSandbox({ seed: 7, categoryLimits: 'duo', timeScale: k, latencyMs: env.options.latencyMs });
  try {
    return await body(sandbox, dir);
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** initial-10k and initial-10k-phones: one connection, an empty account. */
async function runInitial(env: Env, part: 'initial-10k' | 'initial-10k-phones', bulk: Bulk): Promise<void> {
  const k = scaleOf(env.options, part, bulk);
  const phones = part === 'initial-10k-phones';
  const n = env.options.users;
  await withSandbox(env, k, async (sandbox, dir) => {
    const storePath = join(dir, 'directory.json');
    writeDirectory(storePath, makeDirectory('', n, phones, 0));
    const taskQueue = `duo-scenarios-${randomUUID().slice(0, 8)}`;
    const [worker] = await startWorkers(env, taskQueue, sandbox, k, 1);
    try {
      const config = benchConfig(`bench-${part}-${bulk}-${randomUUID().slice(0, 6)}`, sandbox, storePath, bulk);
      await configureConnection(env, taskQueue, config);
      sandbox.resetStats();
      const load = loadNow();
      const run = await fullSyncs(env, taskQueue, [config], 'initial');
      const minimal = minimalCalls({ duoUsersBefore: 0, groupsBefore: 0, newUsers: n, groupsToCreate: GROUPS, groupsPerNewUser: GROUPS_PER_USER, phonesPerNewUser: phones ? 1 : 0, updatedUsers: 0, deletedUsers: 0 }, bulk);
      recordRow(env, part, bulk, k, n, 1, minimal, sandbox.stats(), run, load);
    } finally {
      await worker?.stop();
    }
  });
}

/** resync-100k, changed-100k, deprovision-100k in turn on one seeded account. */
async function runBig(env: Env, bulk: Bulk): Promise<void> {
  const parts = (['resync-100k', 'changed-100k', 'deprovision-100k'] as const).filter((p) => wanted(env.options, p, bulk));
  if (parts.length === 0) return;
  const k = scaleOf(env.options, parts[0] as Part, bulk);
  const n = env.options.bigUsers;
  const changed = Math.floor(n / 100);
  const removed = Math.min(1000, Math.floor(n / 100));
  await withSandbox(env, k, async (sandbox, dir) => {
    const storePath = join(dir, 'directory.json');
    const directory = makeDirectory('', n, false, 0);
    writeDirectory(storePath, directory);
    const config = benchConfig(`bench-100k-${bulk}-${randomUUID().slice(0, 6)}`, sandbox, storePath, bulk);
    const t0 = performance.now();
    const seeded = await seedDuo(sandbox, config);
    log(`seeded ${seeded} users, ${GROUPS} groups and their memberships into the sandbox in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const taskQueue = `duo-scenarios-${randomUUID().slice(0, 8)}`;
    const [worker] = await startWorkers(env, taskQueue, sandbox, k, 1);
    try {
      await configureConnection(env, taskQueue, config);
      const base = { duoUsersBefore: n, groupsBefore: GROUPS, newUsers: 0, groupsToCreate: 0, groupsPerNewUser: 0, phonesPerNewUser: 0, updatedUsers: 0, deletedUsers: 0 };
      // Always run in this order (each starts from the state the previous left); only the wanted ones are recorded.
      sandbox.resetStats();
      let load = loadNow();
      let run = await fullSyncs(env, taskQueue, [config], 'no-change');
      if (parts.includes('resync-100k')) recordRow(env, 'resync-100k', bulk, k, n, 1, minimalCalls(base, bulk), sandbox.stats(), run, load);
      if (!parts.includes('changed-100k') && !parts.includes('deprovision-100k')) return;
      // Every 100th user's email changes.
      for (let i = 0; i < n; i += 100) {
        const u = directory.users[i];
        if (u) u.email = `u${i}.changed@example.org`;
      }
      writeDirectory(storePath, directory);
      sandbox.resetStats();
      load = loadNow();
      run = await fullSyncs(env, taskQueue, [config], 'changed');
      if (parts.includes('changed-100k')) recordRow(env, 'changed-100k', bulk, k, n, 1, minimalCalls({ ...base, updatedUsers: changed }, bulk), sandbox.stats(), run, load);
      if (!parts.includes('deprovision-100k')) return;
      // 1,000 users spread over the directory leave the store (every 100th, offset by 50).
      const gone = new Set(Array.from({ length: removed }, (_, j) => `u${j * 100 + 50}`));
      writeDirectory(storePath, { ...directory, users: directory.users.filter((u) => !gone.has(u.username)) });
      sandbox.resetStats();
      load = loadNow();
      run = await fullSyncs(env, taskQueue, [config], 'deprovision');
      recordRow(env, 'deprovision-100k', bulk, k, n, 1, minimalCalls({ ...base, deletedUsers: removed }, bulk), sandbox.stats(), run, load);
    } finally {
      await worker?.stop();
    }
  });
}

const CONNECTIONS = 4;

/** initial-10k split over 4 connections (one task queue, one account), run by W worker processes. */
async function runWorkers(env: Env, w: number): Promise<void> {
  const bulk = env.options.workersBulk;
  const k = scaleOf(env.options, 'workers', bulk);
  const per = Math.floor(env.options.users / CONNECTIONS);
  await withSandbox(env, k, async (sandbox, dir) => {
    const configs = Array.from({ length: CONNECTIONS }, (_, c) => {
      const storePath = join(dir, `directory-${c}.json`);
      writeDirectory(storePath, makeDirectory(`c${c}`, per, false, c * per));
      return benchConfig(`bench-w${w}-c${c}-${randomUUID().slice(0, 6)}`, sandbox, storePath, bulk);
    });
    const taskQueue = `duo-scenarios-${randomUUID().slice(0, 8)}`;
    const workers = await startWorkers(env, taskQueue, sandbox, k, w);
    try {
      for (const config of configs) await configureConnection(env, taskQueue, config);
      sandbox.resetStats();
      const load = loadNow();
      const run = await fullSyncs(env, taskQueue, configs, 'initial');
      const demand = { duoUsersBefore: 0, groupsBefore: 0, newUsers: per, groupsToCreate: GROUPS, groupsPerNewUser: GROUPS_PER_USER, phonesPerNewUser: 0, updatedUsers: 0, deletedUsers: 0 };
      const minimal = sumCalls(configs.map(() => minimalCalls(demand, bulk)));
      recordRow(env, `workers-${w}` as ScenarioId, bulk, k, per * CONNECTIONS, w, minimal, sandbox.stats(), run, load);
    } finally {
      await Promise.all(workers.map((x) => x.stop()));
    }
  });
}

// ---- report -------------------------------------------------------------------------------------

const ORDER: string[] = ['initial-10k', 'initial-10k-phones', 'resync-100k', 'changed-100k', 'deprovision-100k', 'workers-1', 'workers-2', 'workers-4'];

const fmtN = (x: number): string => x.toLocaleString('en-US');
const minutes = (s: number): string => (s / 60 >= 10 ? (s / 60).toFixed(0) : (s / 60).toFixed(1));

function callsCell(calls: Calls): string {
  const parts = DUO_RATE_CATEGORIES.filter((c) => calls[c] > 0).map((c) => `${c} ${fmtN(calls[c])}`);
  return parts.length ? parts.join(', ') : '–';
}

/** Share of each busy category's limit × k used over the wall time. */
function utilisation(row: Row): string {
  const accepted = asCalls(row.accepted);
  return DUO_RATE_CATEGORIES.filter((c) => accepted[c] > 0)
    .map((c) => `${c} ${((100 * accepted[c]) / (((DUO_KNOWN_LIMITS_PER_MINUTE[c] * row.timeScale) / 60) * row.wallS)).toFixed(0)}%`)
    .join(', ');
}

function renderTable(rows: readonly Row[], startedAt: Date, argv: readonly string[]): string {
  const m = machine();
  const sorted = [...rows].sort((a, b) => ORDER.indexOf(a.scenario) - ORDER.indexOf(b.scenario) || a.bulk.localeCompare(b.bulk));
  const lines = [
    `### ${'duo-scenarios'}: every scenario at Duo's per-category limits, time-scaled`,
    '',
    `- machine: ${m.nproc} CPUs (\`nproc\`), ${m.memory} RAM, ${m.cpu}; shared with other jobs: the load average (1/5/15 min) at each row's start is in its row`,
    `- last run: ${startedAt.toISOString()}, \`npm run bench -- duo-scenarios${argv.length ? ` ${argv.join(' ')}` : ''}\`; rows measured earlier keep their own date (bench/duo-scenarios-rows.json)`,
    "- sandbox: `categoryLimits: 'duo'` × k (modify 300, getObject 300, getPage 200, getAll 40, logs 2, bulk 50 per minute, each × k; buckets hold 60 s of unscaled traffic), latency 2 ms; worker: the real one in a child process, adaptive pacing from Duo's limits × k",
    '- **minimal calls**: computed from the scenario (`minimalCalls` in bench/duo-scenarios.ts), not from what duo-sync sent: list every Duo user once (300 a page), every group once (100 a page), the phones once if phones are added; one create per group; with bulk, users in `bulk_create` calls of 100 and memberships/updates/deletes in `/admin/v1/bulk` calls of 50; without bulk one modify call each; a phone is a create plus an association (modify)',
    '- **bound** = max over categories of (minimal calls ÷ limit per minute), at Duo\'s unscaled limits; in the sandbox it is that ÷ k. **duo-sync needs** = the same formula over the calls duo-sync made (accepted, 429s not counted). **real** = wall × k: the run at Duo\'s unscaled limits',
    '',
    '| scenario | bulk | k | minimal calls | bound (Duo limits) | duo-sync calls (accepted) | duo-sync needs | 429s | wall s (sandbox) | wall / bound | utilisation (accepted ÷ limit × wall) | real (wall × k) | outcome | load at start |',
    '|---|---|---:|---|---|---|---:|---:|---:|---:|---|---:|---|---|',
  ];
  for (const r of sorted) {
    const minimal = asCalls(r.minimal);
    const accepted = asCalls(r.accepted);
    const limited = DUO_RATE_CATEGORIES.reduce((a, c) => a + (r.rateLimited[c] ?? 0), 0);
    const total = DUO_RATE_CATEGORIES.reduce((a, c) => a + accepted[c], 0) + limited;
    const bound = boundOf(minimal, 1);
    const needs = boundOf(accepted, 1);
    const sandboxBound = bound.seconds / r.timeScale;
    // Titles name the default sizes; a run with --users/--big-users names its own.
    const title = (TITLES[r.scenario as ScenarioId] ?? r.scenario).replace(/^(10k|100k)/, `${r.users / 1000}k`).replace('1,000 deprovisioned', `${Math.min(1000, r.users / 100).toLocaleString('en-US')} deprovisioned`);
    lines.push(
      `| ${title} | ${r.bulk} | ${r.timeScale} | ${callsCell(minimal)} | ${boundFormula(minimal)} = **${minutes(bound.seconds)} min** (${bound.category}) | ${callsCell(accepted)} | ${minutes(needs.seconds)} min (${needs.category}) | ${limited} (${total ? ((100 * limited) / total).toFixed(2) : '0'}%) | ${r.wallS.toFixed(1)} (bound ${sandboxBound.toFixed(1)}) | **${(r.wallS / sandboxBound).toFixed(2)}** | ${utilisation(r)} | **${minutes(r.wallS * r.timeScale)} min** | ${r.outcome} | ${r.load} (${r.date.slice(0, 16)}Z, ${r.commit}) |`,
    );
  }
  return lines.join('\n');
}

// ---- main ---------------------------------------------------------------------------------------

export async function runDuoScenarios(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  const startedAt = new Date();
  const commit = (): string => {
    try {
      return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // A snapshot outside git (bench run from an exported tree) names its commit in a file.
      return existsSync(join(ROOT, 'COMMIT')) ? readFileSync(join(ROOT, 'COMMIT'), 'utf8').trim() : 'unknown';
    }
  };
  const temporal = await startBenchTemporal();
  const env: Env = { client: temporal.client, address: temporal.server.address, bundlePath: temporal.bundlePath, options, commit };
  try {
    for (const bulk of ['on', 'off'] as const) {
      for (const part of ['initial-10k', 'initial-10k-phones'] as const) if (wanted(options, part, bulk)) await runInitial(env, part, bulk);
    }
    for (const bulk of ['on', 'off'] as const) await runBig(env, bulk);
    if (wanted(options, 'workers', options.workersBulk)) for (const w of options.workers) await runWorkers(env, w);
  } finally {
    await temporal.stop();
  }
  const report = renderTable(loadRows(resolve(ROOT, options.results)), startedAt, argv);
  updateReport(resolve(ROOT, options.out), options.label, report);
  process.stdout.write(`${report}\n`);
  log(`report written to ${options.out}`);
}
