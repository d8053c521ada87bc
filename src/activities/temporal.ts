/**
 * Activities that talk to Temporal itself: following a child run that an earlier run of the
 * connection entity started (after continue-as-new the new run has no child handle), and reading
 * a connection's saved configuration for runs started by hand from the Web UI.
 */
import { ApplicationFailure, Context, heartbeat } from '@temporalio/activity';
import { TerminatedFailure } from '@temporalio/common';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { ConnectionConfig } from '../domain/connection';
import { configQuery } from '../workflows/definitions';

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

    async loadConnectionConfig(input: { connectionId: string }): Promise<ConnectionConfig> {
      const workflowId = `connection/${input.connectionId}`;
      let config: ConnectionConfig | null;
      try {
        config = await Context.current().client.workflow.getHandle(workflowId).query(configQuery);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} does not exist: start ${workflowId} and send configure first`, 'UnknownConnection');
        }
        throw err;
      }
      if (!config) {
        throw ApplicationFailure.nonRetryable(`connection ${input.connectionId} is not configured: send the configure update to ${workflowId}`, 'NotConfigured');
      }
      return config;
    },
  };
}
