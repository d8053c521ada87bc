/**
 * Runs waiting at the deletion guard, read from Temporal at scrape time: a visibility query for
 * `DuoSyncOutcome="awaitingApproval"` among running workflows, then each run's `progress` query for
 * the planned count. Temporal is the one source every worker agrees on, so the gauges are never
 * stale when a run moves between workers.
 */
import type { Client } from '@temporalio/client';
import { DuoSyncConnection, progressQuery } from '../contract';
import type { AwaitingApproval } from './registry';

const MAX_RUNS = 200;

export function awaitingApprovalFromTemporal(client: Client, taskQueue?: string): () => Promise<AwaitingApproval[]> {
  return async () => {
    const byConnection = new Map<string, AwaitingApproval>();
    const query = `DuoSyncOutcome="awaitingApproval" AND ExecutionStatus="Running"${taskQueue ? ` AND TaskQueue="${taskQueue}"` : ''}`;
    const waiting: { connectionId: string; workflowId: string }[] = [];
    for await (const wf of client.workflow.list({ query })) {
      waiting.push({ connectionId: wf.typedSearchAttributes.get(DuoSyncConnection) ?? 'unknown', workflowId: wf.workflowId });
      if (waiting.length >= MAX_RUNS) break;
    }
    await Promise.all(
      waiting.map(async ({ connectionId, workflowId }) => {
        const entry = byConnection.get(connectionId) ?? { connectionId, runs: 0, plannedDeletions: 0 };
        byConnection.set(connectionId, entry);
        entry.runs += 1;
        try {
          const progress = await client.workflow.getHandle(workflowId).query(progressQuery);
          entry.plannedDeletions += progress.awaitingApproval?.plannedDeletions ?? 0;
        } catch {
          // A run between workers still counts as waiting; its planned count shows on the next scrape.
        }
      }),
    );
    return [...byConnection.values()];
  };
}
