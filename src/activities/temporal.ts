/**
 * Activities that talk to Temporal itself: a run claiming its configuration from its connection's
 * entity (an update, so a refusal comes back with the entity's reason), and the entity asking which
 * of the runs it waits for have closed without reporting (terminated, timed out). Both are short:
 * no activity here waits on another workflow.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { claimRunUpdate, connectionWorkflowId, type ClaimRunRequest, type RunClaim } from '../contract';

export function createTemporalActivities() {
  return {
    async claimRun(input: ClaimRunRequest & { connectionId: string }): Promise<RunClaim> {
      const { connectionId, ...request } = input;
      const workflowId = connectionWorkflowId(connectionId);
      try {
        return await Context.current().client.workflow.getHandle(workflowId).executeUpdate(claimRunUpdate, { args: [request] });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) {
          throw ApplicationFailure.nonRetryable(`connection ${connectionId} does not exist: start ${workflowId} and send configure first`, 'UnknownConnection');
        }
        if (err instanceof WorkflowUpdateFailedError) {
          const cause = err.cause as (Error & { type?: string }) | undefined;
          throw ApplicationFailure.nonRetryable(cause?.message ?? err.message, cause?.type ?? 'NotProvisioning');
        }
        throw err;
      }
    },

    /** Which of these runs are closed, with Temporal's status; a run that no longer exists counts as closed. */
    async closedRuns(input: { workflowIds: string[] }): Promise<{ workflowId: string; status: string }[]> {
      const client = Context.current().client;
      const closed: { workflowId: string; status: string }[] = [];
      for (const workflowId of input.workflowIds) {
        try {
          const { status } = await client.workflow.getHandle(workflowId).describe();
          if (status.name !== 'RUNNING') closed.push({ workflowId, status: status.name });
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          closed.push({ workflowId, status: 'NOT_FOUND' });
        }
      }
      return closed;
    },
  };
}
