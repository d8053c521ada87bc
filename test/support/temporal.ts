/**
 * One real Temporal dev server per test run, one workflow bundle per process, and a fresh task
 * queue + worker per test. Tests get everything from `testTemporal()`.
 * `npm test` runs files in parallel processes: test/support/global-fixtures.ts starts the one
 * server and passes its address in the environment; each process connects to it once (root hooks
 * run per file there). A single file run with root-hooks.ts alone starts a server of its own.
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

export const SHARED_SERVER_ENV = { address: 'DUO_SYNC_TEST_TEMPORAL_ADDRESS', namespace: 'DUO_SYNC_TEST_TEMPORAL_NAMESPACE' } as const;

/** The server global-fixtures.ts started for this run, if any; it outlives every file. */
function sharedServer(): DevServer | undefined {
  const address = process.env[SHARED_SERVER_ENV.address];
  const namespace = process.env[SHARED_SERVER_ENV.namespace];
  return address && namespace ? { address, namespace, uiUrl: null, stop: async () => undefined } : undefined;
}

let runtimeInstalled = false;

export async function startTestTemporal(): Promise<void> {
  if (current) return;
  if (!runtimeInstalled) {
    // Worker logs at ERROR: activity failures are expected in fault tests and surface through assertions.
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  const server = sharedServer() ?? (await startDevServer({ uiPort: null }));
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  current = { server, connection, nativeConnection, client: new Client({ connection, namespace: server.namespace }) };
}

/** Shuts down the file's leftover workers; with a shared server the process keeps its connections for the next file. */
export async function stopTestTemporal(): Promise<void> {
  if (!current) return;
  const shared = sharedServer() !== undefined;
  const { server, connection, nativeConnection } = current;
  if (!shared) current = undefined;
  await Promise.allSettled(
    [...liveWorkers].map(async (worker) => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      const deadline = Date.now() + 30_000;
      while (!['STOPPED', 'FAILED', 'INITIALIZED'].includes(worker.getState()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }),
  );
  liveWorkers.clear();
  if (shared) return;
  await connection.close();
  await nativeConnection.close();
  await server.stop();
}

export function testTemporal(): TestTemporal {
  if (!current) throw new Error('Temporal dev server is not running: run tests through mocha with .mocharc.cjs (root hooks)');
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
