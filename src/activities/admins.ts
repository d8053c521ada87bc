/**
 * Reading what administrator planning needs (src/domain/admins.ts): a rule's administrator groups
 * resolved against the store, and the administrator recorded on a user's marker. Costs nothing for
 * users that are not and were not administrators; one GET per recorded administrator; one pass
 * over Duo's administrators (few per account) only before creating one.
 */
import { isDuoError, type DuoAdmin, type DuoClient, type DuoUser } from '../duo';
import type { Rule, UserActions } from '../domain/connection';
import { ADMIN_INTENT, desiredAdminRole, planAdmin, planAdminRemoval, type AdminOp, type AdminView, type ResolvedAdminGroup } from '../domain/admins';
import { resolveIncluded } from '../domain/groups';
import type { DesiredDuoUser } from '../domain/mapping';
import { parseUserMarker } from '../domain/ownership';
import type { IdentityStore, StoreUser } from '../stores';
import { withTransientRetry } from './duo-ops';
import { listAllStoreGroups } from './groups';

export interface AdminGroupsResolution {
  groups: ResolvedAdminGroup[];
  /** Entries of `administrators.groups` that name no store group, with why. */
  problems: string[];
}

/** The rule's administrator groups as store group ids, in config order (one read of the store's groups; none without groups). */
export async function resolveAdminGroups(store: IdentityStore, rule: Rule): Promise<AdminGroupsResolution> {
  const wanted = rule.administrators?.groups ?? [];
  if (wanted.length === 0) return { groups: [], problems: [] };
  const storeGroups = await listAllStoreGroups(store);
  const groups: ResolvedAdminGroup[] = [];
  const problems: string[] = [];
  for (const entry of wanted) {
    const found = resolveIncluded(storeGroups, [entry.group]).included[0];
    if (found) groups.push({ ...entry, externalId: found.externalId });
    else problems.push(`"${entry.group}" in rule ${rule.id}'s administrators.groups matches no group in the store (by id or name), so nobody gets its role ${entry.role} from it; fix the name or remove it`);
  }
  return { groups, problems };
}

function toAdminView(admin: DuoAdmin): AdminView {
  return { admin_id: admin.admin_id, email: admin.email, name: admin.name ?? null, phone: admin.phone ?? null, role: admin.role, status: admin.status };
}

async function adminIfExists(duo: DuoClient, adminId: string): Promise<AdminView | null> {
  try {
    return toAdminView(await withTransientRetry(() => duo.getAdmin(adminId)));
  } catch (err) {
    if (isDuoError(err, 'notFound')) return null;
    throw err;
  }
}

export interface AdminOpsInput {
  rule: Rule;
  groups: readonly ResolvedAdminGroup[];
  storeUser: StoreUser;
  desired: DesiredDuoUser;
  /** The Duo user (null when the plan creates it). */
  current: DuoUser | null;
  userActions: UserActions;
}

/** The administrator ops of one store user whose Duo user this rule owns (or creates). */
export async function adminOpsFor(duo: DuoClient, input: AdminOpsInput): Promise<AdminOp[]> {
  const { desired, current } = input;
  const role = desiredAdminRole(input.rule.administrators, desired.userType, input.storeUser.groupIds, input.groups);
  const recordedId = current ? parseUserMarker(current.notes)?.adminId : undefined;
  if (role === null && recordedId === undefined) return [];
  if (role !== null && desired.email === null) {
    return [{ op: 'refuseAdmin', username: desired.username, code: 'AdminWithoutEmail', reason: `${desired.username} should be a Duo administrator (${role}), but the store gives no email address and Duo needs one for an administrator; add an email in the store` }];
  }
  const owned = recordedId === undefined || recordedId === ADMIN_INTENT ? null : await adminIfExists(duo, recordedId);
  const wanted = role === null || desired.email === null ? null : { email: desired.email, name: desired.realname ?? desired.username, phone: desired.phone?.number ?? null, role };
  const creating = wanted !== null && owned === null && desired.status === 'active' && input.userActions.create;
  const holder = creating ? await withTransientRetry(() => duo.findAdminByEmail(wanted.email)) : undefined;
  return planAdmin({
    username: desired.username,
    userId: current?.user_id ?? null,
    desired: wanted,
    storeDisabled: desired.status === 'disabled',
    recordedId,
    owned,
    holder: holder ? toAdminView(holder) : null,
    userActions: input.userActions,
  });
}

/** The administrator ops that go with deprovisioning a Duo user (its `delete`, `disable` or `trash`): nothing without a recorded administrator. */
export async function adminOpsForDeprovision(duo: DuoClient, user: DuoUser, removeAction: UserActions['removeAction'], why: string): Promise<AdminOp[]> {
  const recordedId = parseUserMarker(user.notes)?.adminId;
  if (recordedId === undefined) return [];
  const owned = recordedId === ADMIN_INTENT ? null : await adminIfExists(duo, recordedId);
  if (!owned) return [];
  // A deleted user takes its record with it; a disabled or trashed one keeps it for a re-enable or a restore.
  return planAdminRemoval(owned, user.username, removeAction === 'delete' ? null : user.user_id, removeAction, why);
}
