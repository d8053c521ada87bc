/**
 * healthCheckWorkflow: the smallest real round trip (workflow → activity → result). Ops can start
 * it from the Web UI with `{"echo":"hi"}` to prove a worker is polling the `duo-sync` task queue.
 */
import { proxyActivities } from '@temporalio/workflow';
import { z } from 'zod';
import type { DuoSyncActivities, HealthCheckResult } from '../activities';
import { invalidInput } from './failures';

const { healthCheck } = proxyActivities<DuoSyncActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export const HealthCheckInputSchema = z.object({ echo: z.string().max(200).default('ping') }).strict();
export type HealthCheckInput = z.input<typeof HealthCheckInputSchema>;

export async function healthCheckWorkflow(input: HealthCheckInput = {}): Promise<HealthCheckResult> {
  const parsed = HealthCheckInputSchema.safeParse(input ?? {});
  if (!parsed.success) {
    throw invalidInput('healthCheckWorkflow', parsed.error);
  }
  return healthCheck(parsed.data);
}
