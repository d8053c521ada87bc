/**
 * The connections that exist, read from Temporal at scrape time: running connection entities
 * (`DuoSyncKind="connection"`) and their `DuoSyncConnection` search attribute. Every worker reads
 * the same list, so each one exports its per-connection counters at 0 before it ever handles that
 * connection, and `increase()` sees the first increment wherever it happens.
 */
import type { Client } from '@temporalio/client';
import { DuoSyncConnection } from '../contract';

const MAX_CONNECTIONS = 1_000;

export function connectionsFromTemporal(client: Client, taskQueue?: string): () => Promise<string[]> {
  return async () => {
    const query = `DuoSyncKind="connection" AND ExecutionStatus="Running"${taskQueue ? ` AND TaskQueue="${taskQueue}"` : ''}`;
    const ids = new Set<string>();
    for await (const wf of client.workflow.list({ query })) {
      const id = wf.typedSearchAttributes.get(DuoSyncConnection);
      if (id) ids.add(id);
      if (ids.size >= MAX_CONNECTIONS) break;
    }
    return [...ids];
  };
}
