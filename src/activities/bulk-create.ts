/**
 * The full sync's creates in bulk: the users of a page that will be created go to Duo's bulk_create
 * in one call per 100 (the client splits and falls back to single calls on a 404), before the page's
 * users are reconciled one by one. Each user's result is then handed to its own plan as the answer
 * to its create (applyUserPlan's `precreated`), so phones, groups and admin roles follow as today,
 * a refused item fails only that user (with the same conflict checks as a single create), and the
 * summary counts the same as without bulk.
 *
 * Which users: exactly those reconcileOne would create (no Duo user of that name, no alias holder,
 * no other store user with the name, not inbound-created, a store id Duo can record), planned with
 * the same planUser. A 429 is sent again within the page after the client's back-off (Duo created
 * nothing for it), so a page is not re-run for being paced; another whole-request failure (outage,
 * credentials) fails the page, and Temporal's retry finds the users created so far as existing users
 * carrying their marker.
 */
import type { DuoClient, DuoItemResult, DuoUser } from '../duo';
import type { ConnectionConfig, Rule } from '../domain/connection';
import { MAX_STORE_ID_LENGTH, type Owner } from '../domain/ownership';
import { planUser, type PlanOp } from '../domain/plan';
import type { StoreUser } from '../stores';
import type { MappingResult } from '../domain/mapping';
import { isPageLevelError } from './duo-ops';
import { asActivityFailure } from './activity-failures';
import { bulkIsCheaper, sendWithItemRetries } from './bulk-ops';

/** bulk_create calls per batch answered 429 before the page is handed back to Temporal's retry. */
const BULK_CREATE_ATTEMPTS = 6;

export interface CreateCandidate {
  user: StoreUser;
  mapped: MappingResult;
  current: DuoUser | undefined;
  aliasHolder: DuoUser | undefined;
  sameUsername: readonly StoreUser[];
}

/**
 * Sends the creates of `candidates` through bulk_create; returns each created (or refused) user's
 * result by store user. `skip(user)`: users reconcileOne leaves alone before planning (inbound-created).
 */
export async function bulkCreateNewUsers(
  duo: DuoClient,
  config: ConnectionConfig,
  rule: Rule,
  candidates: readonly CreateCandidate[],
  skip: (user: StoreUser) => boolean,
): Promise<Map<StoreUser, DuoItemResult<DuoUser>>> {
  const owner: Owner = { connectionId: config.connectionId, ruleId: rule.id };
  const creates: { user: StoreUser; op: Extract<PlanOp, { op: 'create' }> }[] = [];
  for (const c of candidates) {
    if (!c.mapped.ok || c.current || c.aliasHolder || c.sameUsername.length > 0 || c.user.externalId.length > MAX_STORE_ID_LENGTH || skip(c.user)) continue;
    const ops = planUser({ desired: c.mapped.user, current: null, owner, userActions: config.userActions, storeId: c.user.externalId });
    const op = ops.find((o): o is Extract<PlanOp, { op: 'create' }> => o.op === 'create');
    if (op) creates.push({ user: c.user, op });
  }
  const byUser = new Map<StoreUser, DuoItemResult<DuoUser>>();
  // A few creates cost less of Duo's limits as single calls (modify, 300/min) than as a bulk call (50/min).
  if (!bulkIsCheaper(creates.length, duo.bulkBatchSizes.createUsersBatchSize)) return byUser;
  const results = await asActivityFailure(`creating ${creates.length} users in Duo`, async () => {
    // Only a 429 is sent again: Duo created nothing for it, while after an outage it may have.
    const answered = await sendWithItemRetries(creates, (batch) => duo.bulkCreateUsers(batch.map((c) => c.op.fields)), { attempts: BULK_CREATE_ATTEMPTS, resend: (err) => err.kind === 'rateLimited' });
    const whole = answered.find((r) => !r.ok && isPageLevelError(r.error));
    if (whole && !whole.ok) throw whole.error;
    return answered;
  });
  creates.forEach((c, i) => byUser.set(c.user, results[i] as DuoItemResult<DuoUser>));
  return byUser;
}
