/**
 * Benchmark worker: the real duo-sync worker (createDuoSyncWorker, real activities) in a process of
 * its own, so bench/sync-bench.ts can read its memory from /proc/<pid>/status apart from the
 * sandbox and the driver. It loads the workflow bundle the driver built once
 * (BENCH_WORKFLOW_BUNDLE), so webpack's bundling peak is not counted as the worker's memory.
 * Prints READY on stdout once polling; answers each line on stdin with `LIVE <bytes>` (memory kept
 * after a full GC); SIGTERM/SIGINT drain and exit (the Temporal runtime installs those handlers).
 */
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { z } from 'zod';
import { createDuoSyncWorker } from '../src/worker';

const EnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1),
  BENCH_WORKFLOW_BUNDLE: z.string().min(1),
  BENCH_ACTIVITIES_PER_SECOND: z.coerce.number().positive().optional(),
  /** Pace the (loopback) sandbox like real Duo: adaptive per-category pacing from Duo's limits × this. */
  BENCH_PACING_TIME_SCALE: z.coerce.number().positive().optional(),
  /** Seconds between `process.memoryUsage()` lines on stderr (diagnosing what takes the RSS). */
  BENCH_MEMORY_LOG_SECONDS: z.coerce.number().positive().optional(),
});

async function main(): Promise<void> {
  const env = EnvSchema.parse(process.env);
  // Live memory: for each line on stdin the driver gets the heap in use (plus buffers) right after a
  // full GC, which is what a worker keeps; the peak RSS also counts garbage V8 has not collected yet.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  createInterface({ input: process.stdin }).on('line', () => {
    gc();
    const m = process.memoryUsage();
    process.stdout.write(`LIVE ${m.heapUsed + m.external}\n`);
  });
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    const worker = await createDuoSyncWorker({
      connection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      workflowBundle: { codePath: env.BENCH_WORKFLOW_BUNDLE },
      ...(env.BENCH_PACING_TIME_SCALE === undefined ? {} : { dependencies: { pacing: { limits: 'duo' as const, timeScale: env.BENCH_PACING_TIME_SCALE } } }),
      tuning: {
        shutdownGraceTime: '2 seconds',
        ...(env.BENCH_ACTIVITIES_PER_SECOND === undefined ? {} : { maxTaskQueueActivitiesPerSecond: env.BENCH_ACTIVITIES_PER_SECOND }),
      },
    });
    const running = worker.run();
    if (env.BENCH_MEMORY_LOG_SECONDS) {
      const mb = (n: number) => (n / 1e6).toFixed(0);
      setInterval(() => {
        const m = process.memoryUsage();
        process.stderr.write(`memory rss=${mb(m.rss)} heapUsed=${mb(m.heapUsed)} heapTotal=${mb(m.heapTotal)} external=${mb(m.external)} arrayBuffers=${mb(m.arrayBuffers)} MB\n`);
      }, env.BENCH_MEMORY_LOG_SECONDS * 1000).unref();
    }
    process.stdout.write('READY\n');
    await running;
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(`bench worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
