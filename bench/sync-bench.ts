/**
 * Full-sync benchmark (`npm run bench`, not part of `npm test`): JSON file store → Duo sandbox with
 * a rate limit and per-request latency, for several directory sizes N. Per N it runs
 *   (a) the initial sync (Duo empty; or, above --seed-duo-above, Duo seeded directly through
 *       sandbox.store with the same ops the planner would send, marker included),
 *   (b) a re-sync with no change,
 *   (c) a re-sync after 1% of the users' emails changed in the file store,
 * each as a `fullSyncWorkflow` started directly on its own Temporal dev server, executed by the real
 * worker in a child process (bench/worker-process.ts). It records wall time, Duo calls by endpoint,
 * the rate-limit lower bound, history events per run of the continue-as-new chain and the worker's
 * peak RSS and live memory (heap + buffers after a full GC, sampled every 5 s), checks the targets and writes a markdown report into bench/RESULTS.md (between this
 * label's markers, so hand-written notes outside them survive).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { Command } from 'commander';
import { z } from 'zod';
import { ConnectionConfigSchema, outboundRules, type ConnectionConfig } from '../src/domain/connection';
import { mapStoreUser } from '../src/domain/mapping';
import { planUser, type PlanOp } from '../src/domain/plan';
import type { RunSummary } from '../src/domain/summary';
import { startDuoSandbox, type DuoSandbox, type SandboxStats } from '../src/sandbox';
import { createStore } from '../src/stores';
import type { DirectoryFile } from '../src/stores/file';
import { machine, updateReport } from './report';
import { historyChain, log, ROOT, SECRET_VAR, WorkerChild, startBenchTemporal } from './harness';
import { runManyConnections } from './many-connections';
import { runDuoScenarios } from './duo-scenarios';
import { DUO_KNOWN_LIMITS_PER_MINUTE, type DuoRateCategory } from '../src/duo/rate-categories';
import { configureUpdate, connectionWorkflowId, type FullSyncResult, type FullSyncWorkflowFn } from '../src/contract';


// ---- CLI ----------------------------------------------------------------------------------------

const OptionsSchema = z
  .object({
    sizes: z
      .string()
      .regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, 'must be a comma-separated list of integers, e.g. 1000,10000')
      .transform((s) => s.split(',').map((part) => Number(part.trim())))
      .pipe(z.array(z.number().int().positive()).min(1)),
    rate: z.coerce.number().positive(),
    burst: z.coerce.number().positive().optional(),
    latencyMs: z.coerce.number().int().min(0),
    pageSize: z.coerce.number().int().min(1).max(100),
    pagesPerRun: z.coerce.number().int().min(1).max(1000),
    seedDuoAbove: z.coerce.number().int().min(0),
    activitiesPerSecond: z.coerce.number().positive().optional(),
    pace: z.coerce.number().min(0).max(1),
    timeoutMinutes: z.coerce.number().positive(),
    profile: z.enum(['flat', 'duo']),
    timeScale: z.coerce.number().positive(),
    phones: z.boolean(),
    bulk: z.enum(['on', 'off']),
    deprovision: z.coerce.number().int().min(0),
    label: z.string().regex(/^[a-z0-9-]{1,40}$/, 'must be a short slug'),
    out: z.string().min(1),
  })
  .strict();
type Options = z.infer<typeof OptionsSchema>;

function parseOptions(argv: string[]): Options {
  const program = new Command()
    .name('sync-bench')
    .description('Full-sync benchmark: file store -> rate-limited Duo sandbox, via Temporal')
    .option('--sizes <list>', 'comma-separated directory sizes', '1000,10000,100000')
    .option('--rate <req/s>', 'sandbox rate limit, requests per second (this 2-core box serves ~600 calls/s in all)', '200')
    .option('--burst <n>', 'token-bucket size (default: the rate)')
    .option('--latency-ms <ms>', 'latency added by the sandbox to every request', '2')
    .option('--page-size <n>', 'store users per page activity (1-100)', '100')
    .option('--pages-per-run <n>', 'fullSyncWorkflow pages before continue-as-new', '50')
    .option('--seed-duo-above <n>', 'for N above this, skip the initial sync and seed Duo directly', '10000')
    .option('--pace <fraction>', "set the connection's duo.requestsPerSecond to this fraction of --rate; 0 = unpaced", '0.95')
    .option('--activities-per-second <n>', "worker's maxTaskQueueActivitiesPerSecond (default: unlimited)")
    .option('--timeout-minutes <m>', 'give up on (terminate) one scenario after this long', '30')
    .option('--profile <flat|duo>', "flat: one account-wide --rate limit; duo: Duo's per-category limits (sandbox categoryLimits 'duo'), --rate and --pace ignored, the worker paces adaptively", 'flat')
    .option('--time-scale <k>', 'with --profile duo: every limit runs k times faster (a minute lasts 60/k s)', '1')
    .option('--no-phones', 'directory users without phone numbers')
    .option('--bulk <on|off>', "the connection's duo.bulk setting", 'on')
    .option('--deprovision <n>', 'after the 1% change, remove this many users from the store and re-sync (deleted in Duo; the deletion guard allows it)', '0')
    .option('--label <slug>', 'report section in the output file (one per configuration)', 'main')
    .option('--out <path>', 'markdown report to update', 'bench/RESULTS.md')
    .parse(argv);
  const parsed = OptionsSchema.safeParse(program.opts());
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `--${String(i.path[0] ?? '?').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`);
  return program.error(`invalid options:\n  ${lines.join('\n  ')}`);
}

// ---- fixtures -----------------------------------------------------------------------------------

type FileUser = NonNullable<DirectoryFile['users']>[number];

function makeUsers(n: number, phones: boolean): FileUser[] {
  return Array.from({ length: n }, (_, i) => ({
    username: `user${i}`,
    email: `user${i}@example.org`,
    phones: phones ? [`+1555${String(i).padStart(7, '0')}`] : [],
    givenName: `Given${i}`,
    familyName: `Family${i}`,
    enabled: true,
    groups: ['staff'],
  }));
}

function writeDirectory(path: string, users: FileUser[]): void {
  writeFileSync(path, JSON.stringify({ users, groups: [{ id: 'staff', name: 'staff' }] }));
}

/** Index of every 100th user: the 1% whose email scenario (c) changes. */
const changedIndexes = (n: number): number[] => Array.from({ length: Math.floor(n / 100) }, (_, k) => k * 100);

/**
 * Puts every store user into Duo without HTTP: reads the store with the real adapter, maps and plans
 * each user with the real planner (so fields and the ownership marker are exactly what a sync would
 * write), then applies the create/attachPhone ops to sandbox.store.
 */
async function seedDuoDirectly(sandbox: DuoSandbox, config: ConnectionConfig): Promise<number> {
  const rule = outboundRules(config)[0];
  if (!rule) throw new Error('the bench connection has no outbound rule');
  const store = createStore(config.store);
  const owner = { connectionId: config.connectionId, ruleId: rule.id };
  let seeded = 0;
  let cursor: string | null = null;
  try {
    do {
      const page = await store.listUsers(rule.scope, { cursor, pageSize: 1000 });
      for (const user of page.items) {
        const mapped = mapStoreUser(user, rule.attributeMappings);
        if (!mapped.ok) throw new Error(`seeding: ${mapped.error.message}`);
        const ops = planUser({ desired: mapped.user, current: null, owner, userActions: config.userActions, storeId: user.externalId });
        applySeedOps(sandbox, ops);
        seeded += 1;
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
  } finally {
    await store.close();
  }
  return seeded;
}

function applySeedOps(sandbox: DuoSandbox, ops: readonly PlanOp[]): void {
  let userId: string | null = null;
  for (const op of ops) {
    if (op.op === 'create') {
      const params = new Map(Object.entries(op.fields).filter((e): e is [string, string] => typeof e[1] === 'string'));
      userId = sandbox.store.createUser(params).user_id;
    } else if (op.op === 'attachPhone') {
      const target = op.userId ?? userId;
      if (!target) throw new Error(`seeding: no user to attach ${op.number} to`);
      const phone = sandbox.store.findPhone(op.number) ?? sandbox.store.createPhone(new Map([['number', op.number], ['type', 'mobile']]));
      sandbox.store.associatePhone(target, phone.phone_id);
    } else {
      throw new Error(`seeding: unexpected op ${op.op} for a new user`);
    }
  }
}


// ---- one scenario -------------------------------------------------------------------------------

/**
 * The rate-limit bound under Duo's per-category limits: each category's accepted calls need at least
 * calls ÷ (limit per minute × k / 60) seconds, and they run side by side, so the slowest one bounds
 * the sync (the sandbox's bucket starts full, so a short run can beat it by one bucket's worth).
 */
function categoryBoundS(stats: SandboxStats, timeScale: number): { boundS: number; category: DuoRateCategory } {
  let worst: { boundS: number; category: DuoRateCategory } = { boundS: 0, category: 'modify' };
  for (const [category, perMinute] of Object.entries(DUO_KNOWN_LIMITS_PER_MINUTE) as [DuoRateCategory, number][]) {
    const c = stats.byCategory?.[category];
    if (!c) continue;
    const seconds = (c.requests - c.rateLimited) / ((perMinute * timeScale) / 60);
    if (seconds > worst.boundS) worst = { boundS: seconds, category };
  }
  return worst;
}

type ScenarioName = 'initial' | 'seeded' | 'no-change' | 'changed-1%' | 'deprovisioned';

interface ScenarioResult {
  n: number;
  scenario: ScenarioName;
  outcome: string;
  wallS: number;
  stats: SandboxStats;
  requiredCalls: number;
  /** flat: non-429 calls ÷ rate; duo: the slowest category's non-429 calls ÷ its (scaled) limit. */
  boundS: number;
  /** duo profile: the category that sets the bound. */
  boundCategory?: DuoRateCategory;
  runs: number;
  maxEventsPerRun: number;
  totalEvents: number;
  workerPeakRssMb: number;
  /** Largest heap + buffers right after a full GC (sampled every few seconds and at the end). */
  workerLiveMb: number;
  summary: RunSummary | null;
}


interface RunContext {
  client: Client;
  taskQueue: string;
  sandbox: DuoSandbox;
  worker: WorkerChild;
  config: ConnectionConfig;
  options: Options;
}

const configured = new Set<string>();

/**
 * Runs claim their configuration from the connection's entity, as in production: start it once per
 * connection with its schedule pushed out of the way (only the bench's runs happen) and configure it.
 */
async function ensureEntity(ctx: RunContext): Promise<void> {
  const { client, config } = ctx;
  if (configured.has(config.connectionId)) return;
  const handle = await client.workflow.start('connectionWorkflow', {
    taskQueue: ctx.taskQueue,
    workflowId: connectionWorkflowId(config.connectionId),
    args: [{ connectionId: config.connectionId, carried: { nextFullSyncAt: Date.UTC(2100, 0, 1) } }],
  });
  await handle.executeUpdate(configureUpdate, { args: [config] });
  configured.add(config.connectionId);
}

async function runFullSync(ctx: RunContext, n: number, scenario: ScenarioName): Promise<ScenarioResult> {
  const { client, sandbox, worker, config, options } = ctx;
  await ensureEntity(ctx);
  const workflowId = `bench/${config.connectionId}/${scenario}`;
  sandbox.resetStats();
  worker.resetWindow();
  const started = performance.now();
  const handle = await client.workflow.start<FullSyncWorkflowFn>('fullSyncWorkflow', {
    taskQueue: ctx.taskQueue,
    workflowId,
    args: [{ connectionId: config.connectionId, pagesPerRun: options.pagesPerRun, pageSize: options.pageSize }],
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), options.timeoutMinutes * 60_000);
  });
  let outcome: string;
  let summary: RunSummary | null = null;
  try {
    const result: FullSyncResult | 'timeout' = await Promise.race([handle.result(), timeout]);
    if (result === 'timeout') {
      outcome = `timeout after ${options.timeoutMinutes} min (terminated)`;
      await handle.terminate('benchmark timeout');
    } else {
      outcome = result.outcome;
      summary = result.summary;
    }
  } catch (err) {
    outcome = err instanceof WorkflowFailedError ? `failed: ${err.cause?.message ?? err.message}` : `error: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    clearTimeout(timer);
  }
  const wallS = (performance.now() - started) / 1000;
  const stats = sandbox.stats();
  const workerPeakRssMb = worker.windowPeakMb();
  const workerLiveMb = await worker.windowLiveMb();
  const lengths = await historyChain(client, workflowId, handle.firstExecutionRunId);
  const requiredCalls = stats.total - stats.rateLimited;
  const categoryBound = options.profile === 'duo' ? categoryBoundS(stats, options.timeScale) : undefined;
  return {
    n,
    scenario,
    outcome,
    wallS,
    stats,
    requiredCalls,
    boundS: categoryBound ? categoryBound.boundS : requiredCalls / options.rate,
    ...(categoryBound ? { boundCategory: categoryBound.category } : {}),
    runs: lengths.length,
    maxEventsPerRun: Math.max(...lengths),
    totalEvents: lengths.reduce((a, b) => a + b, 0),
    workerPeakRssMb,
    workerLiveMb,
    summary,
  };
}

function seededResult(n: number, wallS: number, seeded: number): ScenarioResult {
  return {
    n,
    scenario: 'seeded',
    outcome: `${seeded} users seeded into sandbox.store (no HTTP, no Temporal)`,
    wallS,
    stats: { total: 0, reads: 0, writes: 0, byEndpoint: {}, byStatus: {}, rateLimited: 0, authFailures: 0, faultsInjected: 0 },
    requiredCalls: 0,
    boundS: 0,
    runs: 0,
    maxEventsPerRun: 0,
    totalEvents: 0,
    workerPeakRssMb: 0,
    workerLiveMb: 0,
    summary: null,
  };
}


function describeResult(r: ScenarioResult): string {
  const s = r.summary;
  const counts = s ? ` created=${s.created} updated=${s.updated} unchanged=${s.unchanged} failed=${s.failed}` : '';
  return `N=${r.n} ${r.scenario}: ${r.outcome}, ${r.wallS.toFixed(1)} s, ${r.stats.total} calls (${r.stats.reads} reads, ${r.stats.writes} writes, ${r.stats.rateLimited} x 429), ${r.runs} runs, max ${r.maxEventsPerRun} events/run, peak RSS ${r.workerPeakRssMb.toFixed(0)} MB, live ${r.workerLiveMb.toFixed(0)} MB${counts}`;
}

// ---- one size -----------------------------------------------------------------------------------

interface SizeResult {
  n: number;
  scenarios: ScenarioResult[];
  workerHwmMb: number;
}

async function benchSize(n: number, options: Options, client: Client, address: string, bundlePath: string): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'duo-sync-bench-'));
  const storePath = join(dir, 'directory.json');
  const users = makeUsers(n, options.phones);
  writeDirectory(storePath, users);
  const duoProfile = options.profile === 'duo';
  const sandbox = await startDuoSandbox({
    seed: 7,
    ...(duoProfile
      ? { categoryLimits: 'duo' as const, timeScale: options.timeScale }
      : { rateLimit: { requestsPerSecond: options.rate, ...(options.burst === undefined ? {} : { burst: options.burst }) } }),
    latencyMs: options.latencyMs,
  });
  const connectionId = `bench-${n}-${randomUUID().slice(0, 6)}`;
  const config = ConnectionConfigSchema.parse({
    connectionId,
    duo: {
      apiHost: sandbox.apiHost,
      integrationKey: sandbox.account.integrationKey,
      secretKey: { env: SECRET_VAR },
      ...(options.pace === 0 || duoProfile ? {} : { requestsPerSecond: options.pace * options.rate }),
      ...(options.bulk === 'off' ? { bulk: false } : {}),
    },
    store: { kind: 'file', path: storePath },
    userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'delete' },
    rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
    // --deprovision removes users on purpose: no approval wait.
    ...(options.deprovision > 0 ? { deletionGuard: { maxFraction: 1, maxCount: options.deprovision } } : {}),
  });
  const taskQueue = `bench-${n}-${randomUUID().slice(0, 6)}`;
  const worker = await WorkerChild.start({
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    BENCH_WORKFLOW_BUNDLE: bundlePath,
    [SECRET_VAR]: sandbox.account.secretKey,
    ...(options.activitiesPerSecond === undefined ? {} : { BENCH_ACTIVITIES_PER_SECOND: String(options.activitiesPerSecond) }),
    // The sandbox is loopback, which the client does not pace by default: pace it as real Duo is paced.
    ...(duoProfile ? { BENCH_PACING_TIME_SCALE: String(options.timeScale) } : {}),
  });
  const ctx: RunContext = { client, taskQueue, sandbox, worker, config, options };
  const scenarios: ScenarioResult[] = [];
  try {
    if (n > options.seedDuoAbove) {
      const t0 = performance.now();
      const seeded = await seedDuoDirectly(sandbox, config);
      scenarios.push(seededResult(n, (performance.now() - t0) / 1000, seeded));
    } else {
      scenarios.push(await runFullSync(ctx, n, 'initial'));
    }
    log(describeResult(scenarios[scenarios.length - 1] as ScenarioResult));
    scenarios.push(await runFullSync(ctx, n, 'no-change'));
    log(describeResult(scenarios[scenarios.length - 1] as ScenarioResult));
    for (const i of changedIndexes(n)) {
      const user = users[i];
      if (user) user.email = `user${i}.changed@example.org`;
    }
    writeDirectory(storePath, users);
    scenarios.push(await runFullSync(ctx, n, 'changed-1%'));
    log(describeResult(scenarios[scenarios.length - 1] as ScenarioResult));
    if (options.deprovision > 0) {
      writeDirectory(storePath, users.slice(0, Math.max(0, n - options.deprovision)));
      scenarios.push(await runFullSync(ctx, n, 'deprovisioned'));
      log(describeResult(scenarios[scenarios.length - 1] as ScenarioResult));
    }
    return { n, scenarios, workerHwmMb: worker.hwmMb() };
  } finally {
    await worker.stop();
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- targets ------------------------------------------------------------------------------------

interface Check {
  target: string;
  /** null: not applicable to this matrix (e.g. a single size). */
  pass: boolean | null;
  detail: string;
}

function checkTargets(results: SizeResult[], options: Options): Check[] {
  const checks: Check[] = [];
  const find = (r: SizeResult, s: ScenarioName): ScenarioResult | undefined => r.scenarios.find((x) => x.scenario === s);

  for (const r of results) {
    const b = find(r, 'no-change');
    if (!b) continue;
    const maxReads = Math.floor(r.n / 100 + r.n / 300 + 10);
    checks.push({
      target: `N=${r.n} no-change re-sync: 0 writes, <= N/100 + N/300 + 10 = ${maxReads} reads`,
      pass: b.stats.writes === 0 && b.stats.reads <= maxReads && b.outcome === 'succeeded',
      detail: `${b.stats.writes} writes, ${b.stats.reads} reads, outcome ${b.outcome}`,
    });
  }
  for (const r of results) {
    const a = find(r, 'initial');
    if (!a) continue;
    const ratio = a.wallS / a.boundS;
    checks.push({
      target: `N=${r.n} initial sync within 1.3x of the rate-limit bound`,
      pass: ratio <= 1.3 && a.outcome === 'succeeded',
      detail:
        options.profile === 'duo'
          ? `wall ${a.wallS.toFixed(1)} s vs bound ${a.boundS.toFixed(1)} s (slowest category: ${a.boundCategory ?? '–'}): ${ratio.toFixed(2)}x, outcome ${a.outcome}`
          : `wall ${a.wallS.toFixed(1)} s vs bound ${a.requiredCalls} calls / ${options.rate} req/s = ${a.boundS.toFixed(1)} s: ${ratio.toFixed(2)}x, outcome ${a.outcome}`,
    });
  }

  // History: once N spans more than one run's pages, the events of a run must stay flat.
  const fullRunUsers = options.pagesPerRun * options.pageSize;
  const multiRun = results.filter((r) => r.n > fullRunUsers);
  const maxEvents = (r: SizeResult): number => Math.max(...r.scenarios.map((s) => s.maxEventsPerRun));
  const ref = multiRun[0];
  if (ref && multiRun.length > 1) {
    const perPage = Math.ceil(maxEvents(ref) / options.pagesPerRun);
    for (const r of multiRun.slice(1)) {
      checks.push({
        target: `history: max events in one run at N=${r.n} <= N=${ref.n}'s + one page's worth (${perPage})`,
        pass: maxEvents(r) <= maxEvents(ref) + perPage,
        detail: `${maxEvents(r)} vs ${maxEvents(ref)} (N=${results.map((x) => `${x.n}: ${maxEvents(x)}`).join(', ')})`,
      });
    }
  } else {
    checks.push({ target: 'history: events per run flat in N', pass: null, detail: `needs two sizes above ${fullRunUsers} users (pagesPerRun x pageSize)` });
  }

  // Memory: what the worker keeps (live heap + buffers after a full GC) during the re-syncs ((b) and
  // (c) run at every N), against the smallest N. Peak RSS is reported too, but it mostly measures
  // garbage V8 has not collected yet, which depends on GC timing rather than on N.
  const resync = (r: SizeResult, metric: (s: ScenarioResult) => number): number =>
    Math.max(...r.scenarios.filter((s) => s.scenario === 'no-change' || s.scenario === 'changed-1%').map(metric));
  const live = (r: SizeResult): number => resync(r, (s) => s.workerLiveMb);
  const rss = (r: SizeResult): number => resync(r, (s) => s.workerPeakRssMb);
  const base = results[0];
  if (base && results.length > 1) {
    const allowance = Math.max(16, live(base) * 0.1);
    for (const r of results.slice(1)) {
      checks.push({
        target: `worker memory: live heap during re-syncs at N=${r.n} <= N=${base.n}'s + ${allowance.toFixed(0)} MB (max of 16 MB, 10%: noise allowance)`,
        pass: live(r) <= live(base) + allowance,
        detail: `${live(r).toFixed(0)} MB vs ${live(base).toFixed(0)} MB (live: ${results.map((x) => `N=${x.n} ${live(x).toFixed(0)}`).join(', ')} MB; peak RSS, for reference: ${results.map((x) => `N=${x.n} ${rss(x).toFixed(0)}`).join(', ')} MB)`,
      });
    }
  } else {
    checks.push({ target: 'worker memory flat in N', pass: null, detail: 'needs two sizes' });
  }
  return checks;
}

// ---- report -------------------------------------------------------------------------------------

function renderReport(results: SizeResult[], checks: Check[], options: Options, argv: string[], startedAt: Date, totalS: number): string {
  const m = machine();
  const rows = results.flatMap((r) => r.scenarios);
  const fmt = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : '–');
  const lines: string[] = [
    options.profile === 'duo'
      ? `### ${options.label}: Duo's per-category limits × ${options.timeScale}, bulk ${options.bulk}, ${options.phones ? 'with' : 'no'} phones, latency ${options.latencyMs} ms`
      : `### ${options.label}: rate ${options.rate} req/s, latency ${options.latencyMs} ms`,
    '',
    `- machine: ${m.nproc} CPUs (\`nproc\`), ${m.memory} RAM (\`free -h\` total), ${m.cpu}`,
    `- date: ${startedAt.toISOString()}; whole matrix ${fmt(totalS / 60)} min`,
    `- command: \`npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}\``,
    options.profile === 'duo'
      ? `- settings: sizes ${options.sizes.join(', ')}; sandbox categoryLimits 'duo' × ${options.timeScale} (no account-wide limit); worker pacing adaptive per category from Duo's limits × ${options.timeScale}, no requestsPerSecond cap; duo.bulk ${options.bulk}; ${options.phones ? 'one phone' : 'no phones'} per user; latency ${options.latencyMs} ms; page size ${options.pageSize}; pagesPerRun ${options.pagesPerRun}${options.deprovision > 0 ? `; then ${options.deprovision} users removed from the store (scenario deprovisioned)` : ''}`
      : `- settings: sizes ${options.sizes.join(', ')}; rate ${options.rate} req/s (burst ${options.burst ?? options.rate}); client pacing ${options.pace === 0 ? 'off' : `${options.pace * options.rate} req/s`}; latency ${options.latencyMs} ms; page size ${options.pageSize}; pagesPerRun ${options.pagesPerRun}; ` +
      `initial sync via Temporal for N <= ${options.seedDuoAbove}, Duo seeded directly above; worker maxTaskQueueActivitiesPerSecond ${options.activitiesPerSecond ?? 'unset'}`,
    '',
    '| N | scenario | outcome | wall s | Duo calls | 429s | reads | writes | calls/user | bound s (non-429 calls ÷ rate) | wall/bound | runs | max events/run | total events | worker peak RSS MB | worker live MB |',
    '|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const counts = r.summary ? ` (created ${r.summary.created}, updated ${r.summary.updated}, unchanged ${r.summary.unchanged}, failed ${r.summary.failed})` : '';
      const timed = r.scenario !== 'seeded';
      return `| ${r.n} | ${r.scenario} | ${r.outcome}${counts} | ${fmt(r.wallS)} | ${timed ? r.stats.total : '–'} | ${timed ? r.stats.rateLimited : '–'} | ${timed ? r.stats.reads : '–'} | ${timed ? r.stats.writes : '–'} | ${timed ? fmt(r.stats.total / r.n, 2) : '–'} | ${timed ? fmt(r.boundS) : '–'} | ${timed ? fmt(r.wallS / r.boundS, 2) : '–'} | ${timed ? r.runs : '–'} | ${timed ? r.maxEventsPerRun : '–'} | ${timed ? r.totalEvents : '–'} | ${timed ? fmt(r.workerPeakRssMb, 0) : '–'} | ${timed ? fmt(r.workerLiveMb, 0) : '–'} |`;
    }),
    '',
    `Worker VmHWM (peak RSS since the worker process started, one worker per N): ${results.map((r) => `N=${r.n}: ${fmt(r.workerHwmMb, 0)} MB`).join(', ')}.`,
    ...(options.profile === 'duo' ? duoProfileLines(rows, options) : []),
    '',
    'Duo calls by endpoint (sandbox.stats().byEndpoint, 429s included):',
    '',
    '| N | scenario | calls by endpoint |',
    '|---:|---|---|',
    ...rows
      .filter((r) => r.scenario !== 'seeded')
      .map((r) => `| ${r.n} | ${r.scenario} | ${Object.entries(r.stats.byEndpoint).sort((a, b) => b[1] - a[1]).map(([k, v]) => `\`${k}\` ${v}`).join(', ')} |`),
    '',
    'Targets:',
    '',
    ...checks.map((c) => `- **${c.pass === null ? 'N/A' : c.pass ? 'PASS' : 'FAIL'}** ${c.target}: ${c.detail}`),
  ];
  return lines.join('\n');
}

/**
 * Under --profile duo: calls per Duo rate category and what the run would take against Duo itself,
 * whose limits are k times slower than the sandbox's (wall × k, bound × k).
 */
function duoProfileLines(rows: readonly ScenarioResult[], options: Options): string[] {
  const k = options.timeScale;
  const min = (s: number): string => (s / 60).toFixed(1);
  return [
    '',
    `Per Duo rate category (sandbox.stats().byCategory, accepted / 429), and the equivalent at Duo's unscaled limits (× ${k}):`,
    '',
    '| N | scenario | wall s | bound s (slowest category) | wall/bound | real-time equivalent: wall min | bound min | modify | getObject | getPage | getAll | bulk |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows
      .filter((r) => r.scenario !== 'seeded')
      .map((r) => {
        const c = (cat: DuoRateCategory): string => {
          const x = r.stats.byCategory?.[cat];
          return x ? `${x.requests - x.rateLimited} / ${x.rateLimited}` : '–';
        };
        return `| ${r.n} | ${r.scenario} | ${r.wallS.toFixed(1)} | ${r.boundS.toFixed(1)} (${r.boundCategory ?? '–'}) | ${r.boundS > 0 ? (r.wallS / r.boundS).toFixed(2) : '–'} | ${min(r.wallS * k)} | ${min(r.boundS * k)} | ${c('modify')} | ${c('getObject')} | ${c('getPage')} | ${c('getAll')} | ${c('bulk')} |`;
      }),
  ];
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(process.argv);
  const startedAt = new Date();
  log(`sizes ${options.sizes.join(', ')}, rate ${options.rate} req/s, latency ${options.latencyMs} ms`);
  const temporal = await startBenchTemporal();
  const results: SizeResult[] = [];
  try {
    for (const n of options.sizes) {
      log(`N=${n}: starting`);
      results.push(await benchSize(n, options, temporal.client, temporal.server.address, temporal.bundlePath));
    }
  } finally {
    await temporal.stop();
  }
  const checks = checkTargets(results, options);
  const totalS = (Date.now() - startedAt.getTime()) / 1000;
  const report = renderReport(results, checks, options, argv, startedAt, totalS);
  updateReport(resolve(ROOT, options.out), options.label, report);
  process.stdout.write(`${report}\n`);
  log(`report written to ${options.out}`);
}

// `npm run bench -- connections …` runs the many-connections scenario, `duo-scenarios …` the Duo-limits suite, instead of the size matrix.
(process.argv[2] === 'connections' ? runManyConnections(process.argv.slice(3)) : process.argv[2] === 'duo-scenarios' ? runDuoScenarios(process.argv.slice(3)) : main()).catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
