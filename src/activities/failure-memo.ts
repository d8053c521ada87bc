/**
 * Data failures, remembered per worker: a store entry whose reconcile failed because of its own
 * data (a mapping error, or Duo refusing a value with a 400) is not sent to Duo again until the
 * entry (or its rule) changes. Every run still reports it, as "still failing (unchanged since
 * <run>)", so `failed` and the run's outcome say the same as before; only the Duo calls are saved.
 *
 * The memo lives on the worker, not in workflow state, so run inputs and results stay small (ids,
 * counts, cursors). Losing it (a restart, a page served by another worker) costs one retry of
 * each failing entry, which then fails and is remembered again: it is an optimisation, never the
 * source of truth. Failures that are transient (429, 5xx, timeouts: those fail the page and are
 * retried by Temporal) or that depend on what Duo holds (a username or phone conflict, a group
 * limit) are never remembered: they must be tried again on every run. See docs/stores.md.
 */
import { createHash } from 'node:crypto';
import type { Rule } from '../domain/connection';
import type { Owner } from '../domain/ownership';
import { emptySummary, recordFailure, type Failure, type RunSummary } from '../domain/summary';
import type { StoreUser } from '../stores';

/** Entries one worker remembers (all connections together); the oldest go first. */
export const DEFAULT_MEMO_ENTRIES = 20_000;

/**
 * A failure caused by the entry's data alone: the mapping refused it before any Duo call, or Duo
 * answered 400 (codes 400xx, or the `invalidRequest` kind when Duo gave no code) to one of its values.
 */
export function isDataFailure(failure: Failure): boolean {
  const code = failure.code;
  return code === 'MappingError' || code === 'invalidRequest' || (code !== undefined && /^400\d\d$/.test(code));
}

/** JSON with object keys sorted, so the same data always gives the same text. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** What the entry's reconcile depends on from the store side: the whole store record and the rule. */
export function entryFingerprint(rule: Rule, user: StoreUser): string {
  return createHash('sha256').update(stableJson({ rule, user })).digest('base64url');
}

interface MemoEntry {
  fingerprint: string;
  failures: Failure[];
  /** The workflow id of the run that first saw this failure for this fingerprint. */
  since: string;
}

export class FailureMemo {
  private readonly entries = new Map<string, MemoEntry>();

  constructor(private readonly maxEntries = DEFAULT_MEMO_ENTRIES) {}

  get size(): number {
    return this.entries.size;
  }

  private static key(owner: Owner, storeId: string): string {
    return JSON.stringify([owner.connectionId, owner.ruleId, storeId]);
  }

  /** The remembered failures as this run's, when the entry is unchanged since it failed; otherwise undefined (reconcile it). */
  recall(owner: Owner, storeId: string, fingerprint: string): RunSummary | undefined {
    const entry = this.entries.get(FailureMemo.key(owner, storeId));
    if (!entry || entry.fingerprint !== fingerprint) return undefined;
    return entry.failures.reduce((s, f) => recordFailure(s, { ...f, message: `still failing (unchanged since ${entry.since}): ${f.message}` }), emptySummary());
  }

  /** Remembers the entry's data failures from this reconcile's summary, or forgets the entry when it had none. */
  record(owner: Owner, storeId: string, fingerprint: string, summary: RunSummary, runId: string): void {
    const key = FailureMemo.key(owner, storeId);
    const previous = this.entries.get(key);
    this.entries.delete(key);
    // Only a reconcile stopped by its data alone is remembered (with the phones it could not read,
    // reported again on recall); any other failure must be retried next run.
    const stops = summary.failures.filter((f) => f.code !== 'InvalidPhone');
    if (stops.length === 0 || !stops.every(isDataFailure)) return;
    const failures = summary.failures;
    const since = previous && previous.fingerprint === fingerprint ? previous.since : runId;
    this.entries.set(key, { fingerprint, failures, since });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}
