/**
 * What the Temporal Web UI shows about a duo-sync run: one-line static summaries for starts,
 * markdown static details, and the "current details" text a run keeps up to date. Pure and
 * workflow-safe, shared by the workflows (child starts, setCurrentDetails) and src/client.ts.
 * Summaries and details pass through the payload codec; still, never put secrets in them.
 */
import type { ConnectionStatus } from './index';

export function connectionSummary(connectionId: string): string {
  return `duo-sync connection ${connectionId}`;
}

/** The messages an operator can send to the entity, shown on its page so nobody has to look them up. */
export function connectionDetails(connectionId: string): string {
  return [
    `Entity of connection **${connectionId}**. Send from *More Actions → Send a Signal*:`,
    '',
    '- `syncNow` `{}` (or `{"dryRun":true}`): queue a full sync (then the inbound sync, if the connection has an inbound rule)',
    '- `userChanged` / `userDeleted` `{"username":"alice"}`: reconcile one user (after a rename in the store, add `"previousUsername":"al"`)',
    '- `groupChanged` / `groupDeleted` `{"group":"engineering"}`: reconcile one group; `membershipChanged` `{"username":"alice"}`',
    '- `pause` `{"reason":"change freeze"}` / `resume`: stop / restart provisioning',
    '',
    'Updates (*Send an Update*): `syncNow` `{}`, `syncUser` `{"username":"alice"}`, `testConnection`. Query `status` for progress and last runs.',
  ].join('\n');
}

export function fullSyncSummary(connectionId: string, opts: { dryRun: boolean; ruleId?: string | undefined }): string {
  return `${opts.dryRun ? 'Dry-run full sync' : 'Full sync'} of ${connectionId}${opts.ruleId ? `, rule ${opts.ruleId}` : ''}`;
}

export function inboundSyncSummary(connectionId: string, opts: { dryRun: boolean; ruleId?: string | undefined }): string {
  return `${opts.dryRun ? 'Dry-run inbound sync' : 'Inbound sync'} (Duo → store) of ${connectionId}${opts.ruleId ? `, rule ${opts.ruleId}` : ''}`;
}

export function reconcileGroupSummary(connectionId: string, group: string): string {
  return `Reconcile group ${group} on ${connectionId}`;
}

export function reconcileSummary(connectionId: string, username: string): string {
  return `Reconcile ${username} on ${connectionId}`;
}

export function deleteRuleSummary(connectionId: string, ruleId: string, deprovision: boolean): string {
  return `Delete rule ${ruleId} of ${connectionId}: ${deprovision ? 'deprovision' : 'release'} its users`;
}

export function healthCheckSummary(echo: string): string {
  return `Health check (${echo})`;
}

/** Absolute, to the minute: the text is written once and read later, so "5 min ago" would go stale. */
function at(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')}Z`;
}

/** The entity's page: is it provisioning, what runs now, how did the last run end. */
export function describeConnection(s: ConnectionStatus): string {
  const lines: string[] = [];
  if (!s.configured) return `connection ${s.connectionId} is not configured: send the configure update`;
  const test = s.connectionTest ? (s.connectionTest.ok ? 'connection test passed' : 'connection test FAILED') : 'not tested';
  const mode = s.paused ? `PAUSED${s.pauseReason ? ` (${s.pauseReason})` : ''}` : s.enabled ? 'enabled' : 'DISABLED';
  lines.push(`${mode}, ${test}, ${s.rules.length} rules`);
  if (s.currentRun) {
    const r = s.currentRun;
    lines.push(`running ${r.workflowId}: ${r.phase}, ${r.pagesDone} pages, ${r.usersSeen} users in scope`);
    if (r.awaitingApproval) lines.push(`awaiting deletion approval: ${r.awaitingApproval.plannedDeletions} of ${r.awaitingApproval.ownedCount} owned users${adoptionsText(r.awaitingApproval)}`);
  }
  for (const run of s.runsInFlight) {
    const a = run.progress.awaitingApproval;
    if (run.workflowId !== s.currentRun?.workflowId && a) lines.push(`${run.workflowId} awaits deletion approval: ${a.plannedDeletions} of ${a.ownedCount} owned users${adoptionsText(a)}`);
  }
  const last = [...s.lastRuns].reverse().find((r) => r.outcome !== 'running');
  if (last) lines.push(`last run ${last.workflowId}: ${last.outcome} at ${at(last.finishedAt ?? last.startedAt)}`);
  if (s.syncQueued) lines.push('a full sync is queued');
  else if (s.nextFullSyncAt && !s.currentRun) lines.push(`next full sync at ${at(s.nextFullSyncAt)}`);
  if (s.pendingChanges || s.reconcilesInFlight) lines.push(`${s.pendingChanges} user changes pending, ${s.reconcilesInFlight} reconciling`);
  // Blank lines: the UI renders current details as markdown, which would join single newlines.
  return lines.join('\n\n');
}

/** The adoptions an approval also covers, when the run planned any. */
function adoptionsText(a: { plannedAdoptions?: number | undefined }): string {
  return a.plannedAdoptions ? ` and ${a.plannedAdoptions} adoptions of existing Duo users` : '';
}
