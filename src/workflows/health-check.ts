/**
 * healthCheckWorkflow: the smallest real round trip (workflow → activity → result). Ops can start
 * it from the Web UI with `{"echo":"hi"}` to prove a worker is polling the `duo-sync` task queue.
 */
import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import { z } from 'zod';
import type { DuoSyncActivities, HealthCheckResult } from '../activities';
import { DuoSyncKind, DuoSyncOutcome } from '../shared/search-attributes';
import { invalidInput } from './failures';
import { recordingOutcome } from './run-support';

const { healthCheck } = proxyActivities<DuoSyncActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export const HealthCheckInputSchema = z.object({ echo: z.string().max(200).default('ping') }).strict();
export type HealthCheckInput = z.input<typeof HealthCheckInputSchema>;

export async function healthCheckWorkflow(input: HealthCheckInput = {}): Promise<HealthCheckResult> {
  upsertSearchAttributes([
    { key: DuoSyncKind, value: 'healthCheck' },
    { key: DuoSyncOutcome, value: 'running' },
  ]);
  return recordingOutcome(async () => {
    const parsed = HealthCheckInputSchema.safeParse(input ?? {});
    if (!parsed.success) {
      throw invalidInput('healthCheckWorkflow', parsed.error);
    }
    const result = await healthCheck(parsed.data);
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'succeeded' }]);
    return result;
  });
}
