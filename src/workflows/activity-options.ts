/**
 * Activity proxies, one per timeout class, each exposing only the activities of its class, so a
 * workflow cannot call a page activity with a short timeout by mistake. Rate limits and outages are
 * retried (the activity sets `nextRetryDelay` from Duo's advice); errors that will not heal by
 * waiting (bad keys, missing permission, invalid config) are non-retryable failures raised by the
 * activity itself.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { DuoSyncActivities } from '../activities';

type PageActivity =
  | 'syncUsersPage'
  | 'syncRuleGroups'
  | 'applyGroupDeletions'
  | 'planDeprovisionPage'
  | 'planRuleDeletionPage'
  | 'applyDeprovisionBatch'
  | 'applyAdoptions'
  | 'releaseRulePage'
  | 'countInScope'
  | 'deleteRuleGroups'
  | 'reconcileGroup'
  | 'syncGroupMembersPage'
  | 'inboundUsersPage'
  | 'planInboundDeprovisionPage'
  | 'applyInboundDeprovisionBatch'
  | 'deleteInboundRulePage'
  | 'planInboundRuleDeletionPage'
  | 'applyInboundRuleDeletionBatch';
type ShortActivity = 'testConnection' | 'reconcileUser' | 'claimRun' | 'closedRuns' | 'restoreTrashedUsers';

/** Page activities: a page is ~100 users; heartbeats let a dead worker's page move on quickly. */
export const pageActivities = proxyActivities<Pick<DuoSyncActivities, PageActivity>>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '32 seconds', maximumAttempts: 12 },
});

/** Short calls: connection tests, single-user reconciles, talking to the entity. */
export const shortActivities = proxyActivities<Pick<DuoSyncActivities, ShortActivity>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '32 seconds', maximumAttempts: 8 },
});
