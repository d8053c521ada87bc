/**
 * Many users' plans through Duo's bulk operations endpoint (`POST /admin/v1/bulk`, 50 per call):
 * user modifies (updates, renames, disables, marker releases), deletes, and group adds and removes.
 * A page's worth of changes costs ceil(ops / 50) calls in the `bulk` category instead of one
 * `modify` call each; a handful of changes (fewer than 6 per bulk call) stays single calls, which
 * cost less of Duo's limits (`bulkIsCheaper`).
 *
 * Semantics stay those of one call per op (src/activities/duo-ops.ts):
 * - **Order and stop-at-first-failure per user.** The plans go in waves: wave k carries the k-th op
 *   of every plan still going, so a user's ops run in plan order and a user whose op failed sends
 *   nothing more. A plan's ops that bulk cannot carry (phones, admins, a create's follow-ups) end
 *   its bulk part; the caller applies the rest one call at a time (`applyUserPlan`'s `lead`).
 * - **Per-item results are per-user failures**, built by `opFailure` from the item's DuoError, which
 *   the client classifies like the single call's error (invalid request with Duo's code, 50001 on a
 *   group add as the 100-groups limit, 404). A delete or a group removal of something already gone
 *   succeeds, as `ignoreNotFound` makes the single call succeed.
 * - **Idempotent retries.** Every op carried is idempotent (a modify sets values, an add of a member
 *   or a delete of a gone user changes nothing), so items a 429, outage or timeout left unanswered
 *   are sent again after Duo's back-off, whether or not Duo applied them; a retried activity
 *   re-reads Duo and re-plans, so what a lost attempt applied is no longer planned and nothing
 *   is applied twice. Errors every user shares (credentials, permission, retries exhausted) end
 *   the bulk part and are handed back with what was settled so far, for the caller to record.
 */
import { suggestedRetryDelayMs, isDuoError, type DuoBulkOperation, type DuoClient, type DuoError, type DuoItemResult, type DuoUser } from '../duo';
import { DUO_KNOWN_LIMITS_PER_MINUTE } from '../duo/rate-categories';
import type { Owner } from '../domain/ownership';
import type { PlanOp } from '../domain/plan';
import type { RunSummary } from '../domain/summary';
import { asActivityFailure } from './activity-failures';
import { applyUserPlan, isPageLevelError, opFailure, userChangesOf, type LeadApplied } from './duo-ops';
import { beat, sleepWithBeats } from './heartbeat';

/**
 * Sends `items` through one bulk call after another and returns each item's last answer, in input
 * order. Items answered with an error Duo's back-off says to retry (and `resend` allows) go again
 * after the longest advised delay, heartbeating meanwhile, up to `attempts` calls. A final answer
 * every item would share (isPageLevelError: credentials, permission, retries exhausted) ends the
 * sending at once; items still waiting keep their last answer.
 */
export async function sendWithItemRetries<I, R>(
  items: readonly I[],
  send: (batch: I[]) => Promise<readonly DuoItemResult<R>[]>,
  options: { attempts: number; resend?: (err: DuoError) => boolean },
): Promise<DuoItemResult<R>[]> {
  const answers: DuoItemResult<R>[] = [];
  let pending = items.map((_, i) => i);
  for (let attempt = 1; pending.length > 0; attempt += 1) {
    const round = await send(pending.map((i) => items[i] as I));
    const again: number[] = [];
    let wait = 0;
    let shared = false;
    round.forEach((result, k) => {
      const i = pending[k] as number;
      answers[i] = result;
      if (result.ok) return;
      const delay = attempt < options.attempts && (options.resend?.(result.error) ?? true) ? suggestedRetryDelayMs(result.error, attempt) : undefined;
      if (delay !== undefined) {
        again.push(i);
        wait = Math.max(wait, delay);
      } else if (isPageLevelError(result.error)) {
        shared = true;
      }
    });
    if (shared) return answers;
    if (again.length > 0) await sleepWithBeats(wait);
    pending = again;
  }
  return answers;
}

/**
 * Whether n ops cost less of Duo's limits as bulk calls of `batchSize` than as n single calls:
 * a bulk call weighs 1/50 of a minute (`bulk` category), a single write 1/300 (`modify`), so one bulk
 * call must carry at least 6 ops to pay off (a tie goes to bulk: fewer requests). A page with one
 * changed user sends a single call, not a bulk call six times as dear.
 */
export function bulkIsCheaper(n: number, batchSize: number): boolean {
  const bulkCost = Math.ceil(n / batchSize) / DUO_KNOWN_LIMITS_PER_MINUTE.bulk;
  const singleCost = n / DUO_KNOWN_LIMITS_PER_MINUTE.modify;
  return n > 0 && bulkCost <= singleCost;
}

/** Rounds of waiting out rate limits and outages for a wave before giving up on the page. */
const WAVE_ATTEMPTS = 6;

/** The bulk form of a plan op on an existing user, or undefined when only a single call (or nothing) does it. */
export function bulkOperationOf(op: PlanOp): DuoBulkOperation | undefined {
  switch (op.op) {
    case 'update':
      return { kind: 'modifyUser', userId: op.userId, changes: userChangesOf(op) };
    case 'disable':
      return { kind: 'modifyUser', userId: op.userId, changes: { status: 'disabled' } };
    case 'delete':
      return { kind: 'deleteUser', userId: op.userId };
    case 'addToGroup':
      return op.userId ? { kind: 'addUserToGroup', userId: op.userId, groupId: op.groupId } : undefined;
    case 'removeFromGroup':
      return { kind: 'removeUserFromGroup', userId: op.userId, groupId: op.groupId };
    default:
      return undefined;
  }
}

/** Plan ops that are no call at all (skips) are passed over; the index of the next op that is, or ops.length. */
function nextCall(ops: readonly PlanOp[], from: number): number {
  let i = from;
  while (i < ops.length && ops[i]?.op === 'skip') i += 1;
  return i;
}

function settledItem(op: PlanOp, result: DuoItemResult<DuoUser | undefined>): boolean {
  if (result.ok) return true;
  // Deleting a user or a membership that is already gone is done (a retry after a lost answer, or someone else).
  return (op.op === 'delete' || op.op === 'removeFromGroup') && isDuoError(result.error, 'notFound');
}

export interface LeadsApplied {
  /** Per plan, in order: how far bulk calls got (see LeadApplied). */
  leads: LeadApplied[];
  /** An error every user shares (credentials, permission, retries exhausted): the page must fail with it once the leads are recorded. */
  error?: unknown;
}

/**
 * Applies the leading bulk-capable ops of each plan in waves of bulk calls. `plans[i]` gets
 * `leads[i]`: `{done: n}` (its first n ops are applied; 0 when its first op needs a single call) or
 * `{failure}` (this user's failure, exactly as the single call would report it).
 */
export async function applyLeadingOpsInBulk(duo: DuoClient, plans: readonly (readonly PlanOp[])[], options: { cheaperOnly?: boolean; from?: readonly number[] } = {}): Promise<LeadsApplied> {
  // `from`: ops already applied per plan (a create answered by bulk_create).
  const position = plans.map((ops, i) => nextCall(ops, options.from?.[i] ?? 0));
  const failures = new Map<number, LeadApplied>();
  const leads = (): LeadApplied[] => plans.map((_, i) => failures.get(i) ?? { done: position[i] as number });
  for (;;) {
    const wave = plans.flatMap((ops, i) => {
      const op = failures.has(i) ? undefined : ops[position[i] as number];
      const bulk = op ? bulkOperationOf(op) : undefined;
      return op && bulk ? [{ plan: i, op, bulk }] : [];
    });
    // A wave too small to pay for a bulk call is left to single calls, as is everything after it.
    if (wave.length === 0 || (options.cheaperOnly !== false && !bulkIsCheaper(wave.length, duo.bulkBatchSizes.operationsBatchSize))) return { leads: leads() };
    // A settled item (a delete of something already gone, say) is not sent again.
    const results = await sendWithItemRetries(wave, (batch) => duo.bulkOperations(batch.map((w) => w.bulk)), { attempts: WAVE_ATTEMPTS });
    let shared: DuoError | undefined;
    wave.forEach((w, k) => {
      const result = results[k] as DuoItemResult<DuoUser | undefined>;
      if (settledItem(w.op, result)) position[w.plan] = nextCall(plans[w.plan] as readonly PlanOp[], (position[w.plan] as number) + 1);
      else if (!result.ok && isPageLevelError(result.error)) shared ??= result.error;
      else if (!result.ok) failures.set(w.plan, { failure: opFailure(w.op, result.error) });
    });
    if (shared) return { leads: leads(), error: shared };
  }
}

export interface PlanToApply {
  ops: readonly PlanOp[];
  owner: Owner;
  /** For the activity's error: what applying this plan is, e.g. "deprovisioning alice". */
  what: string;
}

/**
 * Applies whole plans in order onto `summary`: with `bulk`, their leading bulk-capable ops in waves
 * of bulk calls first, then what is left of each plan one call at a time. Counts and failures are
 * those one call per op would give. An error every user shares fails the activity.
 */
export async function applyPlans(duo: DuoClient, plans: readonly PlanToApply[], summary: RunSummary, options: { dryRun: boolean; bulk: boolean }): Promise<RunSummary> {
  let leads: readonly LeadApplied[] = plans.map(() => ({ done: 0 }));
  if (options.bulk && !options.dryRun && plans.length > 0) {
    const applied = await applyLeadingOpsInBulk(duo, plans.map((p) => p.ops));
    if (applied.error !== undefined) await asActivityFailure(`applying ${plans.length} users' changes in bulk`, () => Promise.reject(applied.error));
    leads = applied.leads;
    beat();
  }
  let result = summary;
  for (const [i, plan] of plans.entries()) {
    const before = result;
    result = await asActivityFailure(plan.what, () => applyUserPlan(duo, plan.ops, plan.owner, before, options.dryRun, undefined, { lead: leads[i] as LeadApplied }));
    beat();
  }
  return result;
}
