/**
 * Outbound groups and memberships: which Duo groups a rule's `groups.include` should
 * produce, and which memberships a user should have in them. Pure and deterministic (workflow-safe);
 * activities read the store and Duo, call these planners and apply the result.
 *
 * Decisions:
 * - A rule owns a Duo group when the group's `desc` ends with the group marker naming the connection,
 *   the rule and the store group's externalId (src/domain/ownership.ts). Owned groups are matched by
 *   externalId, so a rename in the store is a rename in Duo (same group_id, memberships kept).
 * - A Duo group holding the wanted name that this rule does not own is never adopted, renamed or
 *   deleted: that store group fails with a message saying what to do.
 * - Memberships are added and removed only in groups this rule owns; a user's other Duo groups are
 *   left alone but count towards Duo's limit of 100 groups per user, which fails that user clearly
 *   before Duo answers with its opaque HTTP 500 / 50001.
 */
import { MAX_GROUP_EXTERNAL_ID_LENGTH, parseGroupMarker, withGroupMarker, type Owner } from './ownership';
import type { PlanOp } from './plan';

/** Duo's one-to-many limit: at most 100 groups per user (docs/duo.md). */
export const DUO_MAX_GROUPS_PER_USER = 100;
export { MAX_GROUPS_PER_RULE } from './connection';

export interface StoreGroupRef {
  externalId: string;
  name: string;
  description?: string;
}

export interface DuoGroupView {
  group_id: string;
  name: string;
  desc?: string | null;
}

/** Store group externalId → Duo group_id of the groups a rule provisions. Ids only: it travels in workflow inputs. */
export type GroupIdMap = Record<string, string>;

/** Failures name groups as `group:<name>` in the summary's object field. */
export function groupObjectName(name: string): string {
  return `group:${name}`;
}

const lower = (s: string): string => s.toLowerCase();

/** The store groups an include list names (by externalId, or by name case-insensitively), and the entries that matched nothing. */
export function resolveIncluded(storeGroups: readonly StoreGroupRef[], include: readonly string[]): { included: StoreGroupRef[]; missing: string[] } {
  const byId = new Map(storeGroups.map((g) => [g.externalId, g]));
  const byName = new Map<string, StoreGroupRef>();
  for (const g of storeGroups) if (!byName.has(lower(g.name))) byName.set(lower(g.name), g);
  const included = new Map<string, StoreGroupRef>();
  const missing: string[] = [];
  for (const ref of include) {
    const g = byId.get(ref) ?? byName.get(lower(ref));
    if (g) included.set(g.externalId, g);
    else missing.push(ref);
  }
  return { included: [...included.values()], missing };
}

/** Duo groups owned by this connection and rule, by store externalId (first wins; later duplicates are listed apart). */
export function ownedGroups(duoGroups: readonly DuoGroupView[], owner: Owner): { byExternalId: Map<string, DuoGroupView>; duplicates: DuoGroupView[] } {
  const byExternalId = new Map<string, DuoGroupView>();
  const duplicates: DuoGroupView[] = [];
  for (const g of duoGroups) {
    const marker = parseGroupMarker(g.desc);
    if (!marker || marker.connectionId !== owner.connectionId || marker.ruleId !== owner.ruleId) continue;
    if (byExternalId.has(marker.externalId)) duplicates.push(g);
    else byExternalId.set(marker.externalId, g);
  }
  return { byExternalId, duplicates };
}

/** The id map of the groups a rule already owns in Duo (used where the store's group list is not read). */
export function groupIdMapOf(duoGroups: readonly DuoGroupView[], owner: Owner): GroupIdMap {
  const map: GroupIdMap = {};
  for (const [externalId, g] of ownedGroups(duoGroups, owner).byExternalId) map[externalId] = g.group_id;
  return map;
}

export type GroupOp =
  | { op: 'create'; externalId: string; name: string; desc: string }
  /** Rename and/or re-describe an owned group. */
  | { op: 'update'; externalId: string; groupId: string; name?: string; desc?: string }
  | { op: 'delete'; externalId: string; groupId: string; name: string };

export interface GroupProblem {
  /** `group:<name>` */
  object: string;
  code: 'GroupNotOwned' | 'GroupNameTaken' | 'GroupNotFound' | 'GroupIdTooLong';
  message: string;
}

export interface PlanGroupsInput {
  owner: Owner;
  /** The rule's include list, for messages. */
  include: readonly string[];
  /** Store groups the include list resolved to. */
  included: readonly StoreGroupRef[];
  /** Include entries that matched no store group. */
  missing: readonly string[];
  /** Every Duo group of the account (ownership and name clashes are decided here). */
  duoGroups: readonly DuoGroupView[];
  /**
   * Delete owned groups that are no longer included. Only when the store's group list was read
   * completely: a failed or partial read must never look like "the group is gone".
   */
  deleteUnlisted: boolean;
}

export interface GroupPlan {
  /** Deletes first (they free names), then renames, then creates. */
  ops: GroupOp[];
  problems: GroupProblem[];
  /** Owned groups that stay (created ones are added by whoever applies the creates). */
  ids: GroupIdMap;
  unchanged: number;
}

export function planGroups(input: PlanGroupsInput): GroupPlan {
  const { owner } = input;
  const { byExternalId: owned, duplicates } = ownedGroups(input.duoGroups, owner);
  const wanted = new Set(input.included.map((g) => g.externalId));
  const deletes: Extract<GroupOp, { op: 'delete' }>[] = [];
  if (input.deleteUnlisted) {
    for (const [externalId, g] of owned) if (!wanted.has(externalId)) deletes.push({ op: 'delete', externalId, groupId: g.group_id, name: g.name });
    // Two groups claiming one store group (e.g. a marker copied by hand): keep the first, drop the rest.
    for (const g of duplicates) deletes.push({ op: 'delete', externalId: parseGroupMarker(g.desc)?.externalId ?? '', groupId: g.group_id, name: g.name });
  }
  const freed = new Set(deletes.map((d) => d.groupId));
  const holders = new Map<string, DuoGroupView>();
  for (const g of input.duoGroups) if (!freed.has(g.group_id)) holders.set(lower(g.name), g);

  const updates: GroupOp[] = [];
  const creates: GroupOp[] = [];
  const problems: GroupProblem[] = [];
  const ids: GroupIdMap = {};
  const claimed = new Set<string>();
  let unchanged = 0;
  const rule = `rule ${owner.ruleId}`;

  for (const ref of input.missing) {
    problems.push({
      object: groupObjectName(ref),
      code: 'GroupNotFound',
      message: `"${ref}" in ${rule}'s groups.include matches no group in the store (by id or name); fix the name or remove it from groups.include`,
    });
  }

  for (const g of input.included) {
    const object = groupObjectName(g.name);
    if (g.externalId.length > MAX_GROUP_EXTERNAL_ID_LENGTH) {
      problems.push({ object, code: 'GroupIdTooLong', message: `store group "${g.name}" has an id longer than ${MAX_GROUP_EXTERNAL_ID_LENGTH} characters, too long for the ownership marker; it is not provisioned` });
      continue;
    }
    const existing = owned.get(g.externalId);
    if (existing) ids[g.externalId] = existing.group_id;
    const key = lower(g.name);
    if (claimed.has(key)) {
      problems.push({ object, code: 'GroupNameTaken', message: `two store groups in ${rule}'s groups.include are named "${g.name}"; Duo group names are unique, so only the first is provisioned` });
      continue;
    }
    claimed.add(key);
    const holder = holders.get(key);
    if (holder && holder.group_id !== existing?.group_id) {
      problems.push(nameClash(g.name, holder, owner));
      continue;
    }
    const desc = withGroupMarker(g.description, { ...owner, externalId: g.externalId });
    if (!existing) {
      creates.push({ op: 'create', externalId: g.externalId, name: g.name, desc });
      continue;
    }
    const rename = existing.name !== g.name;
    const redescribe = (existing.desc ?? '') !== desc;
    if (!rename && !redescribe) {
      unchanged += 1;
      continue;
    }
    updates.push({ op: 'update', externalId: g.externalId, groupId: existing.group_id, ...(rename ? { name: g.name } : {}), ...(redescribe ? { desc } : {}) });
  }
  return { ops: [...deletes, ...updates, ...creates], problems, ids, unchanged };
}

function nameClash(name: string, holder: DuoGroupView, owner: Owner): GroupProblem {
  const marker = parseGroupMarker(holder.desc);
  if (marker && marker.connectionId === owner.connectionId) {
    return {
      object: groupObjectName(name),
      code: 'GroupNameTaken',
      message: `a Duo group named "${holder.name}" is provisioned by rule ${marker.ruleId} of this connection; a store group can be provisioned by one rule only: remove it from one rule's groups.include`,
    };
  }
  return {
    object: groupObjectName(name),
    code: 'GroupNotOwned',
    message: `a Duo group named "${holder.name}" exists and is not owned by duo-sync connection ${owner.connectionId} (rule ${owner.ruleId}); rename or delete it in Duo, or remove "${name}" from rule ${owner.ruleId}'s groups.include`,
  };
}

// ---- memberships ----------------------------------------------------------------------------------

export interface PlanMembershipsInput {
  owner: Owner;
  username: string;
  /** The Duo user's id; null when the user is created by the same plan. */
  userId: string | null;
  /** externalIds of the store groups the user is a direct member of. */
  storeGroupIds: readonly string[];
  /** The rule's groups in Duo. */
  groupIds: GroupIdMap;
  /** The Duo groups the user is in now (`groups` of the Duo user object). */
  current: readonly DuoGroupView[];
}

export interface MembershipPlan {
  ops: PlanOp[];
  /** Set when the user would exceed Duo's group limit: no groups are added then (removals still apply). */
  failure?: { code: 'GroupLimit'; message: string };
}

export function planMemberships(input: PlanMembershipsInput): MembershipPlan {
  const { owner, username } = input;
  const nameOf = new Map(input.current.map((g) => [g.group_id, g.name]));
  const managed = new Set(Object.values(input.groupIds));
  const isManaged = (g: DuoGroupView): boolean => {
    if (managed.has(g.group_id)) return true;
    const marker = parseGroupMarker(g.desc);
    return marker !== null && marker.connectionId === owner.connectionId && marker.ruleId === owner.ruleId;
  };
  const desired = new Map<string, string>();
  for (const externalId of input.storeGroupIds) {
    const groupId = input.groupIds[externalId];
    if (groupId !== undefined) desired.set(groupId, externalId);
  }
  const currentIds = new Set(input.current.map((g) => g.group_id));
  const ops: PlanOp[] = [];
  if (input.userId !== null) {
    for (const g of input.current) {
      if (isManaged(g) && !desired.has(g.group_id)) ops.push({ op: 'removeFromGroup', userId: input.userId, username, groupId: g.group_id, groupName: g.name });
    }
  }
  const others = input.current.filter((g) => !isManaged(g)).length;
  const total = others + desired.size;
  if (total > DUO_MAX_GROUPS_PER_USER) {
    return {
      ops,
      failure: {
        code: 'GroupLimit',
        message: `${username} would be in ${total} Duo groups (${desired.size} from rule ${owner.ruleId}, ${others} others); Duo allows at most ${DUO_MAX_GROUPS_PER_USER} groups per user, so no groups were added: remove the user from groups in the store or Duo, or narrow rule ${owner.ruleId}'s groups.include`,
      },
    };
  }
  for (const [groupId, externalId] of desired) {
    if (!currentIds.has(groupId)) ops.push({ op: 'addToGroup', userId: input.userId, username, groupId, groupName: nameOf.get(groupId) ?? externalId });
  }
  return { ops };
}

// ---- nested groups --------------------------------------------------------------------------------

/**
 * The groups a member of `direct` is in once nested groups are flattened: `direct` and every group
 * that contains one of them, transitively. `parents` maps a group's externalId to the groups it is
 * a direct member of. Each group is visited once, so cycles (A in B, B in A) end.
 */
export function flattenGroupIds(direct: readonly string[], parents: ReadonlyMap<string, readonly string[]>): string[] {
  const seen = new Set<string>();
  const queue = [...direct];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const parent of parents.get(id) ?? []) if (!seen.has(parent)) queue.push(parent);
  }
  return [...seen];
}
