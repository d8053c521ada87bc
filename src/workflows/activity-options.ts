/**
 * Activity proxies with the retry policies of DESIGN §4, named once so every workflow uses the same.
 * Rate limits and outages are retried (the activity sets `nextRetryDelay` from Duo's advice); errors
 * that will not heal by waiting (bad keys, missing permission, invalid config) are non-retryable
 * failures raised by the activity itself.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { DuoSyncActivities } from '../activities';

/** Page activities: a page is ~100 users; heartbeats let a dead worker's page move on quickly. */
export const pageActivities = proxyActivities<DuoSyncActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '32 seconds', maximumAttempts: 12 },
});

/** Short calls: connection tests, single-user reconciles. */
export const shortActivities = proxyActivities<DuoSyncActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '32 seconds', maximumAttempts: 8 },
});

/** Waits for another workflow (a full sync started by an earlier run of the entity) to finish. */
export const waitActivities = proxyActivities<DuoSyncActivities>({
  startToCloseTimeout: '30 days',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute' },
});
