/**
 * healthCheckWorkflow: the smallest real round trip (workflow → activity → result). Ops can start
 * it from the Web UI with `{"echo":"hi"}` to prove a worker is polling the `duo-sync` task queue.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { DuoSyncActivities } from '../activities';
import { DuoSyncKind, DuoSyncOutcome, HealthCheckInputSchema, type HealthCheckInput, type HealthCheckResult } from '../contract';
import { invalidInput } from './failures';

const { healthCheck } = proxyActivities<Pick<DuoSyncActivities, 'healthCheck'>>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export async function healthCheckWorkflow(input: HealthCheckInput = {}): Promise<HealthCheckResult> {
  upsertSearchAttributes([
    { key: DuoSyncKind, value: 'healthCheck' },
    { key: DuoSyncOutcome, value: 'running' },
  ]);
  try {
    const parsed = HealthCheckInputSchema.safeParse(input ?? {});
    if (!parsed.success) throw invalidInput('healthCheckWorkflow', parsed.error);
    const result = await healthCheck(parsed.data);
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'succeeded' }]);
    return result;
  } catch (err) {
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'failed' }]);
    throw err;
  }
}
