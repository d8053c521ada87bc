/**
 * The worker process: hosts duo-sync workflows and activities on the `duo-sync` task queue.
 * Configuration comes from the environment (see src/config/env.ts); SIGINT/SIGTERM drain in-flight
 * tasks and exit (the Temporal runtime installs those signal handlers and shuts workers down).
 * With DUO_SYNC_CODEC_* set, every payload and failure message is AES-GCM encrypted (src/codec).
 */
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { ConfigError, describeProcessConfig, loadProcessConfig } from './config/env';
import { dataConverterFromConfig } from './codec/config';
import { temporalConnectionOptions } from './temporal/connection';
import { createActivities, type ActivityDependencies } from './activities';

export interface DuoSyncWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dependencies?: ActivityDependencies;
  /**
   * A pre-built bundle (tests build one per run); otherwise the workflows are bundled at start. With a
   * `dataConverter` whose `failureConverterPath` is set, a pre-built bundle must be built with that path too.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload codec + failure converter (src/codec/config.ts `dataConverterFromConfig`); plain JSON payloads when absent. */
  dataConverter?: DataConverter;
  /** Extra worker options (concurrency, rate limits). */
  tuning?: Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxTaskQueueActivitiesPerSecond' | 'maxActivitiesPerSecond' | 'shutdownGraceTime' | 'identity'>;
}

export async function createDuoSyncWorker(options: DuoSyncWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.dependencies),
    dataConverter: options.dataConverter,
    // Bundling quietly here keeps webpack's module listing out of the worker's log.
    workflowBundle:
      options.workflowBundle ??
      (await bundleWorkflowCode({
        workflowsPath: require.resolve('./workflows'),
        failureConverterPath: options.dataConverter?.failureConverterPath,
        logger: new DefaultLogger('WARN'),
      })),
    shutdownGraceTime: '20 seconds',
    ...options.tuning,
  });
}

export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = loadProcessConfig(env);
  const dataConverter = dataConverterFromConfig(config);
  const connection = await NativeConnection.connect(await temporalConnectionOptions(config));
  try {
    const worker = await createDuoSyncWorker({ connection, namespace: config.TEMPORAL_NAMESPACE, taskQueue: config.TEMPORAL_TASK_QUEUE, dataConverter });
    console.log(`duo-sync worker: polling (${describeProcessConfig(config)}); Ctrl-C to stop`);
    await worker.run();
    console.log('duo-sync worker: stopped cleanly');
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  runWorker().catch((err: unknown) => {
    const message = err instanceof ConfigError ? err.message : err instanceof Error ? err.message : String(err);
    console.error(`duo-sync worker: ${message}`);
    process.exit(1);
  });
}
