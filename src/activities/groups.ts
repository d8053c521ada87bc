/**
 * Outbound group activities: a rule's groups pass (create/rename/delete, returns the small
 * externalId → group_id map user pages use for memberships), one group's reconcile after a
 * `groupChanged`/`groupDeleted` signal, one page of that group's memberships, and releasing or
 * deleting a deleted rule's groups. Planning is src/domain/groups.ts; only owned groups are written.
 */
import type { DuoClient, DuoGroup, DuoUser } from '../duo';
import { isDuoError } from '../duo';
import { outboundRules, type ConnectionConfig, type Rule } from '../domain/connection';
import {
  DUO_MAX_GROUPS_PER_USER,
  groupObjectName,
  ownedGroups,
  planGroups,
  resolveIncluded,
  type GroupIdMap,
  type GroupOp,
  type GroupPlan,
  type StoreGroupRef,
} from '../domain/groups';
import { mapStoreUser, usernameKey } from '../domain/mapping';
import { isOwnedBy, parseGroupMarker, parseUserMarker, stripGroupMarker, type Owner } from '../domain/ownership';
import { emptySummary, mergeSummary, recordFailure, recordGroupCounts, recordOutcome, type RunSummary } from '../domain/summary';
import { isStoreError, type IdentityStore } from '../stores';
import { applyPlans, type PlanToApply } from './bulk-ops';
import { ignoreNotFound, isPageLevelError, lookUpUsersByUsername, withTransientRetry } from './duo-ops';
import { beat } from './heartbeat';
import type { ConnectionResources } from './resources';
import { asActivityFailure, outboundRule } from './activity-failures';

export interface SyncRuleGroupsInput {
  connectionId: string;
  config: ConnectionConfig;
  ruleId: string;
  dryRun: boolean;
}

export interface SyncRuleGroupsResult {
  /**
   * The rule's groups in Duo (ids only); `planned:<externalId>` for groups a dry run would create.
   * null when the store's groups could not be trusted: pages then leave memberships alone.
   */
  groupIds: GroupIdMap | null;
  summary: RunSummary;
  /** Owned groups the rule no longer wants: not deleted here, they join the run's deletion plan (and its guard). */
  plannedDeletions: { id: string; label: string }[];
  /** Groups this rule owns in Duo: the guard's denominator for group deletions. */
  ownedGroups: number;
}

/** A group in a run's deletion plan: `group:<ruleId>:<group_id>`. */
export function groupCandidateId(ruleId: string, groupId: string): string {
  return `group:${ruleId}:${groupId}`;
}

export function parseGroupCandidateId(id: string): { ruleId: string; groupId: string } | null {
  const m = /^group:([^:]+):(.+)$/.exec(id);
  return m ? { ruleId: m[1] as string, groupId: m[2] as string } : null;
}

export interface ReconcileGroupInput {
  connectionId: string;
  config: ConnectionConfig;
  /** A store group's externalId or name. */
  group: string;
  ruleId?: string;
  dryRun: boolean;
}

export interface GroupTarget {
  ruleId: string;
  externalId: string;
  groupId: string;
}

export interface GroupMembersPageInput extends GroupTarget {
  connectionId: string;
  config: ConnectionConfig;
  /** `add`: page through the store group's members; `remove`: page through the Duo group's members. */
  phase: 'add' | 'remove';
  cursor: string | null;
  offset: number;
  pageSize: number;
  dryRun: boolean;
}

export interface GroupMembersPageResult {
  nextCursor: string | null;
  nextOffset: number | null;
  summary: RunSummary;
}

/** Every Duo group of the account, a page (100) per call: group lists are small next to user lists. */
export async function listAllDuoGroups(duo: DuoClient): Promise<DuoGroup[]> {
  const all: DuoGroup[] = [];
  for (let offset: number | undefined = 0; offset !== undefined; ) {
    const at: number = offset;
    const page = await withTransientRetry(() => duo.listGroups({ offset: at, limit: 100 }));
    all.push(...page.items);
    offset = page.nextOffset;
    beat();
  }
  return all;
}

async function listAllStoreGroups(store: IdentityStore): Promise<StoreGroupRef[]> {
  const all: StoreGroupRef[] = [];
  for (let cursor: string | null = null, first = true; first || cursor !== null; first = false) {
    const page = await store.listGroups({ cursor, pageSize: 500 });
    all.push(...page.items);
    cursor = page.nextCursor;
    beat();
  }
  return all;
}

const EMPTY_GROUP_READ =
  'the store returned no groups at all, so no Duo group was deleted and no membership changed (an empty read never means "every group left"); check the store\'s groups (e.g. groupsDn) and sync again';

function groupFailure(summary: RunSummary, object: string, operation: string, code: string, message: string): RunSummary {
  return recordFailure(summary, { username: object, operation, code, message });
}

/**
 * Applies a group plan. A create that meets "name taken" adopts the group only when it carries this
 * rule's marker for the same store group (an earlier attempt created it before the worker died).
 */
async function applyGroupPlan(duo: DuoClient, plan: GroupPlan, owner: Owner, dryRun: boolean): Promise<{ groupIds: GroupIdMap; summary: RunSummary }> {
  let summary = recordGroupCounts(emptySummary(), { unchanged: plan.unchanged });
  for (const p of plan.problems) summary = groupFailure(summary, p.object, 'group', p.code, p.message);
  const groupIds: GroupIdMap = { ...plan.ids };
  for (const op of plan.ops) {
    if (dryRun) {
      if (op.op === 'create') groupIds[op.externalId] = `planned:${op.externalId}`;
      summary = recordGroupCounts(summary, countOf(op));
      continue;
    }
    try {
      await withTransientRetry(() => applyGroupOp(duo, op, owner, groupIds));
      summary = recordGroupCounts(summary, countOf(op));
    } catch (err) {
      if (isPageLevelError(err)) throw err;
      if (op.op === 'delete') groupIds[op.externalId] = op.groupId;
      summary = groupFailure(summary, groupObjectName(op.name ?? op.externalId), `${op.op}Group`, isDuoError(err) ? String(err.code ?? err.kind) : 'Error', err instanceof Error ? err.message : String(err));
    }
    beat();
  }
  return { groupIds, summary };
}

function countOf(op: GroupOp): { created: number } | { updated: number } | { deleted: number } {
  return op.op === 'create' ? { created: 1 } : op.op === 'update' ? { updated: 1 } : { deleted: 1 };
}

async function applyGroupOp(duo: DuoClient, op: GroupOp, owner: Owner, groupIds: GroupIdMap): Promise<void> {
  switch (op.op) {
    case 'create': {
      try {
        groupIds[op.externalId] = (await duo.createGroup({ name: op.name, desc: op.desc })).group_id;
      } catch (err) {
        if (!isDuoError(err, 'conflict') && !isDuoError(err, 'invalidRequest')) throw err;
        const existing = (await listAllDuoGroups(duo)).find((g) => g.name.toLowerCase() === op.name.toLowerCase());
        const marker = existing ? parseGroupMarker(existing.desc) : null;
        if (!existing || !marker || marker.connectionId !== owner.connectionId || marker.ruleId !== owner.ruleId || marker.externalId !== op.externalId) throw err;
        groupIds[op.externalId] = existing.group_id;
      }
      return;
    }
    case 'update':
      await duo.modifyGroup(op.groupId, { ...(op.name !== undefined ? { name: op.name } : {}), ...(op.desc !== undefined ? { desc: op.desc } : {}) });
      return;
    case 'delete':
      await ignoreNotFound(() => duo.deleteGroup(op.groupId));
      return;
  }
}

function rulesWithGroups(config: ConnectionConfig, ruleId: string | undefined): (Rule & { groups: { include: string[] } })[] {
  const rules = ruleId ? [outboundRule(config, ruleId)] : outboundRules(config);
  return rules.filter((r): r is Rule & { groups: { include: string[] } } => r.groups !== undefined);
}

const ownerOf = (config: ConnectionConfig, ruleId: string): Owner => ({ connectionId: config.connectionId, ruleId });

export function createGroupActivities(resources: ConnectionResources) {
  /**
   * What planning one rule's groups needs: the store's groups and Duo's, read completely. A store
   * read that throws fails the activity before anything is planned, so nothing is deleted on a failed read.
   */
  async function readRuleGroups(input: SyncRuleGroupsInput) {
    const rule = outboundRule(input.config, input.ruleId);
    const include = rule.groups?.include ?? [];
    const store = await resources.store(input.config);
    const duo = await resources.duo(input.config);
    const storeGroups = await asActivityFailure(`reading groups from ${store.location}`, () => listAllStoreGroups(store));
    const duoGroups = await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo));
    const { included, missing } = resolveIncluded(storeGroups, include);
    return { rule, owner: ownerOf(input.config, rule.id), include, duo, duoGroups, included, missing, emptyRead: storeGroups.length === 0 && include.length > 0 };
  }

  return {
    /** The groups pass of one rule: reads all store groups and Duo groups, creates/renames/deletes owned ones. */
    async syncRuleGroups(input: SyncRuleGroupsInput): Promise<SyncRuleGroupsResult> {
      const { rule, owner, include, duo, duoGroups, included, missing, emptyRead } = await readRuleGroups(input);
      // Deletions are planned here and applied by the run after its deletion guard; creates and
      // renames are planned as if nothing were deleted, so a name a doomed group holds waits a run.
      const deletions = emptyRead ? [] : planGroups({ owner, include, included, missing, duoGroups, deleteUnlisted: true }).ops.filter((op) => op.op === 'delete');
      const plan = planGroups({ owner, include, included, missing, duoGroups, deleteUnlisted: false });
      const applied = await asActivityFailure(`provisioning groups of rule ${rule.id}`, () => applyGroupPlan(duo, plan, owner, input.dryRun));
      const owned = ownedGroups(duoGroups, owner);
      const planned = { plannedDeletions: deletions.map((d) => ({ id: groupCandidateId(rule.id, d.groupId), label: `group ${d.name}` })), ownedGroups: owned.byExternalId.size + owned.duplicates.length };
      if (!emptyRead || owned.byExternalId.size === 0) return { ...applied, ...planned };
      return { groupIds: null, summary: groupFailure(applied.summary, `rule:${rule.id}`, 'syncGroups', 'EmptyGroupRead', EMPTY_GROUP_READ), ...planned };
    },

    /**
     * Deletes approved groups of one rule, each only if the rule's groups, planned again now from a
     * complete store read, still say it goes; anything else is skipped.
     */
    async applyGroupDeletions(input: SyncRuleGroupsInput & { groupIds: string[] }): Promise<RunSummary> {
      const { rule, owner, include, duo, duoGroups, included, missing, emptyRead } = await readRuleGroups(input);
      const approved = new Set(input.groupIds);
      const still = emptyRead ? [] : planGroups({ owner, include, included, missing, duoGroups, deleteUnlisted: true }).ops.filter((op) => op.op === 'delete' && approved.has(op.groupId));
      const applied = await asActivityFailure(`deleting groups of rule ${rule.id}`, () => applyGroupPlan(duo, { ops: still, problems: [], ids: {}, unchanged: 0 }, owner, input.dryRun));
      return recordOutcome(applied.summary, 'skipped', input.groupIds.length - still.length);
    },

    /** One group (by store externalId or name) in every rule that includes or owns it; returns the groups whose members to sync. */
    async reconcileGroup(input: ReconcileGroupInput): Promise<{ targets: GroupTarget[]; summary: RunSummary }> {
      const rules = rulesWithGroups(input.config, input.ruleId);
      if (rules.length === 0) return { targets: [], summary: emptySummary() };
      const store = await resources.store(input.config);
      const duo = await resources.duo(input.config);
      const storeGroups = await asActivityFailure(`reading groups from ${store.location}`, () => listAllStoreGroups(store));
      const duoGroups = await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo));
      const ref = input.group;
      const matchesRef = (externalId: string, name: string): boolean => externalId === ref || name.toLowerCase() === ref.toLowerCase();
      const targets: GroupTarget[] = [];
      let summary = emptySummary();
      for (const rule of rules) {
        const owner = ownerOf(input.config, rule.id);
        const { included } = resolveIncluded(storeGroups, rule.groups.include);
        const { byExternalId } = ownedGroups(duoGroups, owner);
        const relevant = new Set<string>();
        for (const g of storeGroups) if (matchesRef(g.externalId, g.name)) relevant.add(g.externalId);
        for (const [externalId, g] of byExternalId) if (matchesRef(externalId, g.name)) relevant.add(externalId);
        if (relevant.size === 0) continue;
        // Other owned groups of the rule are hidden from the planner so this run neither deletes nor renames them.
        const visible = duoGroups.filter((g) => {
          const marker = parseGroupMarker(g.desc);
          const ownedByRule = marker !== null && marker.connectionId === owner.connectionId && marker.ruleId === owner.ruleId;
          return !ownedByRule || relevant.has(marker.externalId);
        });
        const plan = planGroups({
          owner,
          include: rule.groups.include,
          included: included.filter((g) => relevant.has(g.externalId)),
          missing: [],
          duoGroups: visible,
          // An empty read of the store's groups never means "every group left". 
          deleteUnlisted: storeGroups.length > 0,
        });
        const applied = await asActivityFailure(`provisioning group ${ref} of rule ${rule.id}`, () => applyGroupPlan(duo, plan, owner, input.dryRun));
        summary = mergeSummary(summary, applied.summary);
        for (const externalId of relevant) {
          const groupId = applied.groupIds[externalId];
          if (groupId !== undefined && included.some((g) => g.externalId === externalId)) targets.push({ ruleId: rule.id, externalId, groupId });
        }
      }
      return { targets, summary };
    },

    /**
     * One page of one group's memberships. `add`: the store group's members that this rule owns in
     * Duo are added; `remove`: owned Duo members no longer in the store group are removed. Users the
     * rule does not own are left alone.
     */
    async syncGroupMembersPage(input: GroupMembersPageInput): Promise<GroupMembersPageResult> {
      const rule = outboundRule(input.config, input.ruleId);
      const owner = ownerOf(input.config, rule.id);
      const store = await resources.store(input.config);
      const duo = await resources.duo(input.config);
      const owned = (u: DuoUser): boolean => isOwnedBy(u.notes, owner.connectionId, owner.ruleId);
      let summary = emptySummary();
      const dryRun = input.dryRun || input.groupId.startsWith('planned:');

      if (input.phase === 'add') {
        const page = await asActivityFailure(`reading members of group ${input.externalId} from ${store.location}`, async () => {
          try {
            return await store.listGroupMembers(input.externalId, { cursor: input.cursor, pageSize: input.pageSize });
          } catch (err) {
            // The group left the store since the group step: nothing to add.
            if (isStoreError(err) && err.kind === 'not_found') return { items: [], nextCursor: null };
            throw err;
          }
        });
        // Members are looked up under their Duo usernames (as the rule maps them); members that do not map are the user passes' failures.
        const members = page.items.flatMap((u) => {
          const mapped = mapStoreUser(u, rule.attributeMappings, rule);
          return mapped.ok ? [{ storeId: u.externalId, username: mapped.user.username }] : [];
        });
        // Only a Duo user whose username (not an alias) is the member's, and whose marker names that store user, is the member.
        const found = await asActivityFailure('looking users up in Duo', () => lookUpUsersByUsername(duo, members.map((m) => m.username)));
        const duoUsers = members.flatMap((m) => {
          const user = found.users.get(usernameKey(m.username));
          const storeId = user ? parseUserMarker(user.notes)?.storeId : undefined;
          return user && (storeId === undefined || storeId === m.storeId) ? [user] : [];
        });
        const adds: PlanToApply[] = [];
        for (const user of duoUsers) {
          if (!owned(user) || user.groups.some((g) => g.group_id === input.groupId)) continue;
          if (user.groups.length >= DUO_MAX_GROUPS_PER_USER) {
            summary = recordFailure(summary, {
              username: user.username,
              operation: 'addToGroup',
              code: 'GroupLimit',
              message: `${user.username} is already in ${user.groups.length} Duo groups; Duo allows at most ${DUO_MAX_GROUPS_PER_USER} groups per user, so it was not added to group ${input.externalId}: remove the user from groups in the store or Duo`,
            });
            continue;
          }
          adds.push({ ops: [{ op: 'addToGroup', userId: user.user_id, username: user.username, groupId: input.groupId, groupName: input.externalId }], owner, what: `adding ${user.username} to group ${input.externalId}` });
        }
        // A page of adds goes in bulk operations (50 per call) unless duo.bulk is false.
        summary = await applyPlans(duo, adds, summary, { dryRun, bulk: input.config.duo.bulk !== false });
        return { nextCursor: page.nextCursor, nextOffset: null, summary: withoutUserCounts(summary) };
      }

      if (dryRun && input.groupId.startsWith('planned:')) return { nextCursor: null, nextOffset: null, summary };
      const page = await asActivityFailure(`listing members of Duo group ${input.groupId}`, () => withTransientRetry(() => duo.listGroupMembers(input.groupId, { offset: input.offset, limit: input.pageSize })));
      const usernames = page.items.map((m) => m.username);
      const found = await asActivityFailure('looking users up in Duo', () => lookUpUsersByUsername(duo, usernames));
      const ownedUsers = [...found.users.values()].filter(owned);
      const inStore = ownedUsers.length
        ? await asActivityFailure(`looking group members up in ${store.location}`, () => store.lookupUsers(ownedUsers.map((u) => u.username), rule.scope))
        : [];
      const storeByName = new Map(inStore.map((u) => [usernameKey(u.username), u]));
      const removals: PlanToApply[] = ownedUsers
        .filter((user) => {
          const storeUser = storeByName.get(usernameKey(user.username));
          return !(storeUser && storeUser.groupIds.includes(input.externalId));
        })
        .map((user) => ({
          ops: [{ op: 'removeFromGroup', userId: user.user_id, username: user.username, groupId: input.groupId, groupName: input.externalId }],
          owner,
          what: `removing ${user.username} from group ${input.externalId}`,
        }));
      const failedBefore = summary.failed;
      summary = await applyPlans(duo, removals, summary, { dryRun, bulk: input.config.duo.bulk !== false });
      const removedHere = dryRun ? 0 : removals.length - (summary.failed - failedBefore);
      // Removed members shift the rest of the list down, or the next page would skip some.
      return { nextCursor: null, nextOffset: page.nextOffset === undefined ? null : page.nextOffset - removedHere, summary: withoutUserCounts(summary) };
    },

    /** A deleted rule's groups: deleted with `deprovisionOnRuleDeletion`, otherwise released (marker removed from `desc`). */
    async deleteRuleGroups(input: { connectionId: string; config: ConnectionConfig; ruleId: string; deprovision: boolean }): Promise<RunSummary> {
      const duo = await resources.duo(input.config);
      const owner = ownerOf(input.config, input.ruleId);
      const duoGroups = await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo));
      const owned = duoGroups.filter((g) => {
        const marker = parseGroupMarker(g.desc);
        return marker !== null && marker.connectionId === owner.connectionId && marker.ruleId === owner.ruleId;
      });
      // Per-group errors (a Duo 400) are that group's failure; page-level ones (limits, outages, keys) fail the activity.
      return asActivityFailure(`${input.deprovision ? 'deleting' : 'releasing'} groups of rule ${input.ruleId}`, async () => {
        let summary = emptySummary();
        for (const g of owned) {
          try {
            if (input.deprovision) {
              await withTransientRetry(() => applyGroupOp(duo, { op: 'delete', externalId: '', groupId: g.group_id, name: g.name }, owner, {}));
              summary = recordGroupCounts(summary, { deleted: 1 });
            } else {
              const human = stripGroupMarker(g.desc);
              await withTransientRetry(() => duo.modifyGroup(g.group_id, { desc: human === '' ? null : human }));
              summary = recordGroupCounts(summary, { updated: 1 });
            }
          } catch (err) {
            if (isPageLevelError(err)) throw err;
            summary = groupFailure(summary, groupObjectName(g.name), input.deprovision ? 'deleteGroup' : 'releaseGroup', isDuoError(err) ? String(err.code ?? err.kind) : 'Error', err instanceof Error ? err.message : String(err));
          }
          beat();
        }
        return summary;
      });
    },
  };
}

/** Membership pages change memberships, not users: the user counters stay for the passes that own them. */
function withoutUserCounts(summary: RunSummary): RunSummary {
  return { ...summary, created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0 };
}
