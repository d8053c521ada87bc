/**
 * Human-readable renderings of what the workflows report: connection status, run summaries,
 * connection-test results and events. JSON mode prints the raw values instead, so these only
 * need to be readable, not parseable.
 */
import { describeAdminCounts, describeGroupCounts, type RunSummary } from '../domain/summary';
import type { AuditEntry, ConnectionStatus, ConnectionTestResult, FullSyncResult, InboundSyncResult, RunProgress, RunRecord } from '../contract';
import type { ConnectionListing } from '../client';
import { fields, table } from './io';

const COUNTERS = ['created', 'updated', 'disabled', 'deleted', 'unchanged', 'skipped', 'failed'] as const;
const MAX_FAILURES_SHOWN = 20;

export function summaryLines(summary: RunSummary): string[] {
  const out = table([[...COUNTERS], COUNTERS.map((c) => String(summary[c]))]);
  if (summary.groups) out.push(describeGroupCounts(summary.groups));
  if (summary.admins) out.push(describeAdminCounts(summary.admins));
  if (summary.failures.length > 0) {
    out.push('', 'failures:');
    out.push(
      ...table([
        ['username', 'operation', 'code', 'message'],
        ...summary.failures.slice(0, MAX_FAILURES_SHOWN).map((f) => [f.username, f.operation, f.code ?? '', f.message]),
      ]).map((l) => `  ${l}`),
    );
    const hidden = summary.failures.length - Math.min(summary.failures.length, MAX_FAILURES_SHOWN) + summary.failuresTruncated;
    if (hidden > 0) out.push(`  … and ${hidden} more (see --json or the run's result in the Web UI)`);
  }
  return out;
}

/** A full sync's or an inbound sync's result (`sync now` waits for either). */
export function fullSyncResultLines(result: FullSyncResult | InboundSyncResult): string[] {
  const count: [string, string] =
    'duoCount' in result
      ? ['Duo users', result.duoCount === null ? 'unknown (the Duo read was incomplete)' : String(result.duoCount)]
      : ['users in scope', result.inScopeCount === null ? 'unknown (the store read was incomplete)' : String(result.inScopeCount)];
  const out = fields([['run', result.workflowId], ['outcome', `${result.outcome}${result.dryRun ? ' (dry run)' : ''}`], count]);
  out.push('', ...summaryLines(result.summary));
  if (result.notes.length > 0) out.push('', 'notes:', ...result.notes.map((n) => `  - ${n}`));
  return out;
}

export function testResultLines(connectionId: string, result: ConnectionTestResult): string[] {
  return [
    `connection test of ${connectionId}: ${result.ok ? 'passed' : 'FAILED'} (${result.testedAt})`,
    ...table([['check', 'ok', 'message'], ...result.checks.map((c) => [c.name, c.ok ? 'yes' : 'NO', c.message])]).map((l) => `  ${l}`),
  ];
}

function progressText(p: RunProgress): string {
  const base = `${p.workflowId}: ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} users seen`;
  if (!p.awaitingApproval) return base;
  const a = p.awaitingApproval;
  return `${base}; AWAITING APPROVAL of ${a.plannedDeletions}/${a.ownedCount} deprovisions${a.plannedAdoptions ? ` and ${a.plannedAdoptions} adoptions` : ''} (hash ${a.deletionSetHash})`;
}

function runRow(r: RunRecord): string[] {
  const s = r.counts;
  const counts = s ? COUNTERS.map((c) => String(s[c])) : COUNTERS.map(() => '');
  return [r.workflowId, r.kind, `${r.outcome}${r.dryRun ? ' (dry)' : ''}`, r.startedAt, r.finishedAt ?? '', ...counts, r.note ?? ''];
}

/** `staff 120, contractors 8` per rule, as the source-health gate compares them. */
function inScopeText(byRule: Record<string, number>): string {
  const rules = Object.entries(byRule);
  return rules.length ? rules.map(([rule, n]) => `${rule} ${n}`).join(', ') : 'none yet';
}

export function statusLines(status: ConnectionStatus, maxRuns = 10): string[] {
  const test = status.connectionTest;
  const failedChecks = test?.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`) ?? [];
  const out = fields([
    ['connection', status.connectionId],
    ...(status.description ? [['description', status.description] as [string, string]] : []),
    ...(status.deleting ? [['DELETING', `since ${status.deleting.requestedAt}${status.deleting.failedRuleDeletions.length ? `; failed rule deletions: ${status.deleting.failedRuleDeletions.join(', ')} (send connection delete again to retry)` : ''}`] as [string, string]] : []),
    ['configured', status.configured ? 'yes' : 'no'],
    ['enabled', status.enabled ? 'yes' : 'no'],
    ['paused', status.paused ? `yes${status.pauseReason ? ` (${status.pauseReason})` : ''}` : 'no'],
    ['connection test', test ? `${test.ok ? 'passed' : `FAILED: ${failedChecks.join('; ')}`} at ${test.testedAt}` : 'not run'],
    ['rules', status.rules.length ? status.rules.map((r) => `${r.id} (${r.direction}${r.description ? `: ${r.description}` : ''})`).join(', ') : 'none'],
    ['current run', status.currentRun ? progressText(status.currentRun) : 'none'],
    ['sync queued', status.syncQueued ? 'yes' : 'no'],
    ['next full sync', status.nextFullSyncAt ?? 'not scheduled'],
    ['pending changes', `${status.pendingChanges} queued, ${status.reconcilesInFlight} reconciling`],
    ['last good in-scope count', inScopeText(status.lastGoodInScopeByRule)],
  ]);
  const runs = status.lastRuns.slice(-maxRuns).reverse();
  out.push('', `last runs (${runs.length} of ${status.lastRuns.length}, newest first):`);
  if (runs.length === 0) out.push('  none');
  else out.push(...table([['run', 'kind', 'outcome', 'started', 'finished', ...COUNTERS, 'note'], ...runs.map(runRow)]).map((l) => `  ${l}`));
  return out;
}

export function eventLines(events: ConnectionStatus['recentEvents']): string[] {
  return events.length === 0 ? ['no events'] : events.map((e) => `${e.at}  ${e.message}`);
}

function changeText(c: AuditEntry['changes'][number]): string {
  if (c.secret) return `${c.path} (secret reference changed)`;
  const show = (v: unknown) => (v === undefined ? '∅' : JSON.stringify(v));
  return `${c.path}: ${show(c.from)} → ${show(c.to)}`;
}

export function auditLines(entries: readonly AuditEntry[]): string[] {
  if (entries.length === 0) return ['no audit entries'];
  const out: string[] = [];
  for (const e of entries) {
    const who = e.actor.identity ? `${e.actor.identity} (${e.actor.via})` : e.actor.via;
    out.push(`#${e.seq} ${e.at}  ${e.action}${e.target ? ` ${e.target}` : ''}  by ${who}${e.reason ? `  reason: ${e.reason}` : ''}`);
    out.push(...e.changes.map((c) => `    ${changeText(c)}`));
    if (e.changesOmitted) out.push(`    … and ${e.changesOmitted} more changes`);
  }
  return out;
}

export function connectionListLines(list: readonly ConnectionListing[]): string[] {
  if (list.length === 0) return ['no connections'];
  const state = (c: ConnectionListing): string => {
    if (c.status !== 'RUNNING') return c.status.toLowerCase();
    if (c.deleting) return 'deleting';
    if (c.enabled === undefined) return 'running (status unavailable)';
    return `${c.enabled ? 'enabled' : 'disabled'}${c.paused ? ', paused' : ''}`;
  };
  return table([['connection', 'state', 'since', 'description'], ...list.map((c) => [c.connectionId, state(c), c.startedAt, c.description ?? ''])]);
}
