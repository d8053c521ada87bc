/**
 * One real Temporal dev server per test run (started by root-hooks.ts), one workflow bundle per run,
 * and a fresh task queue + worker per test. Tests get everything from `testTemporal()`.
 */
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, type WorkflowBundleWithSourceMap, type Worker } from '@temporalio/worker';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { createDuoSyncWorker, workflowInterceptorModules, type DuoSyncWorkerOptions } from '../../src/worker';

interface TestTemporal {
  server: DevServer;
  connection: Connection;
  client: Client;
  nativeConnection: NativeConnection;
}

let current: TestTemporal | undefined;
/** Workers still running when the run ends (e.g. a timed-out test) are shut down before the connection closes. */
const liveWorkers = new Set<Worker>();
/** One bundle per failure converter ('' = the SDK default); the codec tests add the encrypting one. */
const bundlePromises = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

export async function startTestTemporal(): Promise<void> {
  // Worker logs at ERROR: activity failures are expected in fault tests and surface through assertions.
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const server = await startDevServer({ uiPort: null });
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  current = { server, connection, nativeConnection, client: new Client({ connection, namespace: server.namespace }) };
}

export async function stopTestTemporal(): Promise<void> {
  if (!current) return;
  const { server, connection, nativeConnection } = current;
  current = undefined;
  await Promise.allSettled(
    [...liveWorkers].map(async (worker) => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      const deadline = Date.now() + 30_000;
      while (!['STOPPED', 'FAILED', 'INITIALIZED'].includes(worker.getState()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  await connection.close();
  await nativeConnection.close();
  await server.stop();
}

export function testTemporal(): TestTemporal {
  if (!current) throw new Error('Temporal dev server is not running: run tests through mocha with .mocharc.json (root hooks)');
  return current;
}

/** Bundles src/workflows once per run (webpack takes seconds; every worker reuses the bundle). */
export function workflowBundle(failureConverterPath?: string): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundlePromises.get(failureConverterPath ?? '');
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), workflowInterceptorModules: workflowInterceptorModules(), failureConverterPath, logger: new DefaultLogger('WARN') });
    bundlePromises.set(failureConverterPath ?? '', bundle);
  }
  return bundle;
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export type TestWorkerOptions = Omit<DuoSyncWorkerOptions, 'connection' | 'namespace' | 'taskQueue' | 'workflowBundle'> & { taskQueue?: string };

/** Creates a worker on its own task queue with the shared bundle (built with the dataConverter's failure converter, if any). */
export async function createTestWorker(options: TestWorkerOptions = {}): Promise<{ worker: Worker; taskQueue: string }> {
  const t = testTemporal();
  const taskQueue = options.taskQueue ?? uniqueId('tq');
  const worker = await createDuoSyncWorker({
    ...options,
    connection: t.nativeConnection,
    namespace: t.server.namespace,
    taskQueue,
    workflowBundle: await workflowBundle(options.dataConverter?.failureConverterPath),
  });
  liveWorkers.add(worker);
  return { worker, taskQueue };
}

/** Runs `fn` while a fresh worker polls its own task queue; the worker is shut down afterwards. */
export async function withWorker<T>(options: TestWorkerOptions, fn: (taskQueue: string, worker: Worker) => Promise<T>): Promise<T> {
  const { worker, taskQueue } = await createTestWorker(options);
  return worker.runUntil(fn(taskQueue, worker));
}
