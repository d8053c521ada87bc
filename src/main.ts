/**
 * `npm start`: the whole product on one machine. Starts a Temporal dev server that keeps its state
 * in .data/temporal.sqlite (so a second start resumes where the first stopped) with the Web UI,
 * starts the worker, proves the round trip, and runs until Ctrl-C, which stops everything cleanly.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { z } from 'zod';
import { startDevServer } from './temporal/dev-server';
import { createDuoSyncWorker } from './worker';
import { connectDuoSyncClient, runHealthCheck } from './client';
import { DEMO_CONNECTION_ID, demoSecretPolicy, demoWriteConsent, runFirstDemoSync, startDemoEnvironment } from './demo';
import { describeCounts, describeGroupCounts } from './domain/summary';
import type { FullSyncResult } from './contract';
import { ConfigError, loadProcessConfig, PortSchema, readEnv } from './config/env';
import { dataConverterFromConfig } from './codec/config';

const StartEnvSchema = z.object({
  DUO_SYNC_DATA_DIR: z.string().min(1).default('.data'),
  DUO_SYNC_TEMPORAL_PORT: PortSchema.default(7233),
  DUO_SYNC_UI_PORT: PortSchema.default(8233),
  /** A codec server for the Web UI (src/codec/main.ts, docs/codec.md), passed as --ui-codec-endpoint. */
  TEMPORAL_CODEC_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
});

async function main(): Promise<void> {
  const read = readEnv(StartEnvSchema, process.env, { showValues: true });
  if (!read.ok) throw new ConfigError(`invalid configuration: ${read.problems}`);
  const env = read.data;
  const dataDir = resolve(env.DUO_SYNC_DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const dbFile = resolve(dataDir, 'temporal.sqlite');

  console.log(`duo-sync: starting Temporal dev server (state in ${dbFile})`);
  const server = await startDevServer({ port: env.DUO_SYNC_TEMPORAL_PORT, uiPort: env.DUO_SYNC_UI_PORT, dbFile, codecEndpoint: env.TEMPORAL_CODEC_ENDPOINT });
  const config = loadProcessConfig({ ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  try {
    const worker = await createDuoSyncWorker({
      connection: nativeConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      dataConverter: dataConverterFromConfig(config),
      dependencies: { secretPolicy: demoSecretPolicy(dataDir) },
    });
    const running = worker.run();
    const client = await connectDuoSyncClient(config);
    const demo = await startDemoEnvironment(dataDir, process.env, { write: demoWriteConsent(process.argv.slice(2)) });
    try {
      const health = await runHealthCheck(client, 'npm start');
      console.log(`duo-sync: worker ${health.workerIdentity} answered on task queue ${config.TEMPORAL_TASK_QUEUE}`);
      console.log(`duo-sync: demo connection "${DEMO_CONNECTION_ID}": ${demo.describe}, directory ${demo.config.store.kind === 'file' ? demo.config.store.path : demo.config.store.kind}`);
      console.log(`duo-sync: ${demo.dryRunOnly ? 'dry run (nothing is written to Duo)' : 'full sync'} running…`);
      const result = await runFirstDemoSync(client, demo);
      printSummary(result);
      if (demo.dryRunOnly) {
        console.log(`duo-sync: that is what the demo would write to ${demo.config.duo.apiHost}; the demo connection stays disabled.`);
        console.log('duo-sync: to write it, run `npm start -- --yes` (or set DUO_SYNC_DEMO_WRITE=yes)');
      }
      console.log(`duo-sync: Temporal frontend ${server.address}`);
      console.log(`duo-sync: Web UI ${server.uiUrl}/namespaces/${server.namespace}/workflows`);
      console.log(`duo-sync: connection workflow ${server.uiUrl}/namespaces/${server.namespace}/workflows/${encodeURIComponent(`connection/${DEMO_CONNECTION_ID}`)}`);
      console.log('duo-sync: running (full sync every 30 min; edit the directory file and send syncNow from the UI); press Ctrl-C to stop');
      await running;
      console.log('duo-sync: worker stopped');
    } finally {
      await client.close();
      await demo.stop();
    }
  } finally {
    await nativeConnection.close();
    await server.stop();
    console.log('duo-sync: Temporal dev server stopped');
  }
}

function printSummary(result: FullSyncResult): void {
  const c = result.summary;
  console.log(`duo-sync: full sync ${result.workflowId} ${result.outcome}${result.dryRun ? ' (dry run: would write)' : ''}: ${describeCounts(c)}`);
  if (c.groups) console.log(`duo-sync:   ${describeGroupCounts(c.groups)}`);
  for (const f of c.failures.slice(0, 5)) console.log(`duo-sync:   failed ${f.operation} ${f.username}: ${f.message}`);
  for (const note of result.notes) console.log(`duo-sync:   note: ${note}`);
}

main().catch((err: unknown) => {
  console.error(`duo-sync: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
