/**
 * Applying a user's plan (src/domain/plan.ts) to Duo, idempotently: a retry after a crash mid-plan
 * changes nothing twice. Creates that hit "already exists" adopt the user only when it carries
 * this connection's marker (the previous attempt created it); deletes and detaches of missing
 * objects succeed; phone deletes re-check that no user is left on the phone.
 */
import { DuoError, isDuoError, suggestedRetryDelayMs, type DuoClient, type DuoUser } from '../duo';
import { usernameKey } from '../domain/mapping';
import { isOwnedBy, type Owner } from '../domain/ownership';
import { DuoUserStatusSchema, planOutcome, type DuoUserView, type PlanOp } from '../domain/plan';
import { DUO_MAX_GROUPS_PER_USER } from '../domain/groups';
import { recordFailure, recordGroupCounts, recordOutcome, type Failure, type GroupCounts, type RunSummary } from '../domain/summary';
import { sleepWithBeats } from './heartbeat';

/** Deleting or detaching something already gone succeeds (DESIGN §4): a retry after a crash is a no-op. */
export async function ignoreNotFound(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (err) {
    if (!isDuoError(err, 'notFound')) throw err;
  }
}

export function toUserView(user: DuoUser, isAdmin?: boolean): DuoUserView {
  const text = (v: string | null | undefined): string | null => (v ? v : null);
  return {
    user_id: user.user_id,
    username: user.username,
    email: text(user.email),
    realname: text(user.realname),
    firstname: text(user.firstname),
    lastname: text(user.lastname),
    // A status Duo adds in future is treated like `locked out`: an admin's or Duo's state, left alone.
    status: DuoUserStatusSchema.catch('locked out').parse(user.status),
    notes: text(user.notes),
    phones: user.phones.map((p) => ({ phone_id: p.phone_id, number: p.number ? p.number : null, extension: p.extension })),
    ...(isAdmin === undefined ? {} : { isAdmin }),
  };
}

/**
 * Errors that must stop the whole page (and be retried or fail the run) rather than fail one user:
 * rate limits and outages heal by waiting; bad keys and missing grants affect every user alike.
 */
export function isPageLevelError(err: unknown): boolean {
  if (!(err instanceof DuoError)) return true;
  return err.retryable || err.kind === 'authentication' || (err.kind === 'permission' && err.missingPermission !== 'Grant administrators');
}

/** In-activity attempts for one Duo call before the page is handed back to Temporal's retry. */
const TRANSIENT_ATTEMPTS = 6;

/**
 * Retries one Duo call on rate limits and outages, waiting as Duo's own clients do (1→32 s with
 * jitter) while heartbeating. Every call made through here is idempotent (see applyOp), so a retry
 * after a lost answer changes nothing twice. Retrying the call, not the page, keeps one 429 among a
 * page's ~400 calls from redoing the page; when the attempts run out, the activity fails with
 * `nextRetryDelay` and Temporal's retry policy takes over, resuming from the heartbeated position.
 */
export async function withTransientRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      const delay = err instanceof DuoError ? suggestedRetryDelayMs(err, attempt) : undefined;
      if (delay === undefined || attempt >= TRANSIENT_ATTEMPTS) throw err;
      await sleepWithBeats(delay);
    }
  }
}

const emptyToNull = (v: string | undefined): string | null | undefined => (v === undefined ? undefined : v === '' ? null : v);

async function applyOp(duo: DuoClient, op: PlanOp, owner: Owner, created: { userId: string | null }): Promise<void> {
  switch (op.op) {
    case 'create': {
      try {
        const user = await duo.createUser(op.fields);
        created.userId = user.user_id;
      } catch (err) {
        if (!isDuoError(err, 'conflict')) throw err;
        // A previous attempt may have created it before the worker died: adopt only our own.
        const existing = await duo.findUserByUsername(op.username);
        if (!existing || !isOwnedBy(existing.notes, owner.connectionId, owner.ruleId)) throw err;
        created.userId = existing.user_id;
      }
      return;
    }
    case 'update': {
      const c = op.changes;
      await duo.modifyUser(op.userId, {
        ...(c.email !== undefined ? { email: emptyToNull(c.email) } : {}),
        ...(c.realname !== undefined ? { realname: emptyToNull(c.realname) } : {}),
        ...(c.firstname !== undefined ? { firstname: emptyToNull(c.firstname) } : {}),
        ...(c.lastname !== undefined ? { lastname: emptyToNull(c.lastname) } : {}),
        ...(c.notes !== undefined ? { notes: emptyToNull(c.notes) } : {}),
        ...(c.status !== undefined ? { status: c.status } : {}),
      });
      return;
    }
    case 'disable':
      await duo.modifyUser(op.userId, { status: 'disabled' });
      return;
    case 'delete':
      await ignoreNotFound(() => duo.deleteUser(op.userId));
      return;
    case 'attachPhone': {
      const userId = op.userId ?? created.userId;
      if (!userId) throw new Error(`cannot attach phone to ${op.username}: the user was not created`);
      const existing = await duo.findPhonesByNumber(op.number, op.extension);
      let phone = existing[0];
      if (!phone) {
        try {
          phone = await duo.createPhone({ number: op.number, type: op.type, ...(op.extension ? { extension: op.extension } : {}) });
        } catch (err) {
          // Users reconciled side by side may share a number: the other one created it first.
          if (!isDuoError(err, 'conflict')) throw err;
          phone = (await duo.findPhonesByNumber(op.number, op.extension))[0];
          if (!phone) throw err;
        }
      }
      if (phone.users?.some((u) => u.user_id === userId)) return;
      await duo.associatePhone(userId, phone.phone_id);
      return;
    }
    case 'detachPhone':
      await ignoreNotFound(() => duo.disassociatePhone(op.userId, op.phoneId));
      return;
    case 'deletePhoneIfUnused':
      await ignoreNotFound(async () => {
        const phone = await duo.getPhone(op.phoneId);
        if ((phone.users ?? []).length === 0) await duo.deletePhone(op.phoneId);
      });
      return;
    case 'ensureAdmin': {
      const admin = await duo.findAdminByEmail(op.email);
      if (!admin) await duo.createAdmin({ email: op.email, name: op.name });
      return;
    }
    case 'addToGroup': {
      const userId = op.userId ?? created.userId;
      if (!userId) throw new Error(`cannot add ${op.username} to group ${op.groupName}: the user was not created`);
      await duo.addUserToGroup(userId, op.groupId);
      return;
    }
    case 'removeFromGroup':
      await ignoreNotFound(() => duo.removeUserFromGroup(op.userId, op.groupId));
      return;
    case 'skip':
      return;
  }
}

/** The failure recorded for one user's failed op; Duo's opaque 500/50001 on a group add is named for what it is. */
function opFailure(op: PlanOp, err: DuoError): Failure {
  if (op.op === 'addToGroup' && err.kind === 'limitExceeded') {
    return {
      username: op.username,
      operation: op.op,
      code: err.code !== undefined ? String(err.code) : 'GroupLimit',
      message: `Duo allows at most ${DUO_MAX_GROUPS_PER_USER} groups per user: adding ${op.username} to group ${op.groupName} was refused (HTTP 500, code 50001); remove the user from groups in the store or in Duo`,
    };
  }
  return { username: op.username, operation: op.op, ...(err.code !== undefined ? { code: String(err.code) } : { code: err.kind }), message: err.message };
}

function membershipCounts(ops: readonly PlanOp[]): Partial<GroupCounts> | null {
  const membershipsAdded = ops.filter((o) => o.op === 'addToGroup').length;
  const membershipsRemoved = ops.filter((o) => o.op === 'removeFromGroup').length;
  return membershipsAdded + membershipsRemoved > 0 ? { membershipsAdded, membershipsRemoved } : null;
}

/**
 * Applies one user's plan and records the outcome. Page-level errors propagate (the activity fails
 * and Temporal retries the page); per-user errors (Duo 400s, limits, conflicts) are recorded as
 * that user's failure and the page goes on.
 */
export async function applyUserPlan(duo: DuoClient, ops: readonly PlanOp[], owner: Owner, summary: RunSummary, dryRun: boolean): Promise<RunSummary> {
  const outcome = planOutcome(ops);
  const memberships = membershipCounts(ops);
  const done = (s: RunSummary): RunSummary => (memberships ? recordGroupCounts(recordOutcome(s, outcome), memberships) : recordOutcome(s, outcome));
  if (dryRun) return done(summary);
  const created = { userId: null as string | null };
  for (const op of ops) {
    try {
      await withTransientRetry(() => applyOp(duo, op, owner, created));
    } catch (err) {
      if (isPageLevelError(err)) throw err;
      return recordFailure(summary, opFailure(op, err as DuoError));
    }
  }
  return done(summary);
}

/** Duo users keyed by case-insensitive username. */
export function indexByUsername(users: readonly DuoUser[]): Map<string, DuoUser> {
  return new Map(users.map((u) => [usernameKey(u.username), u]));
}
