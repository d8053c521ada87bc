/**
 * `npm run docs:dashboard`: takes docs/images/dashboard.png from real metrics. It runs the product
 * on loopback the way ops would, scrapes it with a real Prometheus, drives a few minutes of ordinary
 * work through the client API, then draws deploy/grafana/duo-sync.json from Prometheus
 * (scripts/dashboard/render.ts).
 *
 * - a Temporal dev server (scripts/temporal-cli.sh);
 * - the Duo sandbox with Duo's per-category limits, time-scaled (a "minute" lasts 60/SCALE seconds)
 *   and a strict 10-second burst, plus a little latency;
 * - two worker processes (src/worker.ts `runWorker`, both metrics ports) sharing the Duo account,
 *   each pacing it adaptively from Duo's known limits: together they overrun it, so 429s, back-off
 *   and pacing waits happen as with several workers on one real account;
 * - Prometheus (scripts/prometheus.sh) scraping all four metrics ports every second, with a
 *   throwaway config and data dir;
 * - four connections with file stores: full syncs creating and updating users and groups,
 *   single-user reconciles, a run ending partial (invalid phone and email in the store), a store
 *   that is unreadable for one run, and a run waiting at the deletion guard; webhooks to a loopback
 *   receiver (one of them failing), and the audit file.
 *
 * Needs DUO_SYNC_CHROMIUM and DUO_SYNC_PROMETHEUS (scripts/dashboard-picture.sh sets both).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { configureConnection, connectDuoSyncClient, connectionStatus, signalUserChanged, syncNow, type DuoSyncClient } from '../../src/client';
import { loadProcessConfig } from '../../src/config/env';
import type { ConnectionConfig } from '../../src/domain/connection';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import type { DirectoryFile } from '../../src/stores';
import { freePort, startDevServer } from '../../src/temporal/dev-server';
import { renderDashboard } from './render';

const root = resolve(__dirname, '../..');

const EnvSchema = z.object({
  DUO_SYNC_CHROMIUM: z.string().min(1, 'set DUO_SYNC_CHROMIUM (scripts/chromium.sh prints it)'),
  DUO_SYNC_PROMETHEUS: z.string().min(1, 'set DUO_SYNC_PROMETHEUS (scripts/prometheus.sh prints it)'),
  /** The sandbox's time scale and the workers' pacing scale: Duo's per-minute limits × this per minute. */
  DASHBOARD_TIME_SCALE: z.coerce.number().positive().default(5),
  /** Rounds of store changes and syncs after the first full syncs (about 25 s each). */
  DASHBOARD_ROUNDS: z.coerce.number().int().min(1).default(7),
  DASHBOARD_OUT: z.string().default(resolve(root, 'docs/images/dashboard.png')),
});

const t0 = Date.now();
const log = (msg: string): void => {
  process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(500);
  }
}

/** A child process whose output is kept for error messages; stop() sends SIGTERM and waits. */
function startProcess(name: string, command: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  let output = '';
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(30_000).then(() => true)]);
      if (killed) {
        log(`${name} did not stop in 30 s after SIGTERM: killing it`);
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

const GIVEN = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Leslie', 'Niklaus', 'Margaret'];
const FAMILY = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman', 'Lamport', 'Wirth', 'Hamilton'];

type FileUser = NonNullable<DirectoryFile['users']>[number];

function person(prefix: string, i: number, groups: string[]): FileUser {
  const given = GIVEN[i % GIVEN.length] as string;
  const family = FAMILY[Math.floor(i / GIVEN.length) % FAMILY.length] as string;
  const username = `${prefix}.${given}.${family}.${i}`.toLowerCase();
  return {
    username,
    email: `${username}@example.org`,
    phones: [`+1555${String(i + 1000 * prefix.length).padStart(7, '0')}`],
    givenName: given,
    familyName: family,
    groups: [groups[i % groups.length] as string],
  };
}

interface Directory {
  id: string;
  path: string;
  users: FileUser[];
  groups: string[];
  write(): void;
}

function directory(dir: string, id: string, count: number, groups: string[]): Directory {
  const d: Directory = {
    id,
    path: join(dir, `${id}.json`),
    users: Array.from({ length: count }, (_, i) => person(id, i, groups)),
    groups: groups,
    write: () => writeFileSync(d.path, JSON.stringify({ users: d.users, groups: d.groups.map((g) => ({ id: g, name: g })) } satisfies DirectoryFile)),
  };
  d.write();
  return d;
}

function connectionConfig(d: Directory, duo: ConnectionConfig['duo'], webhooks: NonNullable<ConnectionConfig['notifications']>['webhooks']): ConnectionConfig {
  return {
    connectionId: d.id,
    description: `dashboard picture: ${d.id}`,
    enabled: true,
    duo,
    store: { kind: 'file', path: d.path },
    userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'disable', cleanupUnusedPhones: true },
    fullSyncIntervalMinutes: 60,
    deletionGuard: { maxFraction: 0.1, maxCount: 500, approvalTimeoutMinutes: 1440, onTimeout: 'skipDeletions' },
    sourceHealth: { maxDropFraction: 0.5 },
    rules: [{ id: 'everyone', direction: 'outbound', scope: { kind: 'all' }, groups: { include: d.groups } }],
    notifications: { webhooks },
  } as ConnectionConfig;
}

/** Loopback webhook receiver: `/chat` takes everything, `/pager` is down (503), so both outcomes show. */
async function startReceiver(): Promise<{ url: string; received: () => number; stop: () => Promise<void> }> {
  let received = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.statusCode = req.url === '/pager' ? 503 : 200;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, received: () => received, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

async function idle(dsc: DuoSyncClient, id: string): Promise<boolean> {
  const s = await connectionStatus(dsc, id);
  return !s.currentRun && !s.syncQueued && s.reconcilesInFlight === 0 && s.runsInFlight.length === 0;
}

async function main(): Promise<void> {
  const env = EnvSchema.parse(process.env);
  const scale = env.DASHBOARD_TIME_SCALE;
  const work = mkdtempSync(join(tmpdir(), 'duo-sync-dashboard-'));
  const secrets = join(work, 'secrets');
  mkdirSync(secrets, { mode: 0o700 });
  const stops: (() => Promise<void>)[] = [async () => rmSync(work, { recursive: true, force: true })];
  try {
    const server = await startDevServer({ port: await freePort(), uiPort: null });
    stops.push(() => server.stop());
    log(`Temporal dev server at ${server.address}`);

    const sandbox: DuoSandbox = await startDuoSandbox({ categoryLimits: { profile: 'duo', burstSeconds: 10 }, timeScale: scale, latencyMs: 15, seed: 14 });
    stops.push(() => sandbox.stop());
    writeFileSync(join(secrets, 'duo_skey'), `${sandbox.account.secretKey}\n`, { mode: 0o600 });
    log(`Duo sandbox at http://${sandbox.apiHost}: Duo's per-category limits ×${scale}, 10 s bursts, 15 ms latency`);

    const receiver = await startReceiver();
    stops.push(() => receiver.stop());
    writeFileSync(join(secrets, 'chat_url'), `${receiver.url}/chat\n`, { mode: 0o600 });
    writeFileSync(join(secrets, 'pager_url'), `${receiver.url}/pager\n`, { mode: 0o600 });

    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const [promPort, ...metricPorts] = ports as [number, number, number, number, number];
    const workers = [
      { name: 'worker-1', duo: metricPorts[0], sdk: metricPorts[1] },
      { name: 'worker-2', duo: metricPorts[2], sdk: metricPorts[3] },
    ];
    const promDir = join(work, 'prometheus');
    mkdirSync(promDir);
    const target = (ps: number[]) => JSON.stringify(ps.map((p) => `127.0.0.1:${p}`));
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: duo-sync',
        `    static_configs: [{ targets: ${target(workers.map((w) => w.duo))} }]`,
        '  - job_name: duo-sync-temporal-sdk',
        `    static_configs: [{ targets: ${target(workers.map((w) => w.sdk))} }]`,
        '',
      ].join('\n'),
    );
    const prometheus = startProcess('prometheus', env.DUO_SYNC_PROMETHEUS, [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ], { PATH: process.env['PATH'] });
    stops.push(prometheus.stop);
    const promUrl = `http://127.0.0.1:${promPort}`;
    await waitFor('Prometheus to be ready', async () => ((await fetch(`${promUrl}/-/ready`)).ok ? true : undefined), 60_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${prometheus.output()}`);
    });
    log(`Prometheus at ${promUrl}, scraping ${workers.length * 2} ports every second`);

    for (const w of workers) {
      const p = startProcess(w.name, process.execPath, ['-r', 'ts-node/register/transpile-only', 'scripts/dashboard/worker.ts'], {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: server.namespace,
        DUO_SYNC_METRICS_PORT: String(w.duo),
        DUO_SYNC_TEMPORAL_METRICS_PORT: String(w.sdk),
        DUO_SYNC_SECRET_DIRS: secrets,
        DUO_SYNC_AUDIT_FILE: join(work, 'audit.jsonl'),
        DUO_SYNC_LOG_LEVEL: 'WARN',
        DASHBOARD_PACING_TIME_SCALE: String(scale),
      });
      stops.push(p.stop);
      await waitFor(`${w.name} to poll`, async () => {
        if (p.child.exitCode !== null) throw new Error(`${w.name} exited: ${p.output()}`);
        return p.output().includes('polling') ? true : undefined;
      }, 180_000).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${p.output()}`);
      });
      log(`${w.name} polling (metrics :${w.duo}, SDK metrics :${w.sdk})`);
    }

    // The picture starts shortly before the work does, not at the workers' bundling minute.
    const start = Math.floor(Date.now() / 1000) - 10;
    const dsc = await connectDuoSyncClient(loadProcessConfig({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace }), { requestedBy: { identity: 'dashboard-picture', via: 'api' } });
    stops.push(() => dsc.close());
    const duo: ConnectionConfig['duo'] = { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { file: join(secrets, 'duo_skey') } };
    const chat = { id: 'chat', url: { file: join(secrets, 'chat_url') }, format: 'json' as const };
    const pager = { id: 'pager', url: { file: join(secrets, 'pager_url') }, format: 'json' as const, events: ['runFailed' as const, 'deletionsAwaitingApproval' as const] };

    const stores = join(work, 'stores');
    mkdirSync(stores);
    const hr = directory(stores, 'hr', 320, ['hr-staff', 'hr-managers', 'hr-payroll']);
    const sales = directory(stores, 'sales', 220, ['sales-emea', 'sales-amer']);
    const contractors = directory(stores, 'contractors', 120, ['contractors']);
    const partners = directory(stores, 'partners', 60, ['partners']);
    // Messy data, as directories have: an unparseable phone and a malformed email fail their users, so partners' runs end partial.
    partners.users[7] = { ...(partners.users[7] as FileUser), phones: ['ask reception'] };
    partners.users[23] = { ...(partners.users[23] as FileUser), email: 'bad@@example.org' };
    partners.write();
    const all = [hr, sales, contractors, partners];
    for (const d of all) await configureConnection(dsc, connectionConfig(d, duo, d === hr ? [chat] : [chat, pager]));
    log(`configured ${all.map((d) => d.id).join(', ')} (${all.reduce((n, d) => n + d.users.length, 0)} users); first full syncs running`);
    await waitFor('the first full syncs', async () => ((await Promise.all(all.map((d) => idle(dsc, d.id)))).every(Boolean) ? true : undefined), 600_000);
    log('first full syncs done');

    let next = 10_000;
    for (let round = 1; round <= env.DASHBOARD_ROUNDS; round++) {
      const roundStart = Date.now();
      // HR: people change names and phones, a few join; some changes arrive as single-user signals.
      for (let k = 0; k < 14; k++) {
        const i = (round * 37 + k * 11) % hr.users.length;
        const u = hr.users[i] as FileUser;
        hr.users[i] = { ...u, familyName: `${u.familyName?.replace(/-\d+$/, '') ?? 'X'}-${round}`, phones: [`+1556${String(round * 1000 + k).padStart(7, '0')}`] };
      }
      for (let k = 0; k < 6; k++) hr.users.push(person('hr', next++, hr.groups));
      hr.write();
      for (let k = 0; k < 3; k++) await signalUserChanged(dsc, 'hr', { username: (hr.users[(round * 5 + k * 41) % hr.users.length] as FileUser).username });
      await syncNow(dsc, 'hr', { reason: `dashboard round ${round}` });
      // Sales: group moves; in rounds 3 and 4 the export job leaves the store file half-written when
      // the sync reads it (twice: Prometheus' increase() cannot see a counter's first increment).
      const salesBroken = round === 3 || round === 4;
      if (salesBroken) writeFileSync(sales.path, '{ "users": [ { "username": ');
      else {
        for (let k = 0; k < 10; k++) {
          const i = (round * 13 + k * 17) % sales.users.length;
          const u = sales.users[i] as FileUser;
          sales.users[i] = { ...u, groups: [u.groups?.[0] === 'sales-emea' ? 'sales-amer' : 'sales-emea'] };
        }
        sales.write();
      }
      await syncNow(dsc, 'sales', { reason: `dashboard round ${round}` });
      // Partners: the same messy directory, re-synced (partial again).
      if (round % 2 === 0) await syncNow(dsc, 'partners', { reason: `dashboard round ${round}` });
      // Contractors: a quarter of them leave at once, past the 10% deletion guard: the run waits for approval.
      if (round === Math.max(2, env.DASHBOARD_ROUNDS - 3)) {
        contractors.users.splice(0, 30);
        contractors.write();
        await syncNow(dsc, 'contractors', { reason: 'contract ended' });
      }
      log(`round ${round}: hr ${hr.users.length} users, sales ${salesBroken ? 'unreadable' : 'moved 10'}${round % 2 === 0 ? ', partners re-synced' : ''}`);
      await waitFor(`round ${round}'s syncs`, async () => ((await Promise.all([hr, sales, partners].map((d) => idle(dsc, d.id)))).every(Boolean) ? true : undefined), 600_000);
      const rest = 25_000 - (Date.now() - roundStart);
      if (rest > 0) await sleep(rest);
    }
    const waiting = await connectionStatus(dsc, 'contractors');
    log(`contractors: ${waiting.currentRun?.phase === 'awaitingApproval' ? `${waiting.currentRun.awaitingApproval?.plannedDeletions ?? '?'} deletions awaiting approval` : `not waiting (${waiting.currentRun?.phase ?? 'idle'})`}; webhooks received ${receiver.received()}`);
    // A few more scrapes so the last changes are in Prometheus.
    await sleep(8_000);
    const end = Math.floor(Date.now() / 1000);
    const minutes = ((end - start) / 60).toFixed(1);
    const result = await renderDashboard({
      prometheusUrl: promUrl,
      window: { start, end, step: 2 },
      rateInterval: '30s',
      out: env.DASHBOARD_OUT,
      chromiumPath: env.DUO_SYNC_CHROMIUM,
      // 1440 px wide keeps the PNG under the docs' 400 KB budget with every panel readable.
      width: 1440,
      subtitle: `${minutes} min of real metrics: 2 workers, 4 connections, Duo sandbox at Duo's limits ×${scale}`,
    });
    log(`${env.DASHBOARD_OUT}: ${result.panels} panels, ${result.withData.length} with data, ${(result.bytes / 1024).toFixed(0)} KB`);
    // The picture is meant to show every panel with data: an empty one means the workload no longer exercises it.
    if (result.empty.length) throw new Error(`panels without data (the PNG was written; change the workload so they get some): ${result.empty.join('; ')}`);
    if (result.bytes > 400 * 1024) throw new Error(`${env.DASHBOARD_OUT} is ${(result.bytes / 1024).toFixed(0)} KB, over the 400 KB budget for docs images`);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
}

main().then(
  () => log('done'),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
