/**
 * Activities that talk to Temporal itself: following a child run that an earlier run of the
 * connection entity started (after continue-as-new the new run has no child handle), and reading
 * a connection's saved configuration for runs started by hand from the Web UI.
 */
import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';
import { TerminatedFailure } from '@temporalio/common';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { ConnectionConfig } from '../domain/connection';
import { configQuery, statusQuery, type ConnectionStatus, type RunKind } from '../workflows/definitions';

/** Bounds the follow loop: a run reset over and over is reported rather than followed forever. */
const MAX_RESETS_FOLLOWED = 20;

export function createTemporalActivities() {
  return {
    async awaitWorkflowResult(input: { workflowId: string }): Promise<unknown> {
      const ctx = Context.current();
      const handle = ctx.client.workflow.getHandle(input.workflowId);
      const beat = setInterval(() => heartbeat(), 20_000);
      const cancelled = ctx.cancelled.then(() => {
        throw ApplicationFailure.nonRetryable('cancelled');
      });
      try {
        for (let followed = 0; ; followed += 1) {
          try {
            return await Promise.race([handle.result(), cancelled]);
          } catch (err) {
            // A reset (e.g. `duo-sync reset` of a running sync) terminates the run and starts a new
            // one under the same id: follow the new run instead of reporting the old one's end.
            if (!(err instanceof WorkflowFailedError && err.cause instanceof TerminatedFailure) || followed >= MAX_RESETS_FOLLOWED) throw err;
            const latest = await handle.describe();
            if (latest.status.name === 'TERMINATED') throw err;
          }
        }
      } catch (err) {
        if (err instanceof WorkflowFailedError) {
          const cause = err.cause?.message ?? err.message;
          throw ApplicationFailure.nonRetryable(`${input.workflowId} failed: ${cause}`, 'ChildRunFailed');
        }
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.nonRetryable(`${input.workflowId} no longer exists (retention expired?)`, 'ChildRunNotFound');
        }
        throw err;
      } finally {
        clearInterval(beat);
      }
    },

    /**
     * With `forRun` (a run started by hand that may write), the entity's rules for writing apply
     * too: nothing while it is disabled, paused or failing its connection test, and no full sync
     * beside the one it runs itself.
     */
    async loadConnectionConfig(input: { connectionId: string; forRun?: { kind: RunKind; dryRun: boolean } }): Promise<ConnectionConfig> {
      const workflowId = `connection/${input.connectionId}`;
      let config: ConnectionConfig | null;
      let status: ConnectionStatus | undefined;
      try {
        const handle = Context.current().client.workflow.getHandle(workflowId);
        config = await handle.query(configQuery);
        if (input.forRun) status = await handle.query(statusQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} does not exist: start ${workflowId} and send configure first`, 'UnknownConnection');
        }
        throw err;
      }
      if (!config) {
        throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} is not configured: send the configure update to ${workflowId}`, 'NotConfigured');
      }
      const refusal = status && input.forRun ? refuseHandStartedRun(status, input.forRun) : null;
      if (refusal) throw ApplicationFailure.nonRetryable(refusal, 'NotProvisioning');
      return config;
    },
  };
}

/** Why a run started by hand must not run now, or null. Dry runs write nothing, so only the overlap rule applies to them. */
export function refuseHandStartedRun(status: ConnectionStatus, run: { kind: string; dryRun: boolean }): string | null {
  const id = status.connectionId;
  if (!run.dryRun) {
    const blocked = !status.enabled
      ? 'is disabled'
      : status.paused
        ? `is paused${status.pauseReason ? ` (${status.pauseReason})` : ''}`
        : status.connectionTest?.ok
          ? null
          : 'has not passed its connection test';
    if (blocked) return `connection ${id} ${blocked}: nothing may be provisioned; start with {"dryRun":true} to preview`;
  }
  if ((run.kind === 'fullSync' || run.kind === 'inboundSync') && status.currentRun) {
    return `connection ${id} is running ${status.currentRun.workflowId}: send signal syncNow {} to connection/${id} to queue the next sync`;
  }
  return null;
}
