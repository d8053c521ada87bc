/**
 * Many connections syncing at once (`npm run bench -- connections --connections 200 --users 1000`):
 * C connection entities on one worker with the SDK's default slots (100 activities), each with its
 * own file store of U users, against one unlimited Duo sandbox in its own process (so the sandbox
 * and the worker do not share an event loop). Every entity is configured at once,
 * which starts every first full sync together. It records the time until all C syncs finished, the
 * peak number of activity slots in use (sampled every 50 ms), the history sizes of the entities and
 * of the sync chains, and Duo calls, and writes a section into bench/RESULTS.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { Command } from 'commander';
import { z } from 'zod';
import { configureConnection, connectionStatus, connectionWorkflowId, type DuoSyncClient } from '../src/client';
import { ConnectionConfigSchema } from '../src/domain/connection';
import { startDevServer } from '../src/temporal/dev-server';
import { createDuoSyncWorker } from '../src/worker';
import { machine, updateReport } from './report';

const SECRET_VAR = 'DUO_SYNC_BENCH_MANY_SKEY';

const OptionsSchema = z
  .object({
    connections: z.coerce.number().int().min(1).max(2000),
    users: z.coerce.number().int().min(1).max(100_000),
    latencyMs: z.coerce.number().int().min(0),
    timeoutMinutes: z.coerce.number().positive(),
    label: z.string().regex(/^[a-z0-9-]{1,40}$/, 'must be a short slug'),
    out: z.string().min(1),
  })
  .strict();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise<void>((r) => server.close(() => r()));
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

/** `npm run sandbox` as a child process; resolves once it listens. Its state file is written when it stops. */
async function startSandboxProcess(args: string[]): Promise<{ child: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/sandbox/main.ts', ...args], { cwd: resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ready, fail) => {
    child.once('exit', (code) => fail(new Error(`the sandbox exited with ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening on')) ready();
    });
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Every connection's status, a few queries at a time; a query that fails (a busy worker) counts as not finished yet. */
async function statuses(dsc: DuoSyncClient, ids: string[]) {
  const out: (Awaited<ReturnType<typeof connectionStatus>> | undefined)[] = [];
  for (let i = 0; i < ids.length; i += 20) {
    out.push(...(await Promise.all(ids.slice(i, i + 20).map((id) => connectionStatus(dsc, id).catch(() => undefined)))));
  }
  return out;
}

function log(message: string): void {
  process.stderr.write(`[bench connections ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export async function runManyConnections(argv: string[]): Promise<void> {
  const program = new Command('npm run bench -- connections')
    .option('--connections <n>', 'connection entities, each with its own store', '200')
    .option('--users <n>', 'users per connection', '1000')
    .option('--latency-ms <ms>', 'sandbox latency per request', '0')
    .option('--timeout-minutes <m>', 'give up after this long', '90')
    .option('--label <slug>', 'section label in the report', 'many-connections')
    .option('--out <file>', 'report file', 'bench/RESULTS.md')
    .parse(argv, { from: 'user' });
  const parsed = OptionsSchema.safeParse(program.opts());
  if (!parsed.success) throw new Error(`invalid options: ${parsed.error.issues.map((i) => `--${String(i.path[0])}: ${i.message}`).join('; ')}`);
  const options = parsed.data;
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'duo-sync-bench-many-'));
  const server = await startDevServer({ uiPort: null });
  const port = await freePort();
  const secretKey = randomBytes(30).toString('hex');
  const integrationKey = 'DIBENCHMANYCONNECTIONS';
  const stateFile = join(dir, 'sandbox-state.json');
  const sandbox = await startSandboxProcess(['--port', String(port), '--ikey', integrationKey, '--skey', secretKey, '--seed', '5', '--latency-ms', String(options.latencyMs), '--state-file', stateFile]);
  const apiHost = `127.0.0.1:${port}`;
  process.env[SECRET_VAR] = secretKey;
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const native = await NativeConnection.connect({ address: server.address });
  const taskQueue = 'bench-many';
  // Default slots: the point is that the SDK's defaults suffice.
  const worker = await createDuoSyncWorker({ connection: native, namespace: server.namespace, taskQueue });
  const running = worker.run();
  let peakActivities = 0;
  let peakWorkflowTasks = 0;
  const sampler = setInterval(() => {
    const s = worker.getStatus();
    peakActivities = Math.max(peakActivities, s.numInFlightActivities);
    peakWorkflowTasks = Math.max(peakWorkflowTasks, s.numInFlightWorkflowActivations);
  }, 50);
  const dsc: DuoSyncClient = { client, taskQueue, close: async () => undefined };
  const ids = Array.from({ length: options.connections }, (_, i) => `bench-${i}`);
  let outcome = 'all succeeded';
  let duoUsers = 0;
  let wallS = 0;
  const histories = { entityMax: 0, syncRunsMax: 0, syncEventsMax: 0, syncEventsTotal: 0 };
  try {
    log(`writing ${options.connections} stores of ${options.users} users`);
    const configs = ids.map((connectionId, i) => {
      const path = join(dir, `${connectionId}.json`);
      const users = Array.from({ length: options.users }, (_, k) => ({
        username: `c${i}u${k}`,
        email: `c${i}u${k}@example.org`,
        givenName: `Given${k}`,
        familyName: `Family${k}`,
        enabled: true,
        phones: [`+1${String(200 + (i % 800)).padStart(3, '0')}${String(k).padStart(7, '0')}`],
      }));
      writeFileSync(path, JSON.stringify({ users }));
      return ConnectionConfigSchema.parse({
        connectionId,
        duo: { apiHost, integrationKey, secretKey: { env: SECRET_VAR } },
        store: { kind: 'file', path },
        userActions: { create: true, update: true },
        rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
      });
    });
    log(`configuring ${options.connections} connections at once`);
    const t0 = performance.now();
    await Promise.all(configs.map((config) => configureConnection(dsc, config)));
    const deadline = Date.now() + options.timeoutMinutes * 60_000;
    for (;;) {
      const finished = (await statuses(dsc, ids)).map((s) => s?.lastRuns.find((r) => r.kind === 'fullSync' && r.outcome !== 'running')).filter((r) => r !== undefined);
      if (finished.length === ids.length) {
        wallS = (performance.now() - t0) / 1000;
        const bad = finished.filter((r) => r.outcome !== 'succeeded' || r.counts?.created !== options.users);
        if (bad.length) outcome = `${bad.length} not as expected, e.g. ${JSON.stringify(bad[0])}`;
        break;
      }
      if (Date.now() > deadline) {
        wallS = (performance.now() - t0) / 1000;
        outcome = `timeout: ${finished.length} of ${ids.length} finished in ${options.timeoutMinutes} min`;
        break;
      }
      log(`${finished.length}/${ids.length} finished; activity slots in use ${worker.getStatus().numInFlightActivities} (peak ${peakActivities})`);
      await new Promise((r) => setTimeout(r, 5_000));
    }
    log('measuring histories');
    for (const id of ids) {
      histories.entityMax = Math.max(histories.entityMax, (await client.workflow.getHandle(connectionWorkflowId(id)).describe()).historyLength);
      const chain: number[] = [];
      for await (const run of client.workflow.list({ query: `WorkflowId = 'full-sync/${id}/1'` })) {
        chain.push((await client.workflow.getHandle(run.workflowId, run.runId).describe()).historyLength);
      }
      histories.syncRunsMax = Math.max(histories.syncRunsMax, chain.length);
      histories.syncEventsMax = Math.max(histories.syncEventsMax, ...chain);
      histories.syncEventsTotal += chain.reduce((a, b) => a + b, 0);
    }
  } finally {
    clearInterval(sampler);
    await Promise.all(ids.map((id) => client.workflow.getHandle(connectionWorkflowId(id)).terminate('bench done').catch(() => undefined)));
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await sandbox.stop();
    duoUsers = (JSON.parse(readFileSync(stateFile, 'utf8')) as { users?: unknown[] }).users?.length ?? 0;
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    delete process.env[SECRET_VAR];
  }
  const m = machine();
  const total = options.connections * options.users;
  const report = [
    `### ${options.label}: ${options.connections} connections x ${options.users} users at once, one worker, default slots`,
    '',
    `- machine: ${m.nproc} CPUs (\`nproc\`), ${m.memory} RAM, ${m.cpu}`,
    `- date: ${startedAt.toISOString()}`,
    `- command: \`npm run bench -- connections ${argv.join(' ')}\``,
    `- settings: one in-process worker (SDK defaults: 100 activity slots), sandbox (own process) unlimited, latency ${options.latencyMs} ms; every entity configured at once, so every first full sync starts together`,
    '',
    '| outcome | wall s (configure → all finished) | Duo users | users/s | peak activity slots in use | peak workflow activations | max entity history events | max runs per sync chain | max events per sync run | sync events total |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${outcome} | ${wallS.toFixed(1)} | ${duoUsers} of ${total} | ${(duoUsers / wallS).toFixed(0)} | ${peakActivities} | ${peakWorkflowTasks} | ${histories.entityMax} | ${histories.syncRunsMax} | ${histories.syncEventsMax} | ${histories.syncEventsTotal} |`,
  ].join('\n');
  updateReport(resolve(__dirname, '..', options.out), options.label, report);
  process.stdout.write(`${report}\n`);
}
