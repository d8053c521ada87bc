/**
 * The per-user diff: given the Duo user a rule wants (or null when the user left the store or the
 * rule's scope) and the user as Duo has it, the list of operations that brings Duo in line,
 * honouring the connection's `userActions` and ownership. Unchanged input plans no operations, so
 * unchanged users cost zero writes and re-running a page is a no-op. Activities apply the ops.
 *
 * Decisions (docs/ownership.md, docs/architecture.md):
 * - Only users carrying this connection's and rule's marker are changed; any other existing user
 *   is a `skip`. A user owned by another rule of this connection is left to that rule.
 * - Status is managed only with `update` + `disable`. A source-disabled user is disabled whatever
 *   its Duo status (a `bypass` must not outlive the account). A source-enabled user is re-activated
 *   only from `disabled`; `bypass` and `locked out` are left alone (an admin's or Duo's decision).
 * - Source-disabled users are never created (creating an account only to disable it helps nobody).
 * - Users `pending deletion` (Duo's Trash) are not touched: modifying does not restore them.
 * - Phones: duo-sync manages only the phones it created (named `duo-sync:<connectionId>`, see
 *   ownership.ts). The mapped phone (src/domain/mapping.ts: the rule's phone sources) is attached
 *   (looked up by number and extension, created with that name and its type if missing; the
 *   activity refuses a phone that is not ours) unless the user already has a phone with that number
 *   and extension, before our other numbered phones are detached, so the user is never left
 *   without a phone. Phones people enrolled themselves, and phones without a number (tablets), are
 *   never detached or deleted. An existing Duo phone keeps its type. A desired user without `phone`
 *   (its store phone could not be read) leaves the Duo phones as they are. Our detached phones, and
 *   our phones of deleted users, are deleted when no user is left on them, unless
 *   `cleanupUnusedPhones` is off.
 * - The marker records the store user's id; an owned user whose marker names another store user
 *   is not this store user's (`storeIdConflict`), and the caller fails it instead of planning.
 * - Administrators are planned apart (src/domain/admins.ts) and joined to the user's plan by the
 *   activity: only the administrator recorded on the user's marker is ever changed.
 * - The brief's `noop` is the empty plan.
 */
import { z } from 'zod';
import { type AdoptMode, type UserActions } from './connection';
import { AdminOpSchemas } from './admins';
import { clean, usernameKey, type DesiredDuoUser, type DesiredPhone } from './mapping';
import { duoPhoneKey, PhoneTypeSchema } from './phones';
import { isOwnedBy, isOwnedPhone, parseMarker, parseUserMarker, stripMarker, withMarker, type Owner } from './ownership';

// ---- Duo user as the plan sees it --------------------------------------------------------------

export const DuoUserStatusSchema = z.enum(['active', 'disabled', 'bypass', 'locked out', 'pending deletion']);
export type DuoUserStatus = z.infer<typeof DuoUserStatusSchema>;

export const DuoUserViewSchema = z.object({
  user_id: z.string().min(1),
  username: z.string(),
  email: z.string().nullable(),
  realname: z.string().nullable(),
  firstname: z.string().nullable(),
  lastname: z.string().nullable(),
  status: DuoUserStatusSchema,
  notes: z.string().nullable(),
  /** `name` tells duo-sync's own phones (ownership.ts) from phones people enrolled; absent = not ours. */
  phones: z.array(z.object({ phone_id: z.string().min(1), number: z.string().nullable(), extension: z.string().nullable().optional(), name: z.string().nullable().optional() })),
  /** Whether an administrator with this user's email exists; unknown (absent) plans `ensureAdmin` for admin users. */
  isAdmin: z.boolean().optional(),
  /** Managed by Duo's own directory sync (`last_directory_sync` set): never adopted. */
  directorySynced: z.boolean().optional(),
});
export type DuoUserView = z.infer<typeof DuoUserViewSchema>;

// ---- operations --------------------------------------------------------------------------------

const TEXT_FIELDS = ['email', 'realname', 'firstname', 'lastname'] as const;
type TextField = (typeof TEXT_FIELDS)[number];

/** Field values as Duo's modify takes them: `''` clears a field; `username` renames the user in place. */
export const UserChangesSchema = z
  .object({
    username: z.string().min(1),
    email: z.string(),
    realname: z.string(),
    firstname: z.string(),
    lastname: z.string(),
    notes: z.string(),
    status: z.enum(['active', 'disabled']),
  })
  .partial();
export type UserChanges = z.infer<typeof UserChangesSchema>;

const username = z.string().min(1);
/** null: the user created earlier in the same plan (the activity threads its new user_id). */
const targetUserId = z.string().min(1).nullable();

export const PlanOpSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('create'),
    username,
    fields: z.object({
      username,
      email: z.string().optional(),
      realname: z.string().optional(),
      firstname: z.string().optional(),
      lastname: z.string().optional(),
      status: z.literal('active'),
      notes: z.string(),
    }),
  }),
  z.object({ op: z.literal('update'), userId: z.string().min(1), username, changes: UserChangesSchema }),
  z.object({ op: z.literal('disable'), userId: z.string().min(1), username }),
  z.object({ op: z.literal('delete'), userId: z.string().min(1), username }),
  /** Send the user to Duo's Trash: restorable for 7 days, then purged by Duo. */
  z.object({ op: z.literal('trash'), userId: z.string().min(1), username }),
  /** Find the phone by number and extension (create it, with its type, if missing), then associate it with the user. */
  z.object({ op: z.literal('attachPhone'), userId: targetUserId, username, number: z.string().min(1), extension: z.string().min(1).optional(), type: PhoneTypeSchema }),
  z.object({ op: z.literal('detachPhone'), userId: z.string().min(1), username, phoneId: z.string().min(1), number: z.string() }),
  /** Delete the phone only if no user is associated with it any more (phones can be shared). */
  z.object({ op: z.literal('deletePhoneIfUnused'), username, phoneId: z.string().min(1), number: z.string() }),
  /** The user's administrator (src/domain/admins.ts plans these). */
  ...AdminOpSchemas,
  /** Membership in a Duo group this rule owns (src/domain/groups.ts plans these). */
  z.object({ op: z.literal('addToGroup'), userId: targetUserId, username, groupId: z.string().min(1), groupName: z.string() }),
  z.object({ op: z.literal('removeFromGroup'), userId: z.string().min(1), username, groupId: z.string().min(1), groupName: z.string() }),
  z.object({ op: z.literal('skip'), username, reason: z.string() }),
]);
export type PlanOp = z.infer<typeof PlanOpSchema>;

export function isWriteOp(op: PlanOp): boolean {
  return op.op !== 'skip';
}

/** Which summary counter a user's plan lands in. */
export type PlanOutcome = 'created' | 'updated' | 'disabled' | 'deleted' | 'unchanged' | 'skipped';

/** For outbound (Duo) and inbound (store) plans alike: the op kinds that decide the counter are shared. */
export function planOutcome<Op extends { op: string }>(ops: readonly Op[]): PlanOutcome {
  const kinds = new Set(ops.map((o) => o.op));
  if (kinds.has('create')) return 'created';
  if (kinds.has('delete') || kinds.has('trash')) return 'deleted';
  if (kinds.has('disable')) return 'disabled';
  if (kinds.has('skip')) return 'skipped';
  return ops.length > 0 ? 'updated' : 'unchanged';
}

// ---- planning ----------------------------------------------------------------------------------

export interface PlanUserInput {
  /** null: the user is gone from the store or out of the rule's scope. */
  desired: DesiredDuoUser | null;
  /** null: no Duo user with this username. */
  current: DuoUserView | null;
  owner: Owner;
  userActions: UserActions;
  /** The store user's externalId, recorded in the marker of the users it creates or updates. */
  storeId?: string;
}

export const SKIP_NOT_OWNED = 'exists in Duo and is not owned by this connection';

function skip(user: string, reason: string): PlanOp {
  return { op: 'skip', username: user, reason };
}

function sameText(field: TextField, desired: string | null, current: string | null): boolean {
  const a = clean(desired);
  const b = clean(current);
  // Emails compare case-insensitively so Duo's storage choices never cause an update per run.
  return field === 'email' ? a?.toLowerCase() === b?.toLowerCase() : a === b;
}

function numberedPhones(view: DuoUserView): { phone_id: string; number: string; key: string; name?: string | null | undefined }[] {
  return view.phones.flatMap((p) => (p.number !== null && p.number.trim() !== '' ? [{ phone_id: p.phone_id, number: p.number, key: duoPhoneKey(p.number, p.extension), name: p.name }] : []));
}

/** The numbered phones of `view` that this connection created: the only ones it may detach or delete. */
function ownedPhones(view: DuoUserView, connectionId: string): { phone_id: string; number: string; key: string }[] {
  return numberedPhones(view).filter((p) => isOwnedPhone(p.name, connectionId));
}

/**
 * Why the owned Duo user `current` is not the store user with `storeId`: its marker records another
 * store user's id (two store entries map to one Duo username). null when it is (or the marker
 * predates store ids, in which case the next update records this one).
 */
export function storeIdConflict(current: DuoUserView, owner: Owner, storeId: string): string | null {
  const marker = parseUserMarker(current.notes);
  if (!marker || marker.connectionId !== owner.connectionId || marker.ruleId !== owner.ruleId) return null;
  if (marker.storeId === undefined || marker.storeId === storeId) return null;
  return marker.storeId;
}

function attachPhone(userId: string | null, user: string, phone: DesiredPhone): PlanOp {
  return { op: 'attachPhone', userId, username: user, number: phone.number, ...(phone.extension !== undefined ? { extension: phone.extension } : {}), type: phone.type };
}

function phoneCleanup(view: DuoUserView, phones: readonly { phone_id: string; number: string }[], cleanup: boolean): PlanOp[] {
  return cleanup ? phones.map((p) => ({ op: 'deletePhoneIfUnused', username: view.username, phoneId: p.phone_id, number: p.number })) : [];
}

/** The operations that bring one Duo user in line with what the rule wants. */
export function planUser(input: PlanUserInput): PlanOp[] {
  const { desired, current, owner, userActions } = input;
  if (desired && current && usernameKey(desired.username) !== usernameKey(current.username)) {
    throw new RangeError(`planUser got store user ${desired.username} but Duo user ${current.username}; look Duo users up by username`);
  }
  if (!current) return desired ? planCreate(desired, input) : [];

  const marker = parseMarker(current.notes);
  if (!marker || marker.connectionId !== owner.connectionId) return desired ? [skip(current.username, SKIP_NOT_OWNED)] : [];
  if (marker.ruleId !== owner.ruleId) return desired ? [skip(current.username, `owned by rule ${marker.ruleId} of this connection, not ${owner.ruleId}`)] : [];
  if (current.status === 'pending deletion') {
    return desired ? [skip(current.username, 'is pending deletion in Duo (in the Trash); restore it in the Admin Panel to manage it again')] : [];
  }
  if (!desired) return planDeprovision({ current, owner, userActions, trigger: 'gone' });
  return planUpdate(desired, current, input);
}

function planCreate(desired: DesiredDuoUser, input: PlanUserInput): PlanOp[] {
  const { owner, userActions: a, storeId } = input;
  if (!a.create) return [skip(desired.username, 'not in Duo and userActions.create is off')];
  if (desired.status === 'disabled') return [skip(desired.username, 'disabled in the store, so not created in Duo')];
  const fields: Extract<PlanOp, { op: 'create' }>['fields'] = {
    username: desired.username,
    status: 'active',
    notes: withMarker(desired.notes ?? '', storeId === undefined ? owner : { ...owner, storeId }),
  };
  for (const f of TEXT_FIELDS) {
    const v = desired[f];
    if (v !== null) fields[f] = v;
  }
  const ops: PlanOp[] = [{ op: 'create', username: desired.username, fields }];
  if (desired.phone) ops.push(attachPhone(null, desired.username, desired.phone));
  return ops;
}

function planUpdate(desired: DesiredDuoUser, current: DuoUserView, input: PlanUserInput): PlanOp[] {
  const { owner, userActions: a } = input;
  if (!a.update) return [];
  const user = current.username;
  const changes: UserChanges = {};
  for (const f of TEXT_FIELDS) {
    if (!sameText(f, desired[f], current[f])) changes[f] = desired[f] ?? '';
  }
  const human = desired.notes === undefined ? stripMarker(current.notes) : desired.notes;
  // The store id already recorded stays when the caller names none, so a plan never flips it.
  const recorded = parseUserMarker(current.notes);
  const storeId = input.storeId ?? recorded?.storeId;
  // The administrator this user owns stays recorded: only the admin ops take or forget it.
  const adminId = recorded?.adminId;
  const notes = withMarker(human, { ...owner, ...(storeId === undefined ? {} : { storeId }), ...(adminId === undefined ? {} : { adminId }) });
  if (notes !== (current.notes ?? '')) changes.notes = notes;

  let disable = false;
  if (a.disable) {
    if (desired.status === 'disabled' && current.status !== 'disabled') disable = true;
    else if (desired.status === 'active' && current.status === 'disabled') changes.status = 'active';
  }

  const ops: PlanOp[] = [];
  if (Object.keys(changes).length > 0) ops.push({ op: 'update', userId: current.user_id, username: user, changes });
  if (disable) ops.push({ op: 'disable', userId: current.user_id, username: user });

  if (desired.phone !== undefined) {
    // A phone the person enrolled with the store's number already serves; ours are the only ones replaced.
    const wanted = desired.phone ? duoPhoneKey(desired.phone.number, desired.phone.extension) : null;
    if (desired.phone && !numberedPhones(current).some((p) => p.key === wanted)) ops.push(attachPhone(current.user_id, user, desired.phone));
    const stale = ownedPhones(current, owner.connectionId).filter((p) => p.key !== wanted);
    for (const p of stale) ops.push({ op: 'detachPhone', userId: current.user_id, username: user, phoneId: p.phone_id, number: p.number });
    ops.push(...phoneCleanup(current, stale, a.cleanupUnusedPhones));
  }
  return ops;
}

export interface PlanDeprovisionInput {
  /** A Duo user owned by `owner` (others plan nothing). */
  current: DuoUserView;
  owner: Owner;
  userActions: UserActions;
  /** `gone`: left the store or the rule's scope (needs `deprovision`); `ruleDeleted`: its rule was deleted. */
  trigger: 'gone' | 'ruleDeleted';
}

/**
 * Deprovisioning one owned user per `removeAction`. When a rule is deleted without
 * `deprovisionOnRuleDeletion`, its users are released instead: the marker is removed so no rule
 * manages them any more, and the user stays as it is.
 */
export function planDeprovision(input: PlanDeprovisionInput): PlanOp[] {
  const { current, owner, userActions: a, trigger } = input;
  // Never trust the caller's paging alone: only this rule's own users are deprovisioned or released.
  if (!isOwnedBy(current.notes, owner.connectionId, owner.ruleId)) return [];
  if (current.status === 'pending deletion') return [];
  const enabled = trigger === 'gone' ? a.deprovision : a.deprovisionOnRuleDeletion;
  if (!enabled) {
    if (trigger === 'gone') return [skip(current.username, 'left the store or the rule scope, and userActions.deprovision is off')];
    return [{ op: 'update', userId: current.user_id, username: current.username, changes: { notes: stripMarker(current.notes) } }];
  }
  switch (a.removeAction) {
    case 'delete':
      // Duo keeps a deleted user's phones; clean them up like any other phone left unused.
      return [{ op: 'delete', userId: current.user_id, username: current.username }, ...phoneCleanup(current, ownedPhones(current, owner.connectionId), a.cleanupUnusedPhones)];
    case 'disable':
      return current.status === 'disabled' ? [] : [{ op: 'disable', userId: current.user_id, username: current.username }];
    case 'trash':
      // Phones stay: a restore from Trash must give the user back whole.
      return [{ op: 'trash', userId: current.user_id, username: current.username }];
    case undefined:
      return [skip(current.username, 'userActions.removeAction is not set, so nothing is deprovisioned')];
  }
}

/**
 * Renaming an owned Duo user in place after its store user was renamed (same store id, new
 * username): one modify, so the user keeps its user_id, phones, tokens and group memberships.
 * Only a user owned by `owner` whose marker records `storeId` is renamed; anything else plans nothing.
 */
export function planRename(current: DuoUserView, newUsername: string, owner: Owner, storeId: string): PlanOp[] {
  const marker = parseUserMarker(current.notes);
  if (!marker || marker.connectionId !== owner.connectionId || marker.ruleId !== owner.ruleId || marker.storeId !== storeId) return [];
  if (current.status === 'pending deletion' || current.username === newUsername) return [];
  return [{ op: 'update', userId: current.user_id, username: current.username, changes: { username: newUsername } }];
}

export interface PlanAdoptionInput {
  desired: DesiredDuoUser;
  /**
   * The Duo user to take over: in `username` mode the user whose username (not an alias) is the
   * desired username; in `email` mode the one Duo user whose email is the store user's (it is
   * renamed to the desired username when its username differs).
   */
  current: DuoUserView;
  owner: Owner;
  mode: AdoptMode;
  storeId: string;
  userActions: UserActions;
  /** Whether a Duo administrator has this user's email (its linked user); unknown (absent) refuses. */
  isAdmin?: boolean;
  /** A rule that manages administrators may adopt their linked users, and their administrators with them. */
  managesAdministrators?: boolean;
  /** The administrator linked to this user (same email), when there is one. */
  adminId?: string;
}

export type Adoption = { adopt: true; ops: PlanOp[] } | { adopt: false; reason: string };

/**
 * Taking over an existing Duo user that no duo-sync marker claims (a rule's `adopt`). Refused, with
 * the reason, for: any marker (another connection's or rule's user, or ours), a user in the Trash,
 * a user Duo's own directory sync manages, an administrator's linked user (or one whose
 * administrator status is unknown) unless the rule manages administrators, and in `email` mode a
 * user whose email differs. An adoption is one update that appends our marker after the user's own
 * notes (renaming the user in `email` mode), followed by what the rule's mapping plans for an owned
 * user from then on (fields, status, the store's phone, administrator): planning the adopted user
 * again plans nothing. Notes, aliases, tokens and phones people enrolled stay as they are.
 */
export function planAdoption(input: PlanAdoptionInput): Adoption {
  const { desired, current, owner, mode, storeId } = input;
  if (mode === 'never') return { adopt: false, reason: `${SKIP_NOT_OWNED}, and the rule does not adopt existing users` };
  if (mode === 'username' && usernameKey(desired.username) !== usernameKey(current.username)) throw new RangeError(`planAdoption got store user ${desired.username} but Duo user ${current.username}`);
  const marker = parseUserMarker(current.notes);
  if (marker) {
    const whose = marker.connectionId !== owner.connectionId ? `connection ${marker.connectionId}` : `rule ${marker.ruleId} of this connection`;
    return { adopt: false, reason: `is managed by ${whose}; duo-sync never adopts another owner's user` };
  }
  if (current.status === 'pending deletion') return { adopt: false, reason: 'is pending deletion in Duo (in the Trash); restore it first' };
  if (current.directorySynced) return { adopt: false, reason: 'is managed by Duo’s own directory sync (its names and email come from that directory); duo-sync never adopts directory-synced users' };
  if (input.isAdmin !== false && !(input.isAdmin === true && input.managesAdministrators)) {
    return {
      adopt: false,
      reason: input.isAdmin
        ? 'is the linked user of a Duo administrator; administrators’ users are adopted only by a rule that manages administrators'
        : 'could not be checked for a linked Duo administrator, so it is not adopted',
    };
  }
  if (mode === 'email' && (clean(desired.email)?.toLowerCase() ?? null) !== (clean(current.email)?.toLowerCase() ?? null)) {
    return { adopt: false, reason: `has email ${current.email ?? '(none)'}, not the store's ${desired.email ?? '(none)'}, and the rule adopts by email` };
  }
  // The linked administrator is taken over with its user (`a=` in the marker): from then on the
  // administrator lifecycle (src/domain/admins.ts) updates its name, phone and role from the rule.
  const claim: UserChanges = { notes: withMarker(current.notes, { ...owner, storeId, ...(input.isAdmin && input.adminId ? { adminId: input.adminId } : {}) }) };
  if (current.username !== desired.username) claim.username = desired.username;
  const adopted: DuoUserView = { ...current, username: desired.username, notes: claim.notes ?? null };
  const then = planUser({ desired, current: adopted, owner, userActions: input.userActions, storeId });
  // One modify: the claim and the mapped fields together.
  const update = then.find((op): op is Extract<PlanOp, { op: 'update' }> => op.op === 'update');
  const first: PlanOp = { op: 'update', userId: current.user_id, username: current.username, changes: { ...claim, ...(update?.changes ?? {}) } };
  return { adopt: true, ops: [first, ...then.filter((op) => op !== update)] };
}

// ---- simulation ---------------------------------------------------------------------------------

/**
 * What Duo would look like after applying `ops` to `view` (phones and ids invented as `planned:*`).
 * Used by tests and dry runs to check that planning again yields no writes.
 */
export function applyPlanToView(view: DuoUserView | null, ops: readonly PlanOp[]): DuoUserView | null {
  let v: DuoUserView | null = view ? { ...view, phones: [...view.phones] } : null;
  for (const op of ops) {
    switch (op.op) {
      case 'create':
        v = {
          user_id: `planned:${op.username}`,
          username: op.fields.username,
          email: op.fields.email ?? null,
          realname: op.fields.realname ?? null,
          firstname: op.fields.firstname ?? null,
          lastname: op.fields.lastname ?? null,
          status: op.fields.status,
          notes: op.fields.notes,
          phones: [],
          isAdmin: false,
        };
        break;
      case 'update':
        if (v) v = { ...v, ...op.changes };
        break;
      case 'disable':
        if (v) v = { ...v, status: 'disabled' };
        break;
      case 'delete':
        v = null;
        break;
      case 'trash':
        if (v) v = { ...v, status: 'pending deletion' };
        break;
      case 'attachPhone':
        if (v) v = { ...v, phones: [...v.phones, { phone_id: `planned:${op.number}`, number: op.number, extension: op.extension ?? null }] };
        break;
      case 'detachPhone':
        if (v) v = { ...v, phones: v.phones.filter((p) => p.phone_id !== op.phoneId) };
        break;
      case 'createAdmin':
        if (v) v = { ...v, isAdmin: true };
        break;
      case 'deleteAdmin':
        if (v) v = { ...v, isAdmin: false };
        break;
      case 'modifyAdmin':
      case 'forgetAdmin':
      case 'refuseAdmin':
      case 'deletePhoneIfUnused':
      case 'addToGroup':
      case 'removeFromGroup':
      case 'skip':
        break;
    }
  }
  return v;
}
