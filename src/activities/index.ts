/**
 * Activity factory: every call that touches the outside world (Duo, identity stores, clocks) lives
 * here, built from injected dependencies so tests can point them at the sandbox and local stores.
 * Workflows import only the *type* of what this returns.
 */
import { Context } from '@temporalio/activity';

export interface ActivityDependencies {
  /** Identifies this worker in health checks. */
  workerIdentity?: string;
}

export interface HealthCheckResult {
  echo: string;
  workerIdentity: string;
  activityAttempt: number;
}

export function createActivities(deps: ActivityDependencies = {}) {
  return {
    async healthCheck(input: { echo: string }): Promise<HealthCheckResult> {
      const info = Context.current().info;
      return { echo: input.echo, workerIdentity: deps.workerIdentity ?? 'duo-sync-worker', activityAttempt: info.attempt };
    },
  };
}

export type DuoSyncActivities = ReturnType<typeof createActivities>;
