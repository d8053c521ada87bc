/**
 * The worker as SREs run it (`src/worker.ts` in its own process, configured by environment): it
 * serves duo-sync's metrics on DUO_SYNC_METRICS_PORT and the Temporal SDK's on
 * DUO_SYNC_TEMPORAL_METRICS_PORT (the SDK's exporter binds its own port), and every query of the
 * Grafana dashboard (deploy/grafana/duo-sync.json) names a metric one of them exports.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { metricNames } from '../support/prometheus-text';
import { testTemporal, uniqueId } from '../support/temporal';
import { waitFor } from '../support/entity';

const root = resolve(__dirname, '../..');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Metric names in a PromQL expression: identifiers with our two prefixes. */
export function metricsInExpr(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b((?:duo_sync|temporal)_[a-zA-Z0-9_]+)\b/g)].map((m) => m[1] as string))];
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

describe('worker process: metrics endpoints and the Grafana dashboard', function () {
  this.timeout(180_000);
  let child: ChildProcess;
  let output = '';
  let duoPort: number;
  let sdkPort: number;
  const taskQueue = uniqueId('worker-process');

  before(async () => {
    const { server } = testTemporal();
    duoPort = await freePort();
    sdkPort = await freePort();
    child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/worker.ts'], {
      cwd: root,
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        TEMPORAL_ADDRESS: server.address,
        TEMPORAL_NAMESPACE: server.namespace,
        TEMPORAL_TASK_QUEUE: taskQueue,
        DUO_SYNC_METRICS_PORT: String(duoPort),
        DUO_SYNC_TEMPORAL_METRICS_PORT: String(sdkPort),
        DUO_SYNC_LOG_LEVEL: 'WARN',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor('the worker to poll', () => (output.includes('polling') ? true : child.exitCode !== null ? Promise.reject(new Error(output)) : undefined), 150_000);
    const handle = await testTemporal().client.workflow.start('healthCheckWorkflow', { taskQueue, workflowId: uniqueId('health-check/metrics'), args: [{ echo: 'metrics' }] });
    await handle.result();
  });

  after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  const scrape = async (port: number): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    return res.text();
  };

  it('serves duo-sync\'s metrics and the SDK\'s on their two ports', async () => {
    const duo = await scrape(duoPort);
    assert.match(duo, /^# TYPE duo_sync_runs_total counter$/m);
    assert.match(duo, /^duo_sync_process_cpu_seconds_total /m);
    const sdk = await waitFor('SDK metrics after the health check', async () => {
      const text = await scrape(sdkPort);
      return /temporal_workflow_completed/.test(text) ? text : undefined;
    });
    assert.match(sdk, new RegExp(`temporal_workflow_completed\\{[^}]*task_queue="${taskQueue}"`));
    assert.match(output, new RegExp(`metrics http://127\\.0\\.0\\.1:${duoPort}/metrics`));
  });

  it('names in every dashboard query only metrics the worker exports', async () => {
    const exported = new Set([...metricNames(await scrape(duoPort)), ...metricNames(await scrape(sdkPort))]);
    const dashboard = JSON.parse(readFileSync(resolve(root, 'deploy/grafana/duo-sync.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string; query: string }[] } };
    const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const queries = [
      ...panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? '?', expr: t.expr ?? '' }))),
      ...dashboard.templating.list.map((v) => ({ panel: `variable ${v.name}`, expr: v.query })),
    ];
    assert.ok(queries.length >= 8, 'the dashboard has queries');
    const missing = queries.flatMap((q) => metricsInExpr(q.expr).filter((m) => !exported.has(m)).map((m) => `${q.panel}: ${m}`));
    assert.deepEqual(missing, []);
    for (const q of queries) assert.ok(metricsInExpr(q.expr).length > 0, `${q.panel}: its query names no duo-sync or Temporal metric`);
  });
});
