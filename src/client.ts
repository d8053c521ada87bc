/**
 * The typed client API that services and the ops CLI use to talk to duo-sync workflows.
 * Everything is validated before it is sent; connection settings come from the environment.
 */
import { Client, Connection } from '@temporalio/client';
import { loadProcessConfig, type ProcessConfig } from './config/env';
import { temporalConnectionOptions } from './temporal/connection';
import type { HealthCheckResult } from './activities';

export interface DuoSyncClient {
  client: Client;
  taskQueue: string;
  close(): Promise<void>;
}

export async function connectDuoSyncClient(config: ProcessConfig = loadProcessConfig()): Promise<DuoSyncClient> {
  const connection = await Connection.connect(await temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  return { client, taskQueue: config.TEMPORAL_TASK_QUEUE, close: () => connection.close() };
}

/** Runs healthCheckWorkflow and waits for it: proves a worker is polling the task queue. */
export async function runHealthCheck(dsc: DuoSyncClient, echo = 'ping', timeoutMs = 30_000): Promise<HealthCheckResult> {
  const workflowId = `health-check/${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const handle = await dsc.client.workflow.start('healthCheckWorkflow', {
    taskQueue: dsc.taskQueue,
    workflowId,
    args: [{ echo }],
    workflowExecutionTimeout: timeoutMs,
  });
  return (await handle.result()) as HealthCheckResult;
}
