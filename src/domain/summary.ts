/**
 * Run summaries: the counters every run reports (created, updated, disabled, deleted, unchanged,
 * skipped, failed) and a bounded list of per-object failures. Summaries travel through activity
 * results, workflow state and continue-as-new, so they stay small: failures are capped and their
 * texts shortened, and what was dropped is counted in `failuresTruncated`.
 */
import { z } from 'zod';

export const MAX_FAILURES = 200;
/**
 * Trashed users a run lists by id (what `restoreDeletions` restores). Bounded like failures; the
 * deletion guard keeps a run's deprovisions far below this in practice.
 */
export const MAX_TRASHED = 1000;
const MAX_TEXT = 500;

const count = z.number().int().min(0);

export const FailureSchema = z.object({
  /** The object that failed: a username, or `group:<name>` for a Duo group. */
  username: z.string(),
  /** What was being done, e.g. `create`, `update`, `map`, `attachPhone`. */
  operation: z.string(),
  /** Duo's error code (as text, e.g. "40002") or an error type (e.g. "MappingError"). */
  code: z.string().optional(),
  message: z.string(),
});
export type Failure = z.infer<typeof FailureSchema>;

/** What happened to Duo groups and memberships; absent from summaries of runs that touched no groups. */
export const GroupCountsSchema = z.object({
  created: count.default(0),
  /** Renamed or re-described. */
  updated: count.default(0),
  deleted: count.default(0),
  unchanged: count.default(0),
  membershipsAdded: count.default(0),
  membershipsRemoved: count.default(0),
});
export type GroupCounts = z.infer<typeof GroupCountsSchema>;

export function emptyGroupCounts(): GroupCounts {
  return { created: 0, updated: 0, deleted: 0, unchanged: 0, membershipsAdded: 0, membershipsRemoved: 0 };
}

function addGroupCounts(a: GroupCounts | undefined, b: Partial<GroupCounts> | undefined): GroupCounts {
  const x = a ?? emptyGroupCounts();
  return {
    created: x.created + (b?.created ?? 0),
    updated: x.updated + (b?.updated ?? 0),
    deleted: x.deleted + (b?.deleted ?? 0),
    unchanged: x.unchanged + (b?.unchanged ?? 0),
    membershipsAdded: x.membershipsAdded + (b?.membershipsAdded ?? 0),
    membershipsRemoved: x.membershipsRemoved + (b?.membershipsRemoved ?? 0),
  };
}

/**
 * What happened to the Duo administrators duo-sync created (a dry run counts what it would do):
 * role changes are privileged, so they are counted apart from other updates. Absent when none.
 */
export const AdminCountsSchema = z.object({
  created: count.default(0),
  /** Name or phone changed, or re-enabled. */
  updated: count.default(0),
  roleChanged: count.default(0),
  disabled: count.default(0),
  deleted: count.default(0),
  /** Records forgotten: the administrator was gone from Duo. */
  forgotten: count.default(0),
});
export type AdminCounts = z.infer<typeof AdminCountsSchema>;

function addAdminCounts(a: AdminCounts | undefined, b: Partial<AdminCounts> | undefined): AdminCounts {
  const keys = ['created', 'updated', 'roleChanged', 'disabled', 'deleted', 'forgotten'] as const;
  return Object.fromEntries(keys.map((k) => [k, (a?.[k] ?? 0) + (b?.[k] ?? 0)])) as AdminCounts;
}

export function recordAdminCounts(summary: RunSummary, counts: Partial<AdminCounts>): RunSummary {
  return { ...summary, admins: addAdminCounts(summary.admins, counts) };
}

export const RunSummarySchema = z.object({
  created: count.default(0),
  updated: count.default(0),
  disabled: count.default(0),
  deleted: count.default(0),
  unchanged: count.default(0),
  skipped: count.default(0),
  failed: count.default(0),
  failures: z.array(FailureSchema).max(MAX_FAILURES).default([]),
  /** Failures counted in `failed` whose details were dropped to keep the summary bounded. */
  failuresTruncated: count.default(0),
  groups: GroupCountsSchema.optional(),
  admins: AdminCountsSchema.optional(),
  /** Users this run sent to Duo's Trash (removeAction `trash`), id and username; absent when none. */
  trashed: z.array(z.object({ id: z.string().min(1), label: z.string() })).max(MAX_TRASHED).optional(),
  /** Trashed users counted in `deleted` but not listed in `trashed` (over MAX_TRASHED). */
  trashedTruncated: count.optional(),
  /** Existing Duo users this run adopted (a dry run: would adopt), Duo user id and what became of it; absent when none. */
  adopted: z.array(z.object({ id: z.string().min(1), label: z.string() })).max(MAX_TRASHED).optional(),
  adoptedTruncated: count.optional(),
  /** Existing Duo users a rule with `adopt` matched but refused to adopt, each with why (counted in `skipped`). */
  adoptionConflicts: z.array(z.object({ username: z.string(), reason: z.string() })).max(MAX_FAILURES).optional(),
  adoptionConflictsTruncated: count.optional(),
});
export type RunSummary = z.infer<typeof RunSummarySchema>;

/** The counters without the failure list: what runs report to the entity; the list stays in the run's result. */
export const RunCountsSchema = RunSummarySchema.omit({
  failures: true,
  failuresTruncated: true,
  trashed: true,
  trashedTruncated: true,
  adopted: true,
  adoptedTruncated: true,
  adoptionConflicts: true,
  adoptionConflictsTruncated: true,
});
export type RunCounts = z.infer<typeof RunCountsSchema>;

export function countsOf(summary: RunSummary): RunCounts {
  const { failures: _f, failuresTruncated: _ft, trashed: _t, trashedTruncated: _tt, adopted: _a, adoptedTruncated: _at, adoptionConflicts: _c, adoptionConflictsTruncated: _ct, ...counts } = summary;
  return counts;
}

export type SummaryCounter = 'created' | 'updated' | 'disabled' | 'deleted' | 'unchanged' | 'skipped';

export function emptySummary(): RunSummary {
  return { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0, failures: [], failuresTruncated: 0 };
}

function shorten(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT - 1)}…`;
}

function capFailures(failures: readonly Failure[], truncated: number): Pick<RunSummary, 'failures' | 'failuresTruncated'> {
  const kept = failures.slice(0, MAX_FAILURES);
  return { failures: kept, failuresTruncated: truncated + (failures.length - kept.length) };
}

/** Sum of two summaries; `a`'s failures come first and the list stays within `MAX_FAILURES`. */
export function mergeSummary(a: RunSummary, b: RunSummary): RunSummary {
  return {
    created: a.created + b.created,
    updated: a.updated + b.updated,
    disabled: a.disabled + b.disabled,
    deleted: a.deleted + b.deleted,
    unchanged: a.unchanged + b.unchanged,
    skipped: a.skipped + b.skipped,
    failed: a.failed + b.failed,
    ...capFailures([...a.failures, ...b.failures], a.failuresTruncated + b.failuresTruncated),
    ...(a.groups || b.groups ? { groups: addGroupCounts(a.groups, b.groups) } : {}),
    ...(a.admins || b.admins ? { admins: addAdminCounts(a.admins, b.admins) } : {}),
    ...capTrashed([...(a.trashed ?? []), ...(b.trashed ?? [])], (a.trashedTruncated ?? 0) + (b.trashedTruncated ?? 0)),
    ...capAdoptions([...(a.adopted ?? []), ...(b.adopted ?? [])], (a.adoptedTruncated ?? 0) + (b.adoptedTruncated ?? 0)),
    ...capConflicts([...(a.adoptionConflicts ?? []), ...(b.adoptionConflicts ?? [])], (a.adoptionConflictsTruncated ?? 0) + (b.adoptionConflictsTruncated ?? 0)),
  };
}

function capAdoptions(adopted: readonly { id: string; label: string }[], truncated: number): Pick<RunSummary, 'adopted' | 'adoptedTruncated'> {
  const kept = adopted.slice(0, MAX_TRASHED);
  const dropped = truncated + adopted.length - kept.length;
  return { ...(kept.length ? { adopted: kept } : {}), ...(dropped ? { adoptedTruncated: dropped } : {}) };
}

function capConflicts(conflicts: readonly { username: string; reason: string }[], truncated: number): Pick<RunSummary, 'adoptionConflicts' | 'adoptionConflictsTruncated'> {
  const kept = conflicts.slice(0, MAX_FAILURES);
  const dropped = truncated + conflicts.length - kept.length;
  return { ...(kept.length ? { adoptionConflicts: kept } : {}), ...(dropped ? { adoptionConflictsTruncated: dropped } : {}) };
}

/** One existing Duo user adopted (or, in a dry run, that would be), listed while there is room. */
export function recordAdopted(summary: RunSummary, user: { id: string; label: string }): RunSummary {
  return { ...summary, ...capAdoptions([...(summary.adopted ?? []), user], summary.adoptedTruncated ?? 0) };
}

/** One existing Duo user a rule matched for adoption but refused, counted as skipped, with why. */
export function recordAdoptionConflict(summary: RunSummary, conflict: { username: string; reason: string }): RunSummary {
  const entry = { username: shorten(conflict.username), reason: shorten(conflict.reason) };
  return { ...recordOutcome(summary, 'skipped'), ...capConflicts([...(summary.adoptionConflicts ?? []), entry], summary.adoptionConflictsTruncated ?? 0) };
}

function capTrashed(trashed: readonly { id: string; label: string }[], truncated: number): Pick<RunSummary, 'trashed' | 'trashedTruncated'> {
  const kept = trashed.slice(0, MAX_TRASHED);
  const dropped = truncated + trashed.length - kept.length;
  return { ...(kept.length ? { trashed: kept } : {}), ...(dropped ? { trashedTruncated: dropped } : {}) };
}

/** One more user sent to Trash, listed while there is room. */
export function recordTrashed(summary: RunSummary, user: { id: string; label: string }): RunSummary {
  return { ...summary, ...capTrashed([...(summary.trashed ?? []), user], summary.trashedTruncated ?? 0) };
}

/** Group and membership changes counted (users are counted by `recordOutcome`). */
/** `created 1, updated 0, …, failed 0`: the counters as one line, for logs, the CLI and the Web UI. */
export function describeCounts(c: RunCounts): string {
  return `created ${c.created}, updated ${c.updated}, disabled ${c.disabled}, deleted ${c.deleted}, unchanged ${c.unchanged}, skipped ${c.skipped}, failed ${c.failed}`;
}

/** The group counters as one line (`groups: created 2, …; memberships added 37, removed 0`). */
export function describeGroupCounts(g: GroupCounts): string {
  return `groups: created ${g.created}, updated ${g.updated}, deleted ${g.deleted}, unchanged ${g.unchanged}; memberships added ${g.membershipsAdded}, removed ${g.membershipsRemoved}`;
}

/** The administrator counters as one line (`administrators: created 1, …`). */
export function describeAdminCounts(a: AdminCounts): string {
  return `administrators: created ${a.created}, updated ${a.updated}, role changed ${a.roleChanged}, disabled ${a.disabled}, deleted ${a.deleted}, forgotten ${a.forgotten}`;
}

export function recordGroupCounts(summary: RunSummary, counts: Partial<GroupCounts>): RunSummary {
  return { ...summary, groups: addGroupCounts(summary.groups, counts) };
}

/** One more object counted under `counter` (e.g. the `planOutcome` of a user's plan). */
export function recordOutcome(summary: RunSummary, counter: SummaryCounter, n = 1): RunSummary {
  return { ...summary, [counter]: summary[counter] + n };
}

/** One more failed object, with its details kept while there is room. */
export function recordFailure(summary: RunSummary, failure: Failure): RunSummary {
  const entry: Failure = {
    username: shorten(failure.username),
    operation: shorten(failure.operation),
    ...(failure.code !== undefined ? { code: shorten(failure.code) } : {}),
    message: shorten(failure.message),
  };
  return { ...summary, failed: summary.failed + 1, ...capFailures([...summary.failures, entry], summary.failuresTruncated) };
}
