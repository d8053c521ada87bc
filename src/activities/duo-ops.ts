/**
 * Applying a user's plan (src/domain/plan.ts) to Duo, idempotently: a retry after a crash mid-plan
 * changes nothing twice. Creates that hit "already exists" continue with the existing user only
 * when its username (not an alias) is the one created and it carries exactly the marker the create
 * wrote (the previous attempt created it); deletes and detaches of missing objects succeed; phone
 * deletes re-check that the phone is ours and no user is left on it.
 *
 * Every lookup of Duo users by username goes through `lookUpUsersByUsername` here: Duo's lookups
 * also match aliases, and an alias hit is never the user of that name.
 */
import { DuoError, isDuoError, suggestedRetryDelayMs, type DuoClient, type DuoItemResult, type DuoPhone, type DuoUser, type DuoUserChanges } from '../duo';
import { usernameKey } from '../domain/mapping';
import { isOwnedPhone, parseMarker, parseUserMarker, phoneMarker, sameUserMarker, type Owner, type UserOwner } from '../domain/ownership';
import { DuoUserStatusSchema, planOutcome, type DuoUserView, type PlanOp } from '../domain/plan';
import { DUO_MAX_GROUPS_PER_USER } from '../domain/groups';
import { recordFailure, recordGroupCounts, recordOutcome, recordTrashed, type Failure, type GroupCounts, type RunSummary } from '../domain/summary';
import { sleepWithBeats } from './heartbeat';

/** Deleting or detaching something already gone succeeds: a retry after a crash is a no-op. */
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
    phones: user.phones.map((p) => ({ phone_id: p.phone_id, number: p.number ? p.number : null, extension: p.extension, name: text(p.name) })),
    ...(isAdmin === undefined ? {} : { isAdmin }),
  };
}

/**
 * Errors that must stop the whole page (and be retried or fail the run) rather than fail one user:
 * rate limits and outages heal by waiting; bad keys and missing grants affect every user alike.
 */
export function isPageLevelError(err: unknown): boolean {
  if (err instanceof IdentityConflictError) return false;
  if (!(err instanceof DuoError)) return true;
  return err.retryable || err.kind === 'authentication' || (err.kind === 'permission' && err.missingPermission !== 'Grant administrators');
}

/**
 * One store user cannot be given the Duo user or phone it asked for, because that object belongs
 * to someone else (an alias or same-name user it does not own, another store user's account,
 * a phone duo-sync did not create). A per-user failure: the page goes on, nothing is adopted.
 */
export class IdentityConflictError extends Error {
  override readonly name = 'IdentityConflictError';
  constructor(
    readonly code: 'UsernameConflict' | 'PhoneConflict',
    message: string,
  ) {
    super(message);
  }
}

// ---- looking Duo users up by username ----------------------------------------------------------

/** Every alias of a Duo user (alias1..alias4 and the newer `aliases` map). */
export function aliasesOf(user: DuoUser): string[] {
  const all = [user.alias1, user.alias2, user.alias3, user.alias4, ...Object.values(user.aliases)];
  return [...new Set(all.filter((a): a is string => typeof a === 'string' && a !== ''))];
}

export interface UsernameLookup {
  /** Users by `usernameKey` of their own username: only names that are the user's username. */
  users: Map<string, DuoUser>;
  /** Names asked for that are an alias of another Duo user, by `usernameKey`: that user. */
  aliasHolders: Map<string, DuoUser>;
}

/**
 * Looks Duo users up by username in batches (Duo's lookup also matches aliases, so every hit is
 * checked): a name is a user's only when it is that user's username; a name that is someone's
 * alias is reported as such, never as the user.
 */
export async function lookUpUsersByUsername(duo: DuoClient, usernames: readonly string[]): Promise<UsernameLookup> {
  if (usernames.length === 0) return { users: new Map(), aliasHolders: new Map() };
  return usernameLookupFrom(await withTransientRetry(() => duo.getUsersByUsernames(usernames)), usernames);
}

/** The lookup of `usernames` from the Duo users a lookup (or a listing) found for them. */
export function usernameLookupFrom(found: readonly DuoUser[], usernames: readonly string[]): UsernameLookup {
  const lookup: UsernameLookup = { users: new Map(), aliasHolders: new Map() };
  const asked = new Set(usernames.map(usernameKey));
  for (const user of found) {
    const own = usernameKey(user.username);
    if (asked.has(own)) lookup.users.set(own, user);
    for (const alias of aliasesOf(user)) {
      const key = usernameKey(alias);
      if (asked.has(key) && key !== own) lookup.aliasHolders.set(key, user);
    }
  }
  // A name that is one user's username and (impossibly, per Duo's uniqueness) another's alias is the username's.
  for (const key of lookup.users.keys()) lookup.aliasHolders.delete(key);
  return lookup;
}

/** The Duo user whose username is `username`, and the user holding it as an alias, if any. */
export async function findUserByUsername(duo: DuoClient, username: string): Promise<{ user?: DuoUser; aliasHolder?: DuoUser }> {
  const lookup = await lookUpUsersByUsername(duo, [username]);
  const key = usernameKey(username);
  const user = lookup.users.get(key);
  const aliasHolder = lookup.aliasHolders.get(key);
  return { ...(user ? { user } : {}), ...(aliasHolder ? { aliasHolder } : {}) };
}

/** A Duo user for messages: `"alice" (DU…)`. */
export function describeDuoUser(user: Pick<DuoUser, 'username' | 'user_id'>): string {
  return `"${user.username}" (${user.user_id})`;
}

export function aliasConflictMessage(username: string, storeUser: string, holder: DuoUser): string {
  return `Duo username "${username}" is an alias of Duo user ${describeDuoUser(holder)}: store user ${storeUser} was not created and ${holder.username} was not changed; remove the alias from ${holder.username} in Duo, or give one of them another username`;
}

export function otherStoreUserMessage(existing: DuoUser, otherStoreId: string, storeUser: string): string {
  return `Duo user ${describeDuoUser(existing)} belongs to store user with id ${otherStoreId}, and store user ${storeUser} maps to the same Duo username, so it was not synced and the account was not changed; give one of them another username in the store (if the store user with id ${otherStoreId} no longer exists, delete ${existing.username} in Duo and the next sync creates it anew)`;
}

/** Why a create that hit "already exists" must not continue with the user that has the name. */
function createConflict(op: Extract<PlanOp, { op: 'create' }>, owner: Owner, found: { user?: DuoUser; aliasHolder?: DuoUser }, cause: DuoError): Error {
  const storeId = parseUserMarker(op.fields.notes)?.storeId;
  const storeUser = storeId === undefined ? `"${op.username}"` : `"${op.username}" (store id ${storeId})`;
  if (found.aliasHolder) return new IdentityConflictError('UsernameConflict', aliasConflictMessage(op.username, storeUser, found.aliasHolder));
  const existing = found.user;
  if (!existing) return cause;
  const marker = parseUserMarker(existing.notes);
  if (marker && marker.connectionId === owner.connectionId && marker.ruleId === owner.ruleId && marker.storeId !== undefined) {
    return new IdentityConflictError('UsernameConflict', otherStoreUserMessage(existing, marker.storeId, storeUser));
  }
  return new IdentityConflictError(
    'UsernameConflict',
    `Duo user ${describeDuoUser(existing)} already exists and is not the account this rule created for store user ${storeUser} (${whoseMarker(marker, owner)}), so it was neither adopted nor changed; rename or delete one of them`,
  );
}

/** Whose a Duo user is, by its marker, for a conflict message. */
function whoseMarker(marker: UserOwner | null, owner: Owner): string {
  if (!marker) return 'it has no duo-sync marker';
  if (marker.connectionId !== owner.connectionId) return `it belongs to connection ${marker.connectionId}`;
  if (marker.ruleId !== owner.ruleId) return `it belongs to rule ${marker.ruleId}`;
  return 'its marker predates store ids, so it cannot be told apart from another store user’s account';
}

// ---- phones ---------------------------------------------------------------------------------------

/**
 * The phone with `number` that the user may be given: ours (named for this connection) and shared,
 * if at all, only with users this connection owns. Anyone else's phone, or an inventory phone we
 * did not create, is a PhoneConflict: never shared, never adopted.
 */
async function usablePhone(duo: DuoClient, phone: DuoPhone, owner: Owner, username: string): Promise<DuoPhone> {
  const others = phone.users ?? [];
  if (!isOwnedPhone(phone.name, owner.connectionId)) {
    const whose = others.length > 0 ? `the phone of Duo user${others.length > 1 ? 's' : ''} ${others.map((u) => `"${u.username}"`).join(', ')}` : 'an unassigned phone duo-sync did not create';
    throw new IdentityConflictError('PhoneConflict', `phone ${phone.number} (${phone.phone_id}) is ${whose}: it was not attached to ${username}; correct the number in the store, or remove that phone in Duo if it is stale`);
  }
  if (others.length === 0) return phone;
  const found = await lookUpUsersByUsername(duo, others.map((u) => u.username));
  const foreign = others.filter((o) => {
    const user = found.users.get(usernameKey(o.username));
    return !user || user.user_id !== o.user_id || parseMarker(user.notes)?.connectionId !== owner.connectionId;
  });
  if (foreign.length > 0) {
    throw new IdentityConflictError('PhoneConflict', `phone ${phone.number} (${phone.phone_id}) is also the phone of Duo user${foreign.length > 1 ? 's' : ''} ${foreign.map((u) => `"${u.username}"`).join(', ')}, which duo-sync does not manage: it was not attached to ${username}; correct the number in the store or in Duo`);
  }
  return phone;
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

/** What an `update` op sends to Duo (single call or bulk operation alike). */
export function userChangesOf(op: Extract<PlanOp, { op: 'update' }>): DuoUserChanges {
  const c = op.changes;
  return {
    ...(c.username !== undefined ? { username: c.username } : {}),
    ...(c.email !== undefined ? { email: emptyToNull(c.email) } : {}),
    ...(c.realname !== undefined ? { realname: emptyToNull(c.realname) } : {}),
    ...(c.firstname !== undefined ? { firstname: emptyToNull(c.firstname) } : {}),
    ...(c.lastname !== undefined ? { lastname: emptyToNull(c.lastname) } : {}),
    ...(c.notes !== undefined ? { notes: emptyToNull(c.notes) } : {}),
    ...(c.status !== undefined ? { status: c.status } : {}),
  };
}

/** A plan's progress across its ops: the user created, and a create already sent in bulk (used once). */
interface PlanState {
  userId: string | null;
  precreated?: DuoItemResult<DuoUser> | undefined;
}

async function applyOp(duo: DuoClient, op: PlanOp, owner: Owner, created: PlanState): Promise<void> {
  switch (op.op) {
    case 'create': {
      // A bulk create's answer counts as this op's first attempt; a retry makes the single call.
      const pre = created.precreated;
      created.precreated = undefined;
      try {
        if (pre && !pre.ok) throw pre.error;
        const user = pre ? pre.value : await duo.createUser(op.fields);
        created.userId = user.user_id;
      } catch (err) {
        if (!isDuoError(err, 'conflict')) throw err;
        // A previous attempt may have created it before the worker died: continue only with exactly that user.
        const found = await findUserByUsername(duo, op.username);
        if (found.aliasHolder || !found.user || !sameUserMarker(found.user.notes, op.fields.notes)) throw createConflict(op, owner, found, err);
        created.userId = found.user.user_id;
      }
      return;
    }
    case 'update':
      await duo.modifyUser(op.userId, userChangesOf(op));
      return;
    case 'disable':
      await duo.modifyUser(op.userId, { status: 'disabled' });
      return;
    case 'delete':
      await ignoreNotFound(() => duo.deleteUser(op.userId));
      return;
    case 'trash': {
      // Idempotent: trashing a user already in Trash keeps its first trash time.
      const [result] = await duo.sendUsersToTrash([op.userId]);
      if (result && !result.ok && !isDuoError(result.error, 'notFound')) throw result.error;
      return;
    }
    case 'attachPhone': {
      const userId = op.userId ?? created.userId;
      if (!userId) throw new Error(`cannot attach phone to ${op.username}: the user was not created`);
      const existing = await duo.findPhonesByNumber(op.number, op.extension);
      let phone = existing[0];
      if (!phone) {
        try {
          phone = await duo.createPhone({ number: op.number, type: op.type, name: phoneMarker(owner.connectionId), ...(op.extension ? { extension: op.extension } : {}) });
        } catch (err) {
          // Users reconciled side by side may share a number: the other one created it first.
          if (!isDuoError(err, 'conflict')) throw err;
          phone = (await duo.findPhonesByNumber(op.number, op.extension))[0];
          if (!phone) throw err;
        }
      }
      if (phone.users?.some((u) => u.user_id === userId)) return;
      const usable = await usablePhone(duo, phone, owner, op.username);
      await duo.associatePhone(userId, usable.phone_id);
      return;
    }
    case 'detachPhone':
      await ignoreNotFound(() => duo.disassociatePhone(op.userId, op.phoneId));
      return;
    case 'deletePhoneIfUnused':
      await ignoreNotFound(async () => {
        const phone = await duo.getPhone(op.phoneId);
        if (isOwnedPhone(phone.name, owner.connectionId) && (phone.users ?? []).length === 0) await duo.deletePhone(op.phoneId);
      });
      return;
    case 'ensureAdmin': {
      const admin = await duo.findAdminByEmail(op.email);
      if (!admin) await duo.createAdmin({ email: op.email, name: op.name, role: op.role });
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
export function opFailure(op: PlanOp, err: DuoError | IdentityConflictError): Failure {
  if (err instanceof IdentityConflictError) return { username: op.username, operation: op.op, code: err.code, message: err.message };
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
 * How far bulk calls got with a plan's leading ops (src/activities/bulk-ops.ts): the first `done`
 * ops are applied, or one of them failed for this user alone.
 */
export type LeadApplied = { done: number } | { failure: Failure };

/**
 * Applies one user's plan and records the outcome. Page-level errors propagate (the activity fails
 * and Temporal retries the page); per-user errors (Duo 400s, limits, conflicts) are recorded as
 * that user's failure and the page goes on. `precreated`: this user's result from a bulk create
 * (src/activities/bulk-create.ts), taken as the answer to the plan's create. `lead`: what bulk
 * operations already did with the plan's first ops; the rest follow one call at a time.
 */
export async function applyUserPlan(
  duo: DuoClient,
  ops: readonly PlanOp[],
  owner: Owner,
  summary: RunSummary,
  dryRun: boolean,
  precreated?: DuoItemResult<DuoUser>,
  lead?: LeadApplied,
): Promise<RunSummary> {
  const outcome = planOutcome(ops);
  const memberships = membershipCounts(ops);
  const done = (s: RunSummary): RunSummary => (memberships ? recordGroupCounts(recordOutcome(s, outcome), memberships) : recordOutcome(s, outcome));
  if (dryRun) return done(summary);
  if (lead && 'failure' in lead) return recordFailure(summary, lead.failure);
  const created: PlanState = { userId: null, precreated };
  for (const op of ops.slice(lead?.done ?? 0)) {
    try {
      await withTransientRetry(() => applyOp(duo, op, owner, created));
    } catch (err) {
      if (isPageLevelError(err)) throw err;
      return recordFailure(summary, opFailure(op, err as DuoError | IdentityConflictError));
    }
  }
  const trashed = ops.find((op) => op.op === 'trash');
  return done(trashed ? recordTrashed(summary, { id: trashed.userId, label: trashed.username }) : summary);
}
