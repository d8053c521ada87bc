/**
 * What the sync benchmarks share: a dev server with the workflow bundle on disk for worker
 * children, the real worker in a child process (bench/worker-process.ts) with its memory sampled
 * from /proc, and the history lengths of a continue-as-new chain.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../src/temporal/dev-server';

export const ROOT = resolve(__dirname, '..');
/** Environment variable through which the worker child gets the sandbox account's secret key. */
export const SECRET_VAR = 'DUO_SYNC_BENCH_SKEY';
const RSS_SAMPLE_MS = 200;

// ---- dev server and workflow bundle ------------------------------------------------------------

export interface BenchTemporal {
  server: DevServer;
  client: Client;
  /** The workflow bundle, written once for every worker child to load. */
  bundlePath: string;
  stop(): Promise<void>;
}

export async function startBenchTemporal(): Promise<BenchTemporal> {
  const bundleDir = mkdtempSync(join(tmpdir(), 'duo-sync-bench-bundle-'));
  const bundlePath = join(bundleDir, 'workflows.js');
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../src/workflows'), logger: new DefaultLogger('WARN') });
  writeFileSync(bundlePath, code);
  const server = await startDevServer({ uiPort: null });
  const connection = await Connection.connect({ address: server.address });
  return {
    server,
    client: new Client({ connection, namespace: server.namespace }),
    bundlePath,
    stop: async () => {
      await connection.close();
      await server.stop();
      rmSync(bundleDir, { recursive: true, force: true });
    },
  };
}

// ---- worker child and its memory ----------------------------------------------------------------

interface ProcMemory {
  rssKb: number;
  hwmKb: number;
}

function readProcMemory(pid: number): ProcMemory | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 'NaN');
    return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
  } catch {
    return null;
  }
}

/** How often the driver asks the worker for its live memory (a full GC in the worker each time). */
const LIVE_SAMPLE_MS = 5000;

export class WorkerChild {
  private windowPeakKb = 0;
  private windowLiveBytes = 0;
  private liveWaiters: (() => void)[] = [];
  private lastHwmKb = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
    this.timer = setInterval(() => this.sample(), RSS_SAMPLE_MS);
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const live = /^LIVE (\d+)$/.exec(line);
        if (!live) continue;
        this.windowLiveBytes = Math.max(this.windowLiveBytes, Number(live[1]));
        for (const wake of this.liveWaiters.splice(0)) wake();
      }
    });
  }

  private liveTimer: NodeJS.Timeout | undefined;

  /** A line on the worker's stdin asks for a LIVE line (signals are the Temporal runtime's: SIGUSR2 shuts it down). */
  private askLive(): void {
    if (this.child.stdin?.writable) this.child.stdin.write('live\n');
  }

  /** Largest live memory (heap + buffers after a full GC) since resetWindow, including one sample taken now. */
  async windowLiveMb(): Promise<number> {
    const sampled = new Promise<void>((r) => this.liveWaiters.push(r));
    this.askLive();
    await Promise.race([sampled, new Promise((r) => setTimeout(r, 10_000))]);
    return this.windowLiveBytes / 1e6;
  }

  static async start(env: Record<string, string>): Promise<WorkerChild> {
    // BENCH_WORKER_CPU_PROF=<dir>: the worker writes a CPU profile there (node refuses --cpu-prof in NODE_OPTIONS).
    const profile = process.env.BENCH_WORKER_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_WORKER_CPU_PROF] : [];
    const child = spawn(process.execPath, [...profile, '-r', 'ts-node/register/transpile-only', join('bench', 'worker-process.ts')], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const worker = new WorkerChild(child);
    await new Promise<void>((ready, fail) => {
      let out = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('READY')) ready();
      });
      child.once('exit', (code) => fail(new Error(`bench worker exited with code ${code} before polling`)));
    });
    worker.liveTimer = setInterval(() => worker.askLive(), LIVE_SAMPLE_MS);
    return worker;
  }

  private sample(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const mem = readProcMemory(pid);
    if (!mem) return;
    this.windowPeakKb = Math.max(this.windowPeakKb, mem.rssKb);
    this.lastHwmKb = mem.hwmKb;
  }

  /** Starts a new sampling window (one scenario). */
  resetWindow(): void {
    this.sample();
    this.windowPeakKb = 0;
    this.windowLiveBytes = 0;
    this.sample();
  }

  /** Highest RSS sampled since resetWindow. */
  windowPeakMb(): number {
    this.sample();
    return this.windowPeakKb / 1024;
  }

  /** The kernel's high-water mark of the worker's RSS since it started (VmHWM). */
  hwmMb(): number {
    this.sample();
    return this.lastHwmKb / 1024;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.liveTimer);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(kill);
  }
}

type WorkflowHistory = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export async function historyChain(client: Client, workflowId: string, firstRunId: string): Promise<number[]> {
  const lengths: number[] = [];
  let runId: string | null | undefined = firstRunId;
  while (runId) {
    const history: WorkflowHistory = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    lengths.push(events.length);
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
  }
  return lengths;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
