/**
 * The administrator lifecycle of one store user: which Duo role it should have, and the operations
 * that bring the Duo administrator duo-sync created for it in line (docs/ownership.md#administrators).
 *
 * Ownership: Duo administrators have no notes, so the record of "duo-sync created this
 * administrator" is kept on the Duo *user* duo-sync provisions for the same store user: its marker
 * carries `a=<admin_id>` (src/domain/ownership.ts). Only that administrator is ever changed,
 * disabled or deleted; an administrator with the same email that no marker names is someone
 * else's and is never touched. A lost record (notes edited, user deleted by hand) therefore means
 * "never touch", never "take over".
 *
 * Decisions:
 * - Role: the first of the rule's `administrators.groups` (config order) whose store group the user
 *   is a direct member of; otherwise the rule's `administrators.role` when the mapped `userType` is
 *   `admin`; otherwise the user is not an administrator.
 * - Created only with `userActions.create`, for a store user that is enabled, with name, email,
 *   phone (when the store has one) and the role; Duo takes the role explicitly (without one it makes an Owner).
 * - Updated (`userActions.update`): name, role, and the phone when the store gives one (a phone is
 *   never cleared: it is how an administrator logs in). Duo's API cannot change an administrator's email.
 * - Store user disabled (`userActions.disable`): the administrator is disabled; re-enabled when the
 *   store user is. Duo refuses to disable an Owner: that is this user's failure (`OwnerNotDisabled`),
 *   planned before anything is sent, and nothing else of the user changes in that run.
 * - No longer an administrator in the store (userType, or left every administrator group), or the
 *   user deprovisioned: with `userActions.deprovision` (or `deprovisionOnRuleDeletion` for a deleted
 *   rule), per `removeAction`: `delete` deletes the administrator; `disable` and `trash` disable it
 *   (Duo has no Trash for administrators; disabling is the reversible removal).
 * - Released with its user (a deleted rule without `deprovisionOnRuleDeletion`): the marker goes,
 *   and with it the record; the administrator itself is not touched.
 * - Recorded but gone from Duo (deleted by hand): the record is forgotten; created again only if the
 *   store still makes the user an administrator.
 */
import { z } from 'zod';
import { AdminRoleSchema, type AdminGroup, type AdminRole, type RuleAdministrators, type UserActions } from './connection';

/** A Duo administrator as planning sees it. */
export const AdminViewSchema = z.object({
  admin_id: z.string().min(1),
  email: z.string(),
  name: z.string().nullable(),
  phone: z.string().nullable(),
  role: z.string(),
  /** `Active`, `Disabled`, or a state Duo adds (left alone). */
  status: z.string(),
});
export type AdminView = z.infer<typeof AdminViewSchema>;

export const AdminChangesSchema = z
  .object({ name: z.string().min(1), phone: z.string().min(1), role: AdminRoleSchema, status: z.enum(['Active', 'Disabled']) })
  .partial();
export type AdminChanges = z.infer<typeof AdminChangesSchema>;

const username = z.string().min(1);
const adminId = z.string().min(1);

/** Administrator operations; they join the user's plan (src/domain/plan.ts) and are applied in order. */
export const AdminOpSchemas = [
  /** Create the administrator, then record its id on the user's marker (the user created earlier in the plan when `userId` is null). */
  z.object({ op: z.literal('createAdmin'), userId: z.string().min(1).nullable(), username, email: z.string().min(1), name: z.string().min(1), phone: z.string().min(1).optional(), role: AdminRoleSchema }),
  /** `from`: the values replaced, for the summary and dry runs (role changes are privileged). */
  z.object({ op: z.literal('modifyAdmin'), adminId, username, changes: AdminChangesSchema, from: z.object({ role: z.string(), status: z.string() }) }),
  /** Delete the administrator; `userId`: the user whose record is then forgotten (null when the user is deleted too). */
  z.object({ op: z.literal('deleteAdmin'), adminId, userId: z.string().min(1).nullable(), username }),
  /** Forget the record (the administrator is gone from Duo, or no longer ours to manage); Duo's administrators are not touched. */
  z.object({ op: z.literal('forgetAdmin'), adminId, userId: z.string().min(1), username }),
  /** A change Duo would refuse (disabling an Owner): the user's failure, reported without calling Duo. */
  z.object({ op: z.literal('refuseAdmin'), adminId: adminId.optional(), username, code: z.string().min(1), reason: z.string().min(1) }),
] as const;
export type AdminOp = z.infer<(typeof AdminOpSchemas)[number]>;

/**
 * Recorded as `a=pending` just before an administrator is created: if the worker dies before the
 * new id is recorded, the retry finds this intent and the administrator with its email, and takes
 * that one as its own instead of reporting someone else's. (Duo's ids start with `DE`, so no id reads `pending`.)
 */
export const ADMIN_INTENT = 'pending';

/** A rule's administrator groups resolved against the store: the store group ids, in config order. */
export interface ResolvedAdminGroup extends AdminGroup {
  externalId: string;
}

/** The role the rule gives a store user, or null when it is not an administrator (see the module comment). */
export function desiredAdminRole(admins: RuleAdministrators | undefined, userType: 'user' | 'admin', memberOf: readonly string[], groups: readonly ResolvedAdminGroup[]): AdminRole | null {
  if (!admins) return null;
  const member = new Set(memberOf);
  const byGroup = groups.find((g) => member.has(g.externalId));
  if (byGroup) return byGroup.role;
  return userType === 'admin' && admins.role !== undefined ? admins.role : null;
}

export interface DesiredAdmin {
  email: string;
  name: string;
  /** The store's phone (E.164); null or absent leaves the administrator's phone as it is. */
  phone?: string | null;
  role: AdminRole;
}

export interface PlanAdminInput {
  username: string;
  /** The Duo user carrying the record; null when the plan creates it. */
  userId: string | null;
  /** null: the store does not make this user an administrator (any more). */
  desired: DesiredAdmin | null;
  storeDisabled: boolean;
  /** `a=` on the user's marker. */
  recordedId?: string | undefined;
  /** The administrator with `recordedId`; null when none is recorded or Duo has none with that id. */
  owned: AdminView | null;
  /** An administrator with the desired email that no marker names (looked up only before a create). */
  holder?: AdminView | null | undefined;
  userActions: UserActions;
}

function disableOrRefuse(admin: AdminView, user: string, why: string): AdminOp[] {
  if (admin.status === 'Disabled') return [];
  if (admin.role === 'Owner') {
    return [{
      op: 'refuseAdmin',
      adminId: admin.admin_id,
      username: user,
      code: 'OwnerNotDisabled',
      reason: `administrator ${admin.email} (${admin.admin_id}) should be disabled (${why}), but it is an Owner and Duo refuses to disable Owners: change its role in the Duo Admin Panel (or delete it there); the next sync then disables it. Nothing else of ${user} was changed`,
    }];
  }
  return [{ op: 'modifyAdmin', adminId: admin.admin_id, username: user, changes: { status: 'Disabled' }, from: { role: admin.role, status: admin.status } }];
}

/** Removing the administrator of a user per `removeAction` (it left the store's administrators, or the user is deprovisioned). */
export function planAdminRemoval(admin: AdminView, user: string, userId: string | null, removeAction: UserActions['removeAction'], why: string): AdminOp[] {
  switch (removeAction) {
    case 'delete':
      return [{ op: 'deleteAdmin', adminId: admin.admin_id, userId, username: user }];
    case 'disable':
    case 'trash':
      return disableOrRefuse(admin, user, why);
    case undefined:
      return [];
  }
}

/** The operations that bring the administrator of one store user in line (nothing for users that are not and were not administrators). */
export function planAdmin(input: PlanAdminInput): AdminOp[] {
  const { username: user, userId, desired, owned, userActions: a } = input;
  const ops: AdminOp[] = [];
  const intent = input.recordedId === ADMIN_INTENT;
  if (input.recordedId !== undefined && !owned && !intent) {
    // Deleted in Duo by someone: forget it, and (below) create anew only if the store still wants one.
    if (userId !== null) ops.push({ op: 'forgetAdmin', adminId: input.recordedId, userId, username: user });
  }
  if (!owned) {
    if (!desired || input.storeDisabled || !a.create) {
      // An unfinished create the store no longer wants: forget the intent, touch no administrator.
      return intent && userId !== null ? [{ op: 'forgetAdmin', adminId: ADMIN_INTENT, userId, username: user }] : ops;
    }
    // With the intent recorded, an administrator with this email is most likely the one an interrupted create made: the create takes it over.
    if (input.holder && !intent) return [...ops, { op: 'refuseAdmin', adminId: input.holder.admin_id, username: user, code: 'AdminConflict', reason: adminHolderReason(input.holder, user) }];
    return [...ops, { op: 'createAdmin', userId, username: user, email: desired.email, name: desired.name, ...(desired.phone ? { phone: desired.phone } : {}), role: desired.role }];
  }
  if (!desired) {
    if (!a.deprovision) return [];
    return planAdminRemoval(owned, user, userId, a.removeAction, 'the store no longer makes this user an administrator');
  }
  if (input.storeDisabled) return a.update && a.disable ? disableOrRefuse(owned, user, 'its store user is disabled') : [];
  if (!a.update) return [];
  const changes: AdminChanges = {};
  if (desired.name !== (owned.name ?? '')) changes.name = desired.name;
  if (desired.phone && desired.phone !== (owned.phone ?? '')) changes.phone = desired.phone;
  if (desired.role !== owned.role) changes.role = desired.role;
  if (a.disable && owned.status === 'Disabled') changes.status = 'Active';
  return Object.keys(changes).length > 0 ? [{ op: 'modifyAdmin', adminId: owned.admin_id, username: user, changes, from: { role: owned.role, status: owned.status } }] : [];
}

/**
 * Whether an admin op goes after the user's own ops: a create needs the user (created first), and
 * a conflict with someone else's administrator must not hold up the user's changes. Every other
 * admin op goes first, so a refused Owner leaves the whole user as it was.
 */
export function adminOpGoesLast(op: AdminOp): boolean {
  return op.op === 'createAdmin' || (op.op === 'refuseAdmin' && op.code === 'AdminConflict');
}

/** Why a store administrator got no Duo administrator: one with its email exists that duo-sync did not create. */
function adminHolderReason(holder: AdminView, user: string): string {
  return `a Duo administrator with email ${holder.email} (${holder.admin_id}, ${holder.role}) exists that duo-sync did not create, so none was created for ${user} and that one is left as it is; delete it in Duo to let this rule manage one, or take ${user} out of the rule's administrators`;
}
