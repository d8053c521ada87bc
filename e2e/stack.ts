/**
 * The whole product on free ports for the browser test and the README screenshots: a Temporal dev
 * server WITH its Web UI, a worker on the `duo-sync` task queue, the demo's Duo sandbox and sample
 * directory (src/demo.ts) in a temp dir, and the `demo` connection configured through src/client.ts
 * with its first full sync done.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { configureConnection, connectDuoSyncClient, connectionStatus, type DuoSyncClient } from '../src/client';
import { loadProcessConfig } from '../src/config/env';
import { DEMO_CONNECTION_ID, demoSecretPolicy, startDemoEnvironment, type DemoEnvironment } from '../src/demo';
import type { DuoSandbox } from '../src/sandbox';
import { freePort, startDevServer, type DevServer } from '../src/temporal/dev-server';
import { createDuoSyncWorker } from '../src/worker';

export interface Stack {
  server: DevServer;
  uiUrl: string;
  dsc: DuoSyncClient;
  demo: DemoEnvironment;
  sandbox: DuoSandbox;
  connectionId: string;
  /** Web UI address of the namespace, e.g. http://127.0.0.1:8233/namespaces/default. */
  namespaceUrl: string;
  /** Web UI address of a workflow's page. */
  workflowUrl(workflowId: string): string;
  /** Web UI address of the workflow list filtered by a search attribute query. */
  listUrl(query: string): string;
  stop(): Promise<void>;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startStack(): Promise<Stack> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const dataDir = mkdtempSync(join(tmpdir(), 'duo-sync-e2e-'));
  const stops: (() => Promise<void>)[] = [async () => rmSync(dataDir, { recursive: true, force: true })];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(`e2e: cleanup: ${String(err)}`));
  };
  try {
    const server = await startDevServer({ port: await freePort(), uiPort: await freePort() });
    stops.push(() => server.stop());
    const uiUrl = server.uiUrl as string;
    const config = loadProcessConfig({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace });
    const native = await NativeConnection.connect({ address: server.address });
    stops.push(() => native.close());
    const worker = await createDuoSyncWorker({ connection: native, namespace: server.namespace, taskQueue: config.TEMPORAL_TASK_QUEUE, dependencies: { secretPolicy: demoSecretPolicy(dataDir, {}) } });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
    });
    const dsc = await connectDuoSyncClient(config);
    stops.push(() => dsc.close());
    const demo = await startDemoEnvironment(dataDir, {});
    stops.push(() => demo.stop());
    if (!demo.sandbox) throw new Error('the e2e stack needs the Duo sandbox (unset DUO_API_HOST)');
    await configureConnection(dsc, demo.config);
    await waitFor('the first full sync of the demo connection', async () => {
      const s = await connectionStatus(dsc, DEMO_CONNECTION_ID);
      return s.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome !== 'running') && !s.currentRun ? s : undefined;
    });
    const base = `${uiUrl}/namespaces/${server.namespace}`;
    return {
      server,
      uiUrl,
      dsc,
      demo,
      sandbox: demo.sandbox,
      connectionId: DEMO_CONNECTION_ID,
      namespaceUrl: base,
      workflowUrl: (workflowId) => `${base}/workflows/${encodeURIComponent(workflowId)}`,
      listUrl: (query) => `${base}/workflows?query=${encodeURIComponent(query)}`,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
