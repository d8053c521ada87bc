/**
 * Activity factory: every call that touches the outside world (Duo, identity stores, Temporal)
 * lives here, built from injected dependencies so tests can point them at the sandbox and local
 * stores. Workflows import only the *type* of what this returns.
 */
import { Context } from '@temporalio/activity';
import type { HealthCheckResult } from '../contract';
import { createAuditActivities, type AuditSinkOptions } from './audit';
import { createInboundActivities } from './inbound';
import { createNotifyActivities, type NotifyOptions } from './notify';
import { createConnectionResources, type ConnectionResources, type ResourceOptions } from './resources';
import { createGroupActivities } from './groups';
import { createSyncActivities } from './sync';
import { createTemporalActivities } from './temporal';

export interface ActivityDependencies extends ResourceOptions {
  /** Identifies this worker in health checks. */
  workerIdentity?: string;
  /** Shared clients; created from the options above when absent. */
  resources?: ConnectionResources;
  /** Where audit entries go (DUO_SYNC_AUDIT_FILE). */
  audit?: AuditSinkOptions;
  notify?: NotifyOptions;
}

export type { HealthCheckResult } from '../contract';

export function createActivities(deps: ActivityDependencies = {}) {
  const resources = deps.resources ?? createConnectionResources(deps);
  return {
    async healthCheck(input: { echo: string }): Promise<HealthCheckResult> {
      const info = Context.current().info;
      return { echo: input.echo, workerIdentity: deps.workerIdentity ?? 'duo-sync-worker', activityAttempt: info.attempt };
    },
    ...createSyncActivities(resources),
    ...createGroupActivities(resources),
    ...createInboundActivities(resources),
    ...createTemporalActivities(),
    ...createAuditActivities(deps.audit),
    ...createNotifyActivities(resources, deps.notify),
  };
}

export type DuoSyncActivities = ReturnType<typeof createActivities>;
