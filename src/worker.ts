/**
 * The worker process: hosts duo-sync workflows and activities on the `duo-sync` task queue.
 * Configuration comes from the environment (see src/config/env.ts); SIGINT/SIGTERM drain in-flight
 * tasks and exit (the Temporal runtime installs those signal handlers and shuts workers down).
 * With DUO_SYNC_CODEC_* set, every payload and failure message is AES-GCM encrypted (src/codec).
 * Operability (docs/operations.md): Prometheus metrics on DUO_SYNC_METRICS_PORT (duo-sync's own) and
 * DUO_SYNC_TEMPORAL_METRICS_PORT (the SDK's), OpenTelemetry tracing with OTEL_EXPORTER_OTLP_ENDPOINT,
 * and the audit file DUO_SYNC_AUDIT_FILE.
 */
import { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { ConfigError, describeProcessConfig, loadProcessConfig, type ProcessConfig } from './config/env';
import { dataConverterFromConfig } from './codec/config';
import { temporalConnectionOptions } from './temporal/connection';
import { createActivities, type ActivityDependencies } from './activities';
import { awaitingApprovalFromTemporal } from './metrics/awaiting-approval';
import { createDuoSyncMetrics, type DuoSyncMetrics } from './metrics/registry';
import { startMetricsServer } from './metrics/server';
import type { DuoSyncMetricsSinks } from './metrics/sinks';
import { TRACING_WORKFLOW_MODULE, tracingFromConfig, type Tracing } from './tracing';
import type { InjectedSinks } from '@temporalio/worker';
import type { AdaptivePacingOptions } from './duo/pacer';

export interface DuoSyncWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dependencies?: ActivityDependencies;
  /**
   * A pre-built bundle (tests build one per run); otherwise the workflows are bundled at start. With a
   * `dataConverter` whose `failureConverterPath` is set, a pre-built bundle must be built with that path too,
   * and with `workflowInterceptorModules({ tracing })`.
   */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload codec + failure converter (src/codec/config.ts `dataConverterFromConfig`); plain JSON payloads when absent. */
  dataConverter?: DataConverter;
  /** Extra worker options (concurrency, rate limits). */
  tuning?: Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxTaskQueueActivitiesPerSecond' | 'maxActivitiesPerSecond' | 'shutdownGraceTime' | 'identity'>;
  /** duo-sync's Prometheus metrics (src/metrics); none when absent. */
  metrics?: DuoSyncMetrics;
  /** OpenTelemetry tracing (src/tracing); off when absent. */
  tracing?: Tracing;
}

/** The workflow interceptor modules the bundle needs: run metrics always, OpenTelemetry when tracing. */
export function workflowInterceptorModules(options: { tracing?: boolean } = {}): string[] {
  return [require.resolve('./metrics/workflow-interceptors'), ...(options.tracing ? [TRACING_WORKFLOW_MODULE] : [])];
}

export async function createDuoSyncWorker(options: DuoSyncWorkerOptions): Promise<Worker> {
  const { metrics, tracing } = options;
  const deps: ActivityDependencies = {
    ...options.dependencies,
    ...(metrics
      ? {
          instrumentation: metrics.instrumentation,
          audit: { ...options.dependencies?.audit, onWritten: (id, n) => metrics.auditWritten(id, n) },
          notify: { ...options.dependencies?.notify, onDelivery: (id, outcome) => metrics.webhookDelivery(id, outcome) },
        }
      : {}),
  };
  // Registered even without metrics, so the run-metrics interceptor always finds its sink.
  const metricSinks: InjectedSinks<DuoSyncMetricsSinks> = { duoSyncMetrics: { runEnded: { fn: (_info, run) => metrics?.runEnded(run) } } };
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(deps),
    dataConverter: options.dataConverter,
    sinks: { ...metricSinks, ...tracing?.sinks },
    interceptors: { activity: tracing?.activityInterceptors ?? [] },
    // Bundling quietly here keeps webpack's module listing out of the worker's log.
    workflowBundle:
      options.workflowBundle ??
      (await bundleWorkflowCode({
        workflowsPath: require.resolve('./workflows'),
        workflowInterceptorModules: workflowInterceptorModules({ tracing: tracing !== undefined }),
        failureConverterPath: options.dataConverter?.failureConverterPath,
        logger: new DefaultLogger('WARN'),
      })),
    shutdownGraceTime: '20 seconds',
    ...options.tuning,
  });
}

/** The SDK runtime: log level, and the SDK's own Prometheus exporter (it binds its own port). */
function installRuntime(config: ProcessConfig): void {
  const port = config.DUO_SYNC_TEMPORAL_METRICS_PORT;
  const host = config.DUO_SYNC_METRICS_HOST.includes(':') ? `[${config.DUO_SYNC_METRICS_HOST}]` : config.DUO_SYNC_METRICS_HOST;
  Runtime.install({
    logger: new DefaultLogger(config.DUO_SYNC_LOG_LEVEL),
    ...(port ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `${host}:${port}` } } } } : {}),
  });
}

/**
 * Runs the worker as configured by `env`. `options.pacing` (adaptive Duo pacing, e.g. Duo's limits
 * scaled for a time-scaled sandbox) is for harnesses that run the real worker process against the
 * sandbox (`npm run docs:dashboard`); production leaves it unset.
 */
export async function runWorker(env: NodeJS.ProcessEnv = process.env, options: { pacing?: AdaptivePacingOptions } = {}): Promise<void> {
  const config = loadProcessConfig(env);
  installRuntime(config);
  const dataConverter = dataConverterFromConfig(config);
  const connection = await NativeConnection.connect(await temporalConnectionOptions(config));
  const tracing = tracingFromConfig(config);
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
  const metrics = createDuoSyncMetrics({ awaitingApproval: awaitingApprovalFromTemporal(client) });
  const server = config.DUO_SYNC_METRICS_PORT ? await startMetricsServer(metrics.registry, { host: config.DUO_SYNC_METRICS_HOST, port: config.DUO_SYNC_METRICS_PORT }) : undefined;
  try {
    const worker = await createDuoSyncWorker({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      dataConverter,
      metrics,
      ...(tracing ? { tracing } : {}),
      dependencies: {
        audit: { ...(config.DUO_SYNC_AUDIT_FILE ? { auditFile: config.DUO_SYNC_AUDIT_FILE } : {}) },
        secretTtlMs: config.DUO_SYNC_SECRET_TTL_SECONDS * 1000,
        ...(options.pacing ? { pacing: options.pacing } : {}),
      },
    });
    const extras = [
      server ? `metrics ${server.url}` : undefined,
      config.DUO_SYNC_TEMPORAL_METRICS_PORT ? `SDK metrics port ${config.DUO_SYNC_TEMPORAL_METRICS_PORT}` : undefined,
      tracing ? `tracing to ${config.OTEL_EXPORTER_OTLP_ENDPOINT}` : undefined,
      config.DUO_SYNC_AUDIT_FILE ? `audit file ${config.DUO_SYNC_AUDIT_FILE}` : undefined,
    ].filter(Boolean);
    console.log(`duo-sync worker: polling (${describeProcessConfig(config)}${extras.length ? `; ${extras.join('; ')}` : ''}); Ctrl-C to stop`);
    await worker.run();
    console.log('duo-sync worker: stopped cleanly');
  } finally {
    await server?.close();
    await tracing?.shutdown();
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
