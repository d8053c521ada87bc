/**
 * Restoring what one run sent to Duo's Trash (`restoreDeletions`). Which users is the run's own
 * record: a run lists the users it trashed in its summary (`trashed`, bounded by MAX_TRASHED), and
 * that summary is the run's workflow result, kept by Temporal for the namespace's retention. So the
 * list costs no extra Duo writes (no marker rewrite before each trash) and cannot be forged from
 * Duo's side. A listed user is restored only while it is still in Trash and still marked as this
 * connection's; users purged by Duo after 7 days are reported as failures, by name.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import type { RestoreDeletionsResult } from '../contract';
import type { ConnectionConfig } from '../domain/connection';
import { usernameKey } from '../domain/mapping';
import { parseMarker } from '../domain/ownership';
import { recordFailure, recordOutcome, emptySummary, type RunSummary } from '../domain/summary';
import type { DuoClient, DuoUser } from '../duo';
import { recordTrashed } from '../domain/summary';
import { isPageLevelError, lookUpUsersByUsername, withTransientRetry } from './duo-ops';
import { asActivityFailure } from './activity-failures';
import { sendWithItemRetries } from './bulk-ops';
import type { ConnectionResources } from './resources';

/** The part of a run's result this reads: whose run it is and whom it trashed. */
const TrashingRunResultSchema = z.object({
  connectionId: z.string(),
  summary: z.object({
    trashed: z.array(z.object({ id: z.string().min(1), label: z.string() })).optional(),
    trashedTruncated: z.number().int().min(0).optional(),
  }),
});

async function trashedBy(connectionId: string, runId: string): Promise<z.infer<typeof TrashingRunResultSchema>['summary']> {
  const handle = Context.current().client.workflow.getHandle(runId);
  let raw: unknown;
  try {
    const { status } = await handle.describe();
    if (status.name === 'RUNNING') throw ApplicationFailure.nonRetryable(`run ${runId} is still running: restore its deletions once it has finished`, 'RunStillRunning');
    raw = await handle.result();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw ApplicationFailure.nonRetryable(`run ${runId} does not exist (or is past Temporal's retention): restore its users in the Duo Admin Panel's Trash`, 'UnknownRun');
    if (err instanceof WorkflowFailedError) {
      throw ApplicationFailure.nonRetryable(`run ${runId} did not complete, so it left no list of trashed users: restore them in the Duo Admin Panel's Trash`, 'RunWithoutResult');
    }
    throw err;
  }
  const parsed = TrashingRunResultSchema.safeParse(raw);
  if (!parsed.success || parsed.data.connectionId !== connectionId) {
    throw ApplicationFailure.nonRetryable(`run ${runId} is not a sync run of connection ${connectionId}: name a full sync or rule deletion run of this connection`, 'UnknownRun');
  }
  return parsed.data.summary;
}

/** Rounds of waiting out rate limits and outages before the batch is handed back to Temporal. */
const TRASH_ATTEMPTS = 6;

/**
 * Sends deprovisioned users to Trash in bulk (100 per call: Trash is in Duo's `bulk` rate category,
 * 50 calls a minute, so one call per user would crawl). Each user's result is its own: a refused
 * one (or every one, on an account without Trash endpoints) fails alone. Users a rate limit or outage left unsent are
 * sent again after Duo's back-off, so users already trashed stay listed in this attempt's summary;
 * errors every user shares (credentials, permission) fail the batch.
 */
export async function trashUsers(duo: DuoClient, users: readonly DuoUser[], summary: RunSummary): Promise<RunSummary> {
  const results = await sendWithItemRetries(users, (batch) => duo.sendUsersToTrash(batch.map((u) => u.user_id)), { attempts: TRASH_ATTEMPTS });
  results.forEach((result, i) => {
    const user = users[i] as DuoUser;
    if (result.ok) summary = recordTrashed(recordOutcome(summary, 'deleted'), { id: user.user_id, label: user.username });
    else if (isPageLevelError(result.error)) throw result.error;
    else summary = recordFailure(summary, { username: user.username, operation: 'trash', code: result.error.code !== undefined ? String(result.error.code) : result.error.kind, message: result.error.message });
  });
  return summary;
}

export function createTrashActivities(resources: ConnectionResources) {
  return {
    async restoreTrashedUsers(input: { connectionId: string; config: ConnectionConfig; runId: string }): Promise<RestoreDeletionsResult> {
      const listed = await trashedBy(input.connectionId, input.runId);
      const trashed = listed.trashed ?? [];
      const duo = await resources.duo(input.config);
      const found = await asActivityFailure('looking trashed users up in Duo', () => lookUpUsersByUsername(duo, trashed.map((t) => t.label)));
      let summary: RunSummary = emptySummary();
      const toRestore: { id: string; label: string }[] = [];
      for (const t of trashed) {
        const user = found.users.get(usernameKey(t.label));
        if (!user || user.user_id !== t.id) {
          summary = recordFailure(summary, { username: t.label, operation: 'restore', code: 'NotInDuo', message: `Duo user "${t.label}" (${t.id}) is no longer in Duo: Duo purged it from Trash (after 7 days) or it was deleted; the next sync creates it anew if it is back in the store` });
        } else if (user.status !== 'pending deletion' || parseMarker(user.notes)?.connectionId !== input.connectionId) {
          summary = recordOutcome(summary, 'skipped');
        } else {
          toRestore.push(t);
        }
      }
      const results = toRestore.length ? await asActivityFailure('restoring users from Trash', () => withTransientRetry(() => duo.restoreUsersFromTrash(toRestore.map((t) => t.id)))) : [];
      let restored = 0;
      results.forEach((result, i) => {
        const t = toRestore[i] as { id: string; label: string };
        if (result.ok) restored += 1;
        else summary = recordFailure(summary, { username: t.label, operation: 'restore', code: result.error.code !== undefined ? String(result.error.code) : result.error.kind, message: result.error.message });
      });
      return { runId: input.runId, restored, skipped: summary.skipped, failed: summary.failed, failures: summary.failures, notListed: listed.trashedTruncated ?? 0 };
    },
  };
}
