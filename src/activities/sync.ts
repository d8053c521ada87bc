/**
 * Outbound sync activities: one page of the upsert pass, one page of the deprovision plan/apply
 * passes, one page of a rule deletion, one user's reconcile, and the connection test. Each page
 * costs one store read and one batched Duo lookup (or one Duo list page); unchanged users cost no
 * writes. Inputs carry the connection config (secret *references* only) and cursors, never data.
 */
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { DuoClient, type DuoItemResult, type DuoUser } from '../duo';
import { findRule, inboundRules, outboundRules, type ConnectionConfig, type Rule } from '../domain/connection';
import { isInboundOwned, ownerAttributeOf } from '../domain/inbound';
import { mapStoreUser, normalizeUsername, usernameKey } from '../domain/mapping';
import { flattenGroupIds, groupIdMapOf, planMemberships, type GroupIdMap } from '../domain/groups';
import { isOwnedBy, MAX_STORE_ID_LENGTH, parseMarker, parseUserMarker, type Owner } from '../domain/ownership';
import { planDeprovision, planRename, planUser, isWriteOp, storeIdConflict, type PlanOp } from '../domain/plan';
import { emptySummary, mergeSummary, recordAdopted, recordAdoptionConflict, recordFailure, recordOutcome, RunSummarySchema, type RunSummary } from '../domain/summary';
import { type IdentityStore, type StoreUser } from '../stores';
import type { ConnectionTestResult } from '../contract';
import { listAllDuoGroups, readGroupParents } from './groups';
import { aliasConflictMessage, applyUserPlan, type ApplyOptions, describeDuoUser, findUserByUsername, lookUpUsersByUsername, otherStoreUserMessage, toUserView, withTransientRetry, type LeadApplied, type UsernameLookup } from './duo-ops';
import { asActivityFailure, outboundRule } from './activity-failures';
import { adminEmails, adoptionId, adopts, evaluateAdoptions, parseAdoptionId, type AdoptionSubject, type AdoptionVerdict } from './adoption';
import { bulkCreateNewUsers } from './bulk-create';
import { trashUsers } from './bulk-trash';
import { applyLeadingOpsInBulk, applyPlans } from './bulk-ops';
import { chooseUserRead, DUO_USERS_PAGE, DuoUserSnapshot, keepSnapshot, newestSnapshotOfRun, snapshotFor } from './user-reads';
import { nextOffsetOf } from './paging';
import { inboundStoreProblem } from './inbound';
import { beat } from './heartbeat';
import { adminOpsFor, adminOpsForDeprovision, resolveAdminGroups, type AdminGroupsResolution } from './admins';
import { adminOpGoesLast, type ResolvedAdminGroup } from '../domain/admins';
import type { ConnectionResources } from './resources';
import { entryFingerprint } from './failure-memo';
import { buildSharedPhoneIndex, sharesPhones, withoutSharedPhone } from './shared-phones';

export interface SyncUsersPageInput {
  connectionId: string;
  config: ConnectionConfig;
  ruleId: string;
  cursor: string | null;
  pageSize: number;
  dryRun: boolean;
  /** The rule's groups in Duo from its groups pass; absent: the page leaves memberships alone. */
  groupIds?: GroupIdMap;
  /** The rule's in-scope count at its last good run: sizes the choice of Duo read (src/activities/user-reads.ts). */
  expectedInScope?: number;
}

export interface SyncUsersPageResult {
  nextCursor: string | null;
  inScopeCount: number;
  summary: RunSummary;
  /** Existing Duo users this page's store users would adopt (rule `adopt`): planned, applied only after the guard. */
  adoptions?: { id: string; label: string }[];
  /** Users of this page the rule already owns: what adoptions are measured against by the guard. */
  ownedCount?: number;
}

export interface DuoPageInput {
  connectionId: string;
  config: ConnectionConfig;
  offset: number;
  limit: number;
}

export interface PlanDeprovisionPageResult {
  nextOffset: number | null;
  ownedCount: number;
  /** Exactly which users would go: Duo user id and username (for people to read). */
  candidates: { id: string; label: string }[];
}

/** The workflow id of the run this activity works for (standalone activities have none). */
function currentRunId(): string {
  return Context.current().info.workflowExecution?.workflowId ?? 'an earlier run';
}

/** Progress of a page, heartbeated so a retry (after a crash or a failure) resumes where it stopped. */
const PageProgressSchema = z.object({
  nextUsername: z.string().nullable(),
  summary: RunSummarySchema,
  /**
   * Outcomes of users after `nextUsername` whose plans bulk calls finished, by usernameKey: a retry
   * takes them as they are instead of re-planning users whose changes are already applied (which
   * would count them as unchanged).
   */
  bulkDone: z.record(z.string(), RunSummarySchema).optional(),
});
type PageProgress = z.infer<typeof PageProgressSchema>;

interface ResumePoint {
  start: number;
  summary: RunSummary;
  bulkDone: Record<string, RunSummary>;
}

function resumePoint(usernames: readonly string[]): ResumePoint {
  const parsed = PageProgressSchema.safeParse(Context.current().info.heartbeatDetails);
  if (!parsed.success) return { start: 0, summary: emptySummary(), bulkDone: {} };
  const { nextUsername, summary, bulkDone = {} } = parsed.data;
  if (nextUsername === null) return { start: usernames.length, summary, bulkDone: {} };
  const index = usernames.findIndex((u) => usernameKey(u) === usernameKey(nextUsername));
  // The page changed since the last attempt: start over (plans are idempotent; only counts may shift).
  return index >= 0 ? { start: index, summary, bulkDone } : { start: 0, summary: emptySummary(), bulkDone: {} };
}

/**
 * Reconciles a page's users with bounded concurrency: each user is a few dependent Duo round trips,
 * so one at a time would leave the account's rate limit mostly unused. Outcomes are folded into the
 * summary strictly in page order and heartbeated as "everything before `nextUsername` is done", so
 * a retried attempt resumes exactly after the last contiguous finished user and counts nobody twice.
 * After the first page-level error no new user is started; the error is rethrown once the users in
 * flight have settled, so nothing keeps calling Duo after the activity has failed.
 */
async function reconcileConcurrently(
  users: readonly StoreUser[],
  from: ResumePoint,
  concurrency: number,
  reconcile: (user: StoreUser) => Promise<RunSummary>,
): Promise<RunSummary> {
  const outcomes = new Map<number, RunSummary>();
  let summary = from.summary;
  let done = from.start;
  let next = from.start;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure && next < users.length) {
      const index = next;
      next += 1;
      try {
        outcomes.set(index, await reconcile(users[index] as StoreUser));
      } catch (error) {
        failure ??= { error };
        return;
      }
      for (let outcome = outcomes.get(done); outcome; outcome = outcomes.get(done)) {
        summary = mergeSummary(summary, outcome);
        outcomes.delete(done);
        done += 1;
      }
      const progress: PageProgress = { nextUsername: users[done]?.username ?? null, summary, bulkDone: from.bulkDone };
      beat(progress);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, users.length - from.start)) }, lane));
  if (failure) throw failure.error;
  return summary;
}

/** Loop prevention: a store user that inbound sync of this connection created must not be pushed back to Duo. */
function cameFromDuo(config: ConnectionConfig, user: StoreUser): boolean {
  return inboundRules(config).some((rule) => {
    const attr = ownerAttributeOf(rule, config.store.kind);
    return attr.ok && isInboundOwned(user, attr.attribute, config.connectionId);
  });
}

/** A store user for messages: its username, store id and (LDAP) DN. */
function describeStoreUser(user: StoreUser): string {
  const dn = user.attributes['dn'];
  return `"${user.username}" (store id ${user.externalId}${typeof dn === 'string' && dn !== '' ? `, ${dn}` : ''})`;
}

/** A store user mapped for one rule, and what Duo has under its Duo username. */
type Candidate = AdoptionSubject;

/**
 * Every Duo user, one page at a time, with a heartbeat per page. Used to find renamed users by
 * the store id in their marker, which Duo cannot search for: one pass per rule per full sync
 * (like the deprovision plan), and per single-user reconcile only when it would otherwise create.
 */
async function forEachDuoUserPage(duo: DuoClient, visit: (users: readonly DuoUser[]) => Promise<void>, from = 0): Promise<void> {
  let offset: number | null = from;
  while (offset !== null) {
    const at: number = offset;
    const page = await withTransientRetry(() => duo.listUsers({ offset: at, limit: DUO_USERS_PAGE }));
    await visit(page.items);
    offset = nextOffsetOf(at, page.items.length, page.nextOffset);
    beat();
  }
}

/** The store id this rule's marker on `user` records, or undefined (another owner, or an old marker without one). */
function ownedStoreId(user: DuoUser, owner: Owner): string | undefined {
  const marker = parseUserMarker(user.notes);
  if (!marker || marker.connectionId !== owner.connectionId || marker.ruleId !== owner.ruleId) return undefined;
  return user.status === 'pending deletion' ? undefined : marker.storeId;
}

/** This rule's Duo users whose marker records one of `storeIds`, by store id (one pass over Duo). */
async function ownedUsersByStoreId(duo: DuoClient, owner: Owner, storeIds: ReadonlySet<string>): Promise<Map<string, DuoUser[]>> {
  const found = new Map<string, DuoUser[]>();
  await forEachDuoUserPage(duo, async (users) => {
    for (const user of users) {
      const id = ownedStoreId(user, owner);
      if (id !== undefined && storeIds.has(id)) found.set(id, [...(found.get(id) ?? []), user]);
    }
  });
  return found;
}

/**
 * Candidates that would be created (no Duo user has their username, and it is nobody's alias),
 * but whose store id is recorded by one of this rule's Duo users under another username: the store
 * user was renamed, so that Duo user is theirs, to be renamed in place. `hint` (a reconcile's
 * `previousUsername`) is tried first; otherwise one pass over Duo finds them.
 */
async function withRenames(duo: DuoClient, owner: Owner, candidates: Candidate[], hint?: string): Promise<Candidate[]> {
  const creating = candidates.filter((c) => c.mapped.ok && !c.current && !c.aliasHolder && c.sameUsername.length === 0);
  if (creating.length === 0) return candidates;
  const byId = new Map<string, DuoUser[]>();
  if (hint !== undefined) {
    const { user } = await findUserByUsername(duo, hint);
    const id = user ? ownedStoreId(user, owner) : undefined;
    if (user && id !== undefined && creating.some((c) => c.user.externalId === id)) byId.set(id, [user]);
  }
  const missing = new Set(creating.map((c) => c.user.externalId).filter((id) => !byId.has(id)));
  if (missing.size > 0) for (const [id, users] of await ownedUsersByStoreId(duo, owner, missing)) byId.set(id, users);
  return candidates.map((c) => {
    const holders = creating.includes(c) ? (byId.get(c.user.externalId) ?? []) : [];
    // Two Duo users recording one store id cannot both be it: leave both alone (the create then conflicts).
    const old = holders.length === 1 ? holders[0] : undefined;
    if (!old || !c.mapped.ok) return c;
    return { ...c, current: { ...old, username: c.mapped.user.username }, renamedFrom: old };
  });
}

/**
 * The rule's snapshot of every Duo user, when listing them is the cheaper read (user-reads.ts).
 * Chosen on the rule's first page (`listed`: the rename pass's listing, already paid for; a dry run
 * lists a first page to learn Duo's user count); later pages take it from this worker's memory, and
 * use lookups when it is not there, is stale, or the page is a retry (which must see its own writes).
 */
async function userSnapshot(duo: DuoClient, input: SyncUsersPageInput, rule: Rule, listed: DuoUserSnapshot | undefined): Promise<DuoUserSnapshot | undefined> {
  const ctx = Context.current().info;
  const run = ctx.workflowExecution?.workflowId;
  if (run === undefined) return undefined;
  const key = `${run}/${rule.id}`;
  if (input.cursor !== null) return ctx.attempt === 1 ? snapshotFor(key, Date.now()) : undefined;
  let snapshot = listed;
  if (!snapshot) {
    const first = await withTransientRetry(() => duo.listUsers({ offset: 0, limit: DUO_USERS_PAGE }));
    const choice = chooseUserRead({ totalDuoUsers: first.totalObjects ?? first.items.length, inScope: input.expectedInScope, listingDone: false });
    if (choice.read === 'lookup') return undefined;
    const all = new DuoUserSnapshot(first.items, Date.now());
    const next = nextOffsetOf(0, first.items.length, first.nextOffset);
    if (next !== null) await forEachDuoUserPage(duo, async (more) => all.add(more), next);
    snapshot = all;
  } else if (chooseUserRead({ totalDuoUsers: snapshot.size, inScope: input.expectedInScope, listingDone: true }).read === 'lookup') {
    return undefined;
  }
  if (snapshot.overflowed) return undefined;
  keepSnapshot(key, snapshot);
  return snapshot;
}

/**
 * Maps store users for a rule and looks their Duo usernames up in one verified batch. Store users
 * that map to the same Duo username are reported to each other (none of them may have it).
 */
async function candidatesFor(duo: DuoClient, config: ConnectionConfig, rule: Rule, users: readonly StoreUser[], snapshot?: DuoUserSnapshot): Promise<Candidate[]> {
  const mappedUsers = users.map((user) => ({ user, mapped: mapStoreUser(user, rule.attributeMappings, rule) }));
  const byName = new Map<string, StoreUser[]>();
  for (const { user, mapped } of mappedUsers) {
    if (!mapped.ok) continue;
    const key = usernameKey(mapped.user.username);
    byName.set(key, [...(byName.get(key) ?? []), user]);
  }
  const lookup: UsernameLookup = snapshot ? snapshot.lookup([...byName.keys()]) : await asActivityFailure('looking users up in Duo', () => lookUpUsersByUsername(duo, [...byName.keys()]));
  return mappedUsers.map(({ user, mapped }) => {
    const key = mapped.ok ? usernameKey(mapped.user.username) : undefined;
    return {
      user,
      mapped,
      current: key === undefined ? undefined : lookup.users.get(key),
      aliasHolder: key === undefined ? undefined : lookup.aliasHolders.get(key),
      sameUsername: key === undefined ? [] : (byName.get(key) ?? []).filter((other) => other !== user),
    };
  });
}

/**
 * Before a rule's first page of a full sync: this rule's Duo users whose store user (found by the
 * store id in their marker, in the rule's scope) now maps to another username are renamed in place,
 * so the pages find them under the new name instead of creating a second account (and the old one
 * is never "gone"). Costs one pass over Duo and one store lookup per Duo page of owned users.
 * A new name that is taken (another Duo user or an alias) is a UsernameConflict; the user is left.
 */
async function renameMovedUsers(duo: DuoClient, store: IdentityStore, config: ConnectionConfig, rule: Rule, listed: DuoUserSnapshot): Promise<RunSummary> {
  const owner: Owner = { connectionId: config.connectionId, ruleId: rule.id };
  const moves: { from: DuoUser; to: string; storeUser: StoreUser }[] = [];
  await forEachDuoUserPage(duo, async (users) => {
    listed.add(users);
    const owned = users.flatMap((user) => {
      const id = ownedStoreId(user, owner);
      return id === undefined ? [] : [{ user, id }];
    });
    if (owned.length === 0) return;
    const found = new Map((await store.lookupUsersByExternalId([...new Set(owned.map((o) => o.id))], rule.scope)).map((u) => [u.externalId, u]));
    for (const { user, id } of owned) {
      const storeUser = found.get(id);
      const mapped = storeUser ? mapStoreUser(storeUser, rule.attributeMappings, rule) : undefined;
      if (storeUser && mapped?.ok && usernameKey(mapped.user.username) !== usernameKey(user.username)) moves.push({ from: user, to: mapped.user.username, storeUser });
    }
  });
  let summary = emptySummary();
  if (moves.length === 0) return summary;
  const taken = await lookUpUsersByUsername(duo, moves.map((m) => m.to));
  const claimed = new Set<string>();
  for (const { from, to, storeUser } of moves) {
    const key = usernameKey(to);
    const holder = taken.users.get(key) ?? taken.aliasHolders.get(key);
    if (holder || claimed.has(key)) {
      const who = holder ? `Duo user ${describeDuoUser(holder)} already has that name${taken.aliasHolders.has(key) ? ' as an alias' : ''}` : 'another Duo user of this rule is being renamed to it';
      summary = usernameConflict(summary, to, `store user ${describeStoreUser(storeUser)} was renamed in the store, but its Duo user ${describeDuoUser(from)} was not renamed to "${to}": ${who}; it is kept (not deprovisioned) under its old name. Free the name in Duo, or rename one of them in the store`);
      continue;
    }
    claimed.add(key);
    const ops = planRename(toUserView(from), to, owner, storeUser.externalId);
    const before = summary;
    summary = await asActivityFailure(`renaming ${from.username} to ${to}`, () => applyUserPlan(duo, ops, owner, before, false));
    // The listing (a snapshot for the rule's pages) shows the user under its new name once renamed.
    if (summary.failed === before.failed) listed.renamed(from, to);
  }
  return summary;
}

function usernameConflict(summary: RunSummary, username: string, message: string): RunSummary {
  return recordFailure(summary, { username, operation: 'match', code: 'UsernameConflict', message });
}

/**
 * Plans and applies one store user against its Duo counterpart; with the rule's group map, also
 * the user's memberships in the rule's groups (only for users the rule owns or creates). A store
 * user whose Duo username is taken by someone else (an alias, another store user's account, or a
 * second store entry with the same username) fails with UsernameConflict and changes nothing.
 */
async function reconcileOne(
  duo: DuoClient,
  config: ConnectionConfig,
  rule: Rule,
  candidate: Candidate,
  dryRun: boolean,
  groupIds?: GroupIdMap,
  precreated?: DuoItemResult<DuoUser>,
  adminGroups: readonly ResolvedAdminGroup[] = [],
  options: ApplyOptions = {},
): Promise<RunSummary> {
  const planned = await planOne(duo, config, rule, candidate, groupIds, adminGroups);
  return 'ops' in planned ? applyPlanned(duo, planned, dryRun, precreated, options) : planned.summary;
}

/** A user's plan, ready to apply: what reconcileOne would send, and what it has recorded so far. */
interface PlannedUser {
  username: string;
  owner: Owner;
  ops: PlanOp[];
  /** Failures recorded while planning (fields that could not be read). */
  summary: RunSummary;
  /** Set when the rule's memberships were planned; `failure`: a membership that cannot be planned. */
  membership?: { failure?: { code: string; message: string } | undefined };
}

/** Plans one store user (no writes; administrators are read): either its plan, or its final outcome when there is nothing to apply. */
async function planOne(duo: DuoClient, config: ConnectionConfig, rule: Rule, candidate: Candidate, groupIds?: GroupIdMap, adminGroups: readonly ResolvedAdminGroup[] = []): Promise<PlannedUser | { summary: RunSummary }> {
  const { user, mapped, current, aliasHolder, sameUsername } = candidate;
  let summary = emptySummary();
  // The marker is only believed for users this connection does not already manage outbound: a store
  // user who writes it into their own record must not escape being disabled or deprovisioned.
  if (cameFromDuo(config, user) && !(current && isOwnedBy(current.notes, config.connectionId))) return { summary: recordOutcome(summary, 'skipped') };
  if (!mapped.ok) return { summary: recordFailure(summary, { username: mapped.error.username, operation: 'map', code: 'MappingError', message: mapped.error.message }) };
  const username = mapped.user.username;
  if (user.externalId.length > MAX_STORE_ID_LENGTH) {
    return { summary: recordFailure(summary, { username, operation: 'map', code: 'MappingError', message: `store user ${username}: its store id is ${user.externalId.length} characters long; duo-sync records store ids of at most ${MAX_STORE_ID_LENGTH} in Duo` }) };
  }
  if (sameUsername.length > 0) {
    const all = [user, ...sameUsername].map(describeStoreUser).join(' and ');
    return { summary: usernameConflict(summary, username, `store users ${all} all map to Duo username "${username}", so none of them was synced and no Duo account was changed for them; give each a distinct username in the store, or narrow the rule's scope`) };
  }
  if (!current && aliasHolder) return { summary: usernameConflict(summary, username, aliasConflictMessage(username, describeStoreUser(user), aliasHolder)) };
  const owner: Owner = { connectionId: config.connectionId, ruleId: rule.id };
  const view = current ? toUserView(current) : null;
  const otherStoreId = view ? storeIdConflict(view, owner, user.externalId) : null;
  if (current && otherStoreId !== null) return { summary: usernameConflict(summary, username, otherStoreUserMessage(current, otherStoreId, describeStoreUser(user))) };
  // Fields that could not be read (a phone) fail on their own; the user is synced without them.
  summary = mapped.problems.reduce(recordFailure, summary);
  const userOps = planUser({ desired: mapped.user, current: view, owner, userActions: config.userActions, storeId: user.externalId });
  // The administrator recorded on (or wanted for) a user this rule owns or creates; see src/domain/admins.ts for the order.
  const ours = !userOps.some((op) => op.op === 'skip') && (userOps.some((op) => op.op === 'create') || (current !== undefined && isOwnedBy(current.notes, owner.connectionId, owner.ruleId) && current.status !== 'pending deletion'));
  const adminOps = ours ? await asActivityFailure(`reading the administrator of ${username}`, () => adminOpsFor(duo, { rule, groups: adminGroups, storeUser: user, desired: mapped.user, current: current ?? null, userActions: config.userActions })) : [];
  const ops: PlanOp[] = [...adminOps.filter((op) => !adminOpGoesLast(op)), ...userOps, ...adminOps.filter(adminOpGoesLast)];
  const rename = candidate.renamedFrom ? planRename(toUserView(candidate.renamedFrom), username, owner, user.externalId) : [];
  const membership = groupIds ? membershipsFor(owner, username, user, current, ops, groupIds) : undefined;
  if (!membership) return { username, owner, ops: [...rename, ...ops], summary };
  return { username, owner, ops: [...rename, ...ops, ...membership.ops], summary, membership: { failure: membership.failure } };
}

/** Applies a planned user (`lead`: what bulk operations already did with its first ops) and records its outcome. */
async function applyPlanned(duo: DuoClient, planned: PlannedUser, dryRun: boolean, precreated?: DuoItemResult<DuoUser>, options: ApplyOptions = {}): Promise<RunSummary> {
  const { username, owner, ops, summary, membership } = planned;
  if (!membership) return applyUserPlan(duo, ops, owner, summary, dryRun, precreated, options);
  const applied = await applyUserPlan(duo, ops, owner, emptySummary(), dryRun, precreated, options);
  if (membership.failure && applied.failed === 0) {
    return mergeSummary(summary, recordFailure(emptySummary(), { username, operation: 'addToGroup', ...membership.failure }));
  }
  return mergeSummary(summary, applied);
}

/**
 * A created user's plan with the new user's id in the ops that waited for it (phones, memberships),
 * its memberships right after the create: ahead of its phones, which only single calls can add, they
 * join the bulk waves for users with phones too.
 */
function withCreatedUser(planned: PlannedUser, userId: string): PlannedUser {
  const ops = planned.ops.map((op) => ((op.op === 'attachPhone' || op.op === 'addToGroup' || op.op === 'createAdmin') && op.userId === null ? { ...op, userId } : op));
  const at = ops.findIndex((op) => op.op === 'create');
  if (at < 0) return { ...planned, ops };
  const after = ops.slice(at + 1);
  return { ...planned, ops: [...ops.slice(0, at + 1), ...after.filter((op) => op.op === 'addToGroup'), ...after.filter((op) => op.op !== 'addToGroup')] };
}

/**
 * The bulk part of a page (src/activities/bulk-ops.ts): plans `users` (those not yet done) and sends
 * the leading updates, disables and memberships of every plan in waves of bulk operations; a user
 * bulk_create created continues after its create (its memberships join the waves). A refused bulk
 * create is left to the single path, which checks the conflict. Users whose plans that finishes are `done` (and heartbeated, so a retried
 * attempt counts them as they were, not as unchanged); the others continue one call at a time from
 * where bulk left them (`partly`). An error every user shares fails the page after the heartbeat.
 */
async function applyPageInBulk(
  duo: DuoClient,
  config: ConnectionConfig,
  rule: Rule,
  users: readonly StoreUser[],
  candidates: ReadonlyMap<StoreUser, Candidate>,
  precreated: ReadonlyMap<StoreUser, DuoItemResult<DuoUser>>,
  resumed: ResumePoint & { nextUsername: string | null },
  groupIds: GroupIdMap | undefined,
  adminGroups: readonly ResolvedAdminGroup[],
): Promise<{ done: Record<string, RunSummary>; partly: Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }> }> {
  const done: Record<string, RunSummary> = { ...resumed.bulkDone };
  const partly = new Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }>();
  const plans: { user: StoreUser; planned: PlannedUser; from: number }[] = [];
  for (const user of users) {
    const pre = precreated.get(user);
    if (done[usernameKey(user.username)] || (pre && !pre.ok)) continue;
    const planned = await asActivityFailure(`syncing ${user.username}`, () => planOne(duo, config, rule, candidates.get(user) as Candidate, groupIds, adminGroups));
    if (!('ops' in planned)) continue;
    if (!pre) plans.push({ user, planned, from: 0 });
    else if (planned.ops[0]?.op === 'create') plans.push({ user, planned: withCreatedUser(planned, pre.value.user_id), from: 1 });
  }
  const applied = await applyLeadingOpsInBulk(
    duo,
    plans.map((p) => p.planned.ops),
    { from: plans.map((p) => p.from) },
  );
  for (const [i, { user, planned }] of plans.entries()) {
    const lead = applied.leads[i] as LeadApplied;
    const finished = 'failure' in lead || (lead.done === planned.ops.length && lead.done > 0);
    if (finished) done[usernameKey(user.username)] = await applyPlanned(duo, planned, false, undefined, { lead });
    else partly.set(user, { planned, lead });
  }
  beat({ nextUsername: resumed.nextUsername, summary: resumed.summary, bulkDone: done } satisfies PageProgress);
  if (applied.error !== undefined) await asActivityFailure(`applying ${plans.length} users' changes in bulk`, () => Promise.reject(applied.error));
  return { done, partly };
}

function readAdminGroups(store: IdentityStore, rule: Rule): Promise<AdminGroupsResolution> {
  return asActivityFailure(`reading the store groups of rule ${rule.id}'s administrators`, () => resolveAdminGroups(store, rule));
}

function adminGroupProblems(summary: RunSummary, rule: Rule, admins: AdminGroupsResolution): RunSummary {
  return admins.problems.reduce((s, message) => recordFailure(s, { username: `rule ${rule.id}`, operation: 'adminGroups', code: 'AdminGroupNotFound', message }), summary);
}

/** Deprovisions with the user's recorded administrator's ops put first (one GET per user that records one). */
async function withDeprovisionedAdmins(duo: DuoClient, items: { user: DuoUser; ops: PlanOp[] }[], removeAction: ConnectionConfig['userActions']['removeAction'], why: string): Promise<{ user: DuoUser; ops: PlanOp[] }[]> {
  const out: { user: DuoUser; ops: PlanOp[] }[] = [];
  for (const item of items) {
    const removes = item.ops.some((op) => op.op === 'delete' || op.op === 'disable' || op.op === 'trash');
    const adminOps = removes ? await adminOpsForDeprovision(duo, item.user, removeAction, why) : [];
    out.push(adminOps.length > 0 ? { user: item.user, ops: [...adminOps, ...item.ops] } : item);
  }
  return out;
}

/** Memberships to plan, or undefined when the user is not (or no longer) this rule's to manage. */
function membershipsFor(owner: Owner, username: string, user: StoreUser, current: DuoUser | undefined, ops: readonly PlanOp[], groupIds: GroupIdMap) {
  if (ops.some((op) => op.op === 'skip' || op.op === 'delete')) return undefined;
  const creating = ops.some((op) => op.op === 'create');
  if (!current && !creating) return undefined;
  if (current && !isOwnedBy(current.notes, owner.connectionId, owner.ruleId)) return undefined;
  return planMemberships({ owner, username, userId: current ? current.user_id : null, storeGroupIds: user.groupIds, groupIds, current: current?.groups ?? [] });
}

/** Owned Duo users on one page whose rule no longer covers them (gone or out of scope). */
async function deprovisionCandidates(
  store: IdentityStore,
  config: ConnectionConfig,
  users: readonly DuoUser[],
): Promise<{ owned: number; candidates: { user: DuoUser; ops: PlanOp[] }[] }> {
  const rules = new Map(outboundRules(config).map((r) => [r.id, r]));
  const byRule = new Map<string, DuoUser[]>();
  let owned = 0;
  for (const user of users) {
    const marker = parseMarker(user.notes);
    if (!marker || marker.connectionId !== config.connectionId) continue;
    // Users of a deleted rule are deleteRuleWorkflow's business, not the full sync's.
    if (!rules.has(marker.ruleId)) continue;
    owned += 1;
    byRule.set(marker.ruleId, [...(byRule.get(marker.ruleId) ?? []), user]);
  }
  const candidates: { user: DuoUser; ops: PlanOp[] }[] = [];
  for (const [ruleId, owners] of byRule) {
    const rule = rules.get(ruleId) as Rule;
    const found = await store.lookupUsers(owners.map((u) => u.username), rule.scope);
    const present = new Set(found.map((u) => usernameKey(u.username)));
    // A user absent under its Duo username may have been renamed in the store: its store id still in scope means it is not gone.
    const owner: Owner = { connectionId: config.connectionId, ruleId };
    const absentIds = [...new Set(owners.filter((u) => !present.has(usernameKey(u.username))).flatMap((u) => ownedStoreId(u, owner) ?? []))];
    const stillThere = new Set(absentIds.length ? (await store.lookupUsersByExternalId(absentIds, rule.scope)).map((u) => u.externalId) : []);
    for (const user of owners) {
      if (present.has(usernameKey(user.username))) continue;
      const storeId = ownedStoreId(user, owner);
      if (storeId !== undefined && stillThere.has(storeId)) continue;
      const ops = planDeprovision({ current: toUserView(user), owner: { connectionId: config.connectionId, ruleId }, userActions: config.userActions, trigger: 'gone' });
      if (ops.some((op) => isWriteOp(op) && (op.op === 'delete' || op.op === 'disable' || op.op === 'trash'))) candidates.push({ user, ops });
    }
  }
  return { owned, candidates };
}

/** The adoption verdicts of a rule's store users that are adoptions or refusals (others reconcile as usual). */
async function adoptionVerdicts(duo: DuoClient, config: ConnectionConfig, rule: Rule, candidates: readonly Candidate[], fromDuo: (user: StoreUser) => boolean): Promise<Map<StoreUser, Exclude<AdoptionVerdict, { kind: 'none' }>>> {
  const found = new Map<StoreUser, Exclude<AdoptionVerdict, { kind: 'none' }>>();
  if (!adopts(rule)) return found;
  // Only users that could be adoptions cost lookups: a steady-state page (every user owned) reads nothing more.
  const subjects = candidates.filter((c) => !fromDuo(c.user) && c.mapped.ok && (c.current ? !isOwnedBy(c.current.notes, config.connectionId, rule.id) : rule.adopt === 'email'));
  if (subjects.length === 0) return found;
  const admins = await asActivityFailure('listing Duo administrators', () => adminEmails(duo));
  const verdicts = await asActivityFailure('looking up Duo users to adopt', () => evaluateAdoptions({ duo, connectionId: config.connectionId, rule, userActions: config.userActions, admins }, subjects));
  verdicts.forEach((v, i) => {
    if (v.kind !== 'none') found.set((subjects[i] as Candidate).user, v);
  });
  return found;
}

/**
 * Applies approved adoptions of one rule: each is evaluated again now (store user still in scope,
 * Duo user still unclaimed, still the same Duo user) and applied only then, memberships in the
 * rule's groups included; anything else is skipped with why.
 */
async function applyRuleAdoptions(duo: DuoClient, store: IdentityStore, config: ConnectionConfig, rule: Rule, planned: { duoUserId: string; storeId: string; label: string }[], dryRun: boolean): Promise<RunSummary> {
  const owner: Owner = { connectionId: config.connectionId, ruleId: rule.id };
  const storeUsers = await asActivityFailure(`looking store users up in ${store.location}`, () => store.lookupUsersByExternalId([...new Set(planned.map((p) => p.storeId))], rule.scope));
  const byStoreId = new Map<string, StoreUser[]>();
  for (const u of storeUsers) byStoreId.set(u.externalId, [...(byStoreId.get(u.externalId) ?? []), u]);
  const candidates = await candidatesFor(duo, config, rule, storeUsers);
  const verdicts = await adoptionVerdicts(duo, config, rule, candidates, (u) => cameFromDuo(config, u));
  const groupIds = rule.groups ? groupIdMapOf(await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo)), owner) : undefined;
  let summary = emptySummary();
  for (const p of planned) {
    const users = byStoreId.get(p.storeId) ?? [];
    const verdict = users.length === 1 ? verdicts.get(users[0] as StoreUser) : undefined;
    // A retried batch finds the users an earlier attempt adopted: finish their reconcile (idempotent) and report them once more.
    const done = users.length === 1 && !verdict ? candidates.find((c) => c.user === users[0] && c.current?.user_id === p.duoUserId && ownedStoreId(c.current, owner) === p.storeId) : undefined;
    if (done) {
      const before = summary;
      const reconciled = mergeSummary(before, await asActivityFailure(`adopting ${p.label}`, () => reconcileOne(duo, config, rule, done, dryRun, groupIds)));
      summary = reconciled.failed > before.failed ? reconciled : recordAdopted(reconciled, { id: adoptionId(rule.id, p.duoUserId, p.storeId), label: p.label });
      continue;
    }
    if (!verdict || verdict.kind !== 'adopt' || verdict.target.user_id !== p.duoUserId) {
      const why = users.length !== 1 ? `store user with id ${p.storeId} is no longer in rule ${rule.id}'s scope` : verdict?.kind === 'refused' ? verdict.reason : verdict?.kind === 'adopt' ? `the store user now matches Duo user ${verdict.target.user_id}` : 'it is no longer an adoption (already owned, or gone)';
      summary = recordAdoptionConflict(summary, { username: p.label, reason: `approved adoption not applied: ${why}; the next full sync plans again` });
      continue;
    }
    const user = users[0] as StoreUser;
    const membership = groupIds ? planMemberships({ owner, username: (verdict.ops[0] as PlanOp).username, userId: verdict.target.user_id, storeGroupIds: user.groupIds, groupIds, current: verdict.target.groups }) : undefined;
    const before = summary;
    const applied = await asActivityFailure(`adopting ${verdict.target.username}`, () => applyUserPlan(duo, [...verdict.ops, ...(membership?.ops ?? [])], owner, before, dryRun));
    summary = applied.failed > before.failed ? applied : recordAdopted(applied, verdict.planned);
    beat();
  }
  return summary;
}

/**
 * With `groups.nested: "flatten"`, each user's groups are its direct groups and every group that
 * contains one of them (the run's group graph, read once per run on this worker); otherwise as read.
 */
async function withFlattenedGroups(resources: ConnectionResources, store: IdentityStore, rule: Rule, runId: string, users: readonly StoreUser[]): Promise<readonly StoreUser[]> {
  if (rule.groups?.nested !== 'flatten') return users;
  const parents = await asActivityFailure(`reading groups from ${store.location}`, () => resources.groupParents.get(runId, rule.id, () => readGroupParents(store)));
  return users.map((u) => ({ ...u, groupIds: flattenGroupIds(u.groupIds, parents) }));
}

export function createSyncActivities(resources: ConnectionResources) {
  return {
    async syncUsersPage(input: SyncUsersPageInput): Promise<SyncUsersPageResult> {
      const rule = outboundRule(input.config, input.ruleId);
      const store = await resources.store(input.config);
      const page = await asActivityFailure(`reading ${store.location}`, () => store.listUsers(rule.scope, { cursor: input.cursor, pageSize: input.pageSize }));
      const runId = currentRunId();
      const items = await withFlattenedGroups(resources, store, rule, runId, page.items);
      const duo = await resources.duo(input.config);
      const owner: Owner = { connectionId: input.connectionId, ruleId: rule.id };
      // Renames are applied once per rule, before its first page; a dry run applies nothing, so each of its pages looks them up.
      const listed = new DuoUserSnapshot([], Date.now());
      const renamed = input.cursor === null && !input.dryRun ? await asActivityFailure('renaming users renamed in the store', () => renameMovedUsers(duo, store, input.config, rule, listed)) : emptySummary();
      const snapshot = await asActivityFailure('listing Duo users', () => userSnapshot(duo, input, rule, input.cursor === null && !input.dryRun ? listed : undefined));
      // A number several store users of the rule list is a conflict of each of them (unless the rule allows sharing).
      const shared = sharesPhones(rule) ? await asActivityFailure(`reading ${store.location} for numbers several users list`, () => resources.sharedPhones.get(runId, rule.id, () => buildSharedPhoneIndex(store, rule))) : undefined;
      const mappedAll = await candidatesFor(duo, input.config, rule, items, snapshot);
      const found = shared ? mappedAll.map((c) => ({ ...c, mapped: withoutSharedPhone(c.mapped, shared) })) : mappedAll;
      const candidates = new Map((input.dryRun ? await asActivityFailure('looking renamed users up in Duo', () => withRenames(duo, owner, found)) : found).map((c) => [c.user, c]));
      // Adoptions are only planned here: the run lists them, guards them and applies the approved list (applyAdoptions).
      const verdicts = await adoptionVerdicts(duo, input.config, rule, items.map((u) => candidates.get(u) as Candidate), (u) => cameFromDuo(input.config, u));
      const resumed = resumePoint(items.map((u) => normalizeUsername(u.username)));
      // Entries that failed for their data and have not changed since are reported, not sent to Duo again.
      const memo = resources.failureMemo;
      const fingerprints = new Map(items.map((u) => [u, entryFingerprint(rule, u)]));
      const remembered = new Map(items.flatMap((u) => {
        const recalled = memo.recall(owner, u.externalId, fingerprints.get(u) as string);
        return recalled ? [[u, recalled] as const] : [];
      }));
      // New users of the page are created in bulk first (duo.bulk, on unless false); each plan then takes its result.
      const precreated =
        input.dryRun || input.config.duo.bulk === false
          ? new Map<StoreUser, DuoItemResult<DuoUser>>()
          : await bulkCreateNewUsers(duo, input.config, rule, items.slice(resumed.start).filter((u) => !verdicts.has(u) && !remembered.has(u)).map((u) => candidates.get(u) as Candidate), (u) => cameFromDuo(input.config, u));
      // Read once per run and rule on this worker, only for rules with administrators.groups.
      const admins = await resources.adminGroups.get(runId, rule.id, () => readAdminGroups(store, rule));
      // Updates, disables and memberships of the page's other users go in bulk operations first (same
      // condition); adoptions and recalled failures stay out, and administrators' ops stay single calls.
      const inBulk =
        input.dryRun || input.config.duo.bulk === false
          ? { done: resumed.bulkDone, partly: new Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }>() }
          : await applyPageInBulk(
              duo,
              input.config,
              rule,
              items.slice(resumed.start).filter((u) => !verdicts.has(u) && !remembered.has(u)),
              candidates,
              precreated,
              { ...resumed, nextUsername: items[resumed.start]?.username ?? null },
              input.groupIds,
              admins.groups,
            );
      const from: ResumePoint = { ...resumed, bulkDone: inBulk.done };
      let summary = await reconcileConcurrently(items, from, resources.pageConcurrency, async (user) => {
        const verdict = verdicts.get(user);
        if (verdict) return verdict.kind === 'refused' ? recordAdoptionConflict(emptySummary(), verdict) : emptySummary();
        const recalled = remembered.get(user);
        if (recalled) return recalled;
        const partly = inBulk.partly.get(user);
        const result =
          inBulk.done[usernameKey(user.username)] ??
          (await asActivityFailure(`syncing ${user.username}`, () =>
            partly
              ? applyPlanned(duo, partly.planned, false, undefined, { lead: partly.lead })
              : reconcileOne(duo, input.config, rule, candidates.get(user) as Candidate, input.dryRun, input.groupIds, precreated.get(user), admins.groups),
          ));
        // Per user, whether bulk calls or single calls applied the plan.
        if (!input.dryRun) memo.record(owner, user.externalId, fingerprints.get(user) as string, result, runId);
        return result;
      });
      // Reported once per run (its first page), not once per page.
      if (input.cursor === null) summary = adminGroupProblems(summary, rule, admins);
      // Entries the store could not read are failures of this run, named by their DN or id.
      for (const entry of page.invalid ?? []) summary = recordFailure(summary, { username: entry.ref, operation: 'readStore', message: `${store.location}: ${entry.ref} ${entry.reason}` });
      summary = mergeSummary(summary, renamed);
      const adoptions = [...verdicts.values()].flatMap((v) => (v.kind === 'adopt' ? [v.planned] : []));
      const ownedCount = [...candidates.values()].filter((c) => c.current && isOwnedBy(c.current.notes, input.connectionId, rule.id)).length;
      return { nextCursor: page.nextCursor, inScopeCount: items.length, summary, ...(adoptions.length ? { adoptions } : {}), ownedCount };
    },

    async planDeprovisionPage(input: DuoPageInput): Promise<PlanDeprovisionPageResult> {
      const duo = await resources.duo(input.config);
      const store = await resources.store(input.config);
      const ctx = Context.current().info;
      // The listing this run's pages took (same worker, first attempt, fresh) serves the whole plan in
      // one go: no second listing. Users the run created are not in it, and they are in scope anyway;
      // applyDeprovisionBatch reads every approved user again before it acts.
      const snapshot = input.offset === 0 && ctx.attempt === 1 && ctx.workflowExecution ? newestSnapshotOfRun(ctx.workflowExecution.workflowId, Date.now()) : undefined;
      if (snapshot) {
        let ownedCount = 0;
        const candidates: { id: string; label: string }[] = [];
        for (let from = 0; from < snapshot.size; from += input.limit) {
          const slice = snapshot.usersAt(from, from + input.limit);
          const found = await asActivityFailure(`looking owned users up in ${store.location}`, () => deprovisionCandidates(store, input.config, slice));
          ownedCount += found.owned;
          candidates.push(...found.candidates.map(({ user }) => ({ id: user.user_id, label: user.username })));
          beat();
        }
        return { nextOffset: null, ownedCount, candidates };
      }
      const page = await asActivityFailure('listing Duo users', () => withTransientRetry(() => duo.listUsers({ offset: input.offset, limit: input.limit })));
      const { owned, candidates } = await asActivityFailure(`looking owned users up in ${store.location}`, () => deprovisionCandidates(store, input.config, page.items));
      return { nextOffset: nextOffsetOf(input.offset, page.items.length, page.nextOffset), ownedCount: owned, candidates: candidates.map(({ user }) => ({ id: user.user_id, label: user.username })) };
    },

    /**
     * One page of a deleted rule's plan: Duo users its marker names (the candidates) among those the
     * connection owns (the guard's denominator). With deprovisionOnRuleDeletion off nothing is planned.
     */
    async planRuleDeletionPage(input: DuoPageInput & { ruleId: string }): Promise<PlanDeprovisionPageResult> {
      const duo = await resources.duo(input.config);
      const page = await asActivityFailure('listing Duo users', () => withTransientRetry(() => duo.listUsers({ offset: input.offset, limit: input.limit })));
      const owned = page.items.filter((u) => parseMarker(u.notes)?.connectionId === input.config.connectionId);
      const candidates = owned.filter((u) => isOwnedBy(u.notes, input.config.connectionId, input.ruleId));
      return { nextOffset: nextOffsetOf(input.offset, page.items.length, page.nextOffset), ownedCount: owned.length, candidates: candidates.map((u) => ({ id: u.user_id, label: u.username })) };
    },

    /**
     * Deprovisions approved candidates, each only if it still qualifies now: still owned by this
     * connection, and (for `gone`) still absent from its rule's scope in the store, or (for a rule
     * deletion) still marked by that rule while the rule stays deleted. Anything else is skipped.
     */
    async applyDeprovisionBatch(input: { connectionId: string; config: ConnectionConfig; candidates: { id: string; label: string }[]; dryRun: boolean; ruleDeleted?: string }): Promise<RunSummary> {
      const duo = await resources.duo(input.config);
      const store = await resources.store(input.config);
      // Read again in batches of 100 ids (one get-page call each, not one get-object call per user); users gone since the plan are skipped.
      const ids = input.candidates.map((c) => c.id);
      const byId = new Map((await asActivityFailure(`reading ${ids.length} Duo users`, () => withTransientRetry(() => duo.getUsersByIds(ids)))).map((u) => [u.user_id, u]));
      const current = ids.flatMap((id) => byId.get(id) ?? []);
      let summary = recordOutcome(emptySummary(), 'skipped', ids.length - current.length);
      let still: { user: DuoUser; ops: PlanOp[] }[];
      if (input.ruleDeleted) {
        const ruleId = input.ruleDeleted;
        const owner: Owner = { connectionId: input.config.connectionId, ruleId };
        const userActions = { ...input.config.userActions, deprovisionOnRuleDeletion: true };
        still = findRule(input.config, ruleId)
          ? []
          : current.filter((u) => isOwnedBy(u.notes, owner.connectionId, ruleId)).map((user) => ({ user, ops: planDeprovision({ current: toUserView(user), owner, userActions, trigger: 'ruleDeleted' }) }));
      } else {
        still = (await asActivityFailure(`looking owned users up in ${store.location}`, () => deprovisionCandidates(store, input.config, current))).candidates;
      }
      // A user's administrator goes first (per removeAction), so a refused Owner leaves the user as it was.
      const why = input.ruleDeleted ? `its rule ${input.ruleDeleted} was deleted` : 'its store user left the store or the rule scope';
      still = await asActivityFailure('reading administrators of deprovisioned users', () => withDeprovisionedAdmins(duo, still, input.config.userActions.removeAction, why));
      summary = recordOutcome(summary, 'skipped', current.length - still.length);
      // Users whose whole deprovision is "send to Trash" go in bulk calls; the rest one by one.
      const toTrash = input.dryRun ? [] : still.filter(({ ops }) => ops.length === 1 && ops[0]?.op === 'trash');
      if (toTrash.length > 0) {
        const before = summary;
        summary = await asActivityFailure(`sending ${toTrash.length} users to Trash`, () => trashUsers(duo, toTrash.map(({ user }) => user), before));
        beat();
      }
      // Deletes and disables go in bulk operations (50 per call) unless duo.bulk is false.
      const rest = still.filter((s) => !toTrash.includes(s)).map(({ user, ops }) => ({ ops, owner: parseMarker(user.notes) as Owner, what: `deprovisioning ${user.username}` }));
      return applyPlans(duo, rest, summary, { dryRun: input.dryRun, bulk: input.config.duo.bulk !== false });
    },

    /** One page of a deleted rule's Duo users released: markers removed, users kept (deprovisionOnRuleDeletion off). */
    async releaseRulePage(input: DuoPageInput & { ruleId: string }): Promise<{ nextOffset: number | null; summary: RunSummary }> {
      const duo = await resources.duo(input.config);
      const page = await asActivityFailure('listing Duo users', () => withTransientRetry(() => duo.listUsers({ offset: input.offset, limit: input.limit })));
      const owner: Owner = { connectionId: input.config.connectionId, ruleId: input.ruleId };
      const userActions = { ...input.config.userActions, deprovisionOnRuleDeletion: false };
      const plans = page.items.flatMap((user) => {
        const ops = planDeprovision({ current: toUserView(user), owner, userActions, trigger: 'ruleDeleted' });
        return ops.length === 0 ? [] : [{ ops, owner, what: `releasing ${user.username}` }];
      });
      const summary = await applyPlans(duo, plans, emptySummary(), { dryRun: false, bulk: input.config.duo.bulk !== false });
      return { nextOffset: nextOffsetOf(input.offset, page.items.length, page.nextOffset), summary };
    },

    /** Applies approved adoptions (ids from the upsert pass, `adopt:<rule>:<Duo user id>:<store id>`), each re-checked first. */
    async applyAdoptions(input: { connectionId: string; config: ConnectionConfig; candidates: { id: string; label: string }[]; dryRun: boolean }): Promise<RunSummary> {
      const duo = await resources.duo(input.config);
      const store = await resources.store(input.config);
      const byRule = new Map<string, { duoUserId: string; storeId: string; label: string }[]>();
      let summary = emptySummary();
      for (const c of input.candidates) {
        const parsed = parseAdoptionId(c.id);
        const rule = parsed ? findRule(input.config, parsed.ruleId) : undefined;
        if (!parsed || !rule || rule.direction !== 'outbound' || !adopts(rule)) {
          summary = recordAdoptionConflict(summary, { username: c.label, reason: `approved adoption not applied: ${parsed ? `rule ${parsed.ruleId} no longer adopts` : `"${c.id}" is not an adoption id`}` });
          continue;
        }
        byRule.set(parsed.ruleId, [...(byRule.get(parsed.ruleId) ?? []), { duoUserId: parsed.duoUserId, storeId: parsed.storeId, label: c.label }]);
      }
      for (const [ruleId, planned] of byRule) {
        summary = mergeSummary(summary, await applyRuleAdoptions(duo, store, input.config, outboundRule(input.config, ruleId), planned, input.dryRun));
      }
      return summary;
    },

    /** Users in scope per outbound rule, read again in full (the health check before applying approved deletions). */
    async countInScope(input: { connectionId: string; config: ConnectionConfig; pageSize: number }): Promise<Record<string, number>> {
      const store = await resources.store(input.config);
      const counts: Record<string, number> = {};
      for (const rule of outboundRules(input.config)) {
        let cursor: string | null = null;
        let count = 0;
        do {
          const page = await asActivityFailure(`reading ${store.location}`, () => store.listUsers(rule.scope, { cursor, pageSize: input.pageSize }));
          count += page.items.length;
          cursor = page.nextCursor;
          beat();
        } while (cursor !== null);
        counts[rule.id] = count;
      }
      return counts;
    },

    async reconcileUser(input: { connectionId: string; config: ConnectionConfig; username: string; previousUsername?: string; ruleId?: string; dryRun: boolean }): Promise<RunSummary> {
      const store = await resources.store(input.config);
      const duo = await resources.duo(input.config);
      const rules = input.ruleId ? [outboundRule(input.config, input.ruleId)] : outboundRules(input.config);
      // The first rule whose scope holds the user owns it.
      for (const rule of rules) {
        // Every store entry with this username (an LDAP uid may exist in two OUs): more than one fails them all.
        const read = await asActivityFailure(`reading ${input.username} from ${store.location}`, () => store.lookupUsers([input.username], rule.scope));
        if (read.length === 0) continue;
        const users = await withFlattenedGroups(resources, store, rule, currentRunId(), read);
        const owner: Owner = { connectionId: input.connectionId, ruleId: rule.id };
        const found = await candidatesFor(duo, input.config, rule, users);
        const candidates = await asActivityFailure('looking renamed users up in Duo', () => withRenames(duo, owner, found, input.previousUsername));
        // Memberships go to the rule's groups already in Duo; creating groups is the groups pass's job.
        const groupIds = rule.groups ? groupIdMapOf(await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo)), { connectionId: input.config.connectionId, ruleId: rule.id }) : undefined;
        const verdicts = await adoptionVerdicts(duo, input.config, rule, candidates, (u) => cameFromDuo(input.config, u));
        const admins = await readAdminGroups(store, rule);
        let summary = adminGroupProblems(emptySummary(), rule, admins);
        // An explicit reconcile always tries again, and tells the memo how it went.
        const runId = currentRunId();
        for (const candidate of candidates) {
          const verdict = verdicts.get(candidate.user);
          // One user's reconcile has no approval step: an adoption waits for the next full sync, which lists and guards it.
          if (verdict?.kind === 'adopt') summary = recordAdoptionConflict(summary, { username: verdict.target.username, reason: `would be adopted (${verdict.planned.label}) by the next full sync: adoptions are planned, listed and guarded there, never in a single user's reconcile` });
          else if (verdict) summary = recordAdoptionConflict(summary, verdict);
          else {
            // Without the whole store in view, a number another Duo user already has is refused when the rule does not share phones.
            const result = await asActivityFailure(`syncing ${input.username}`, () => reconcileOne(duo, input.config, rule, candidate, input.dryRun, groupIds, undefined, admins.groups, { exclusivePhones: sharesPhones(rule) }));
            if (!input.dryRun) resources.failureMemo.record(owner, candidate.user.externalId, entryFingerprint(rule, candidate.user), result, runId);
            summary = mergeSummary(summary, result);
          }
        }
        return summary;
      }
      // In no rule's scope: deprovision if a rule of this connection owns it. An alias of some
      // other user is not this user (the lookup only returns a user whose username it is).
      const { user: current } = await asActivityFailure('looking the user up in Duo', () => findUserByUsername(duo, input.username));
      const marker = current ? parseMarker(current.notes) : null;
      if (!current || !marker || marker.connectionId !== input.config.connectionId || !findRule(input.config, marker.ruleId)) {
        return { ...emptySummary(), unchanged: 1 };
      }
      // Renamed in the store (its store id is still in the rule's scope, under another username): renamed here, not deprovisioned.
      const rule = outboundRule(input.config, marker.ruleId);
      const storeId = ownedStoreId(current, marker);
      const renamedTo = storeId === undefined ? [] : await asActivityFailure(`looking store id ${storeId} up in ${store.location}`, () => store.lookupUsersByExternalId([storeId], rule.scope));
      if (renamedTo.length > 0) {
        const candidates = await candidatesFor(duo, input.config, rule, renamedTo);
        const withOld = candidates.map((c) => (c.mapped.ok && !c.current && !c.aliasHolder && c.sameUsername.length === 0 ? { ...c, current: { ...current, username: c.mapped.user.username }, renamedFrom: current } : c));
        let summary = emptySummary();
        const admins = await readAdminGroups(store, rule);
        for (const candidate of withOld) summary = mergeSummary(summary, await asActivityFailure(`syncing ${candidate.user.username}`, () => reconcileOne(duo, input.config, rule, candidate, input.dryRun, undefined, undefined, admins.groups)));
        return summary;
      }
      const userOps = planUser({ desired: null, current: toUserView(current), owner: marker, userActions: input.config.userActions });
      const [withAdmin] = await asActivityFailure(`reading the administrator of ${input.username}`, () => withDeprovisionedAdmins(duo, [{ user: current, ops: userOps }], input.config.userActions.removeAction, 'its store user left the store or the rule scope'));
      const ops = withAdmin?.ops ?? userOps;
      return asActivityFailure(`deprovisioning ${input.username}`, () => applyUserPlan(duo, ops, marker, emptySummary(), input.dryRun));
    },

    async testConnection(input: { connectionId: string; config: ConnectionConfig }): Promise<ConnectionTestResult> {
      const checks: ConnectionTestResult['checks'] = [];
      let duo: DuoClient | undefined;
      try {
        duo = await resources.duo(input.config);
      } catch (err) {
        checks.push({ name: 'credentials', ok: false, message: err instanceof Error ? err.message : String(err) });
      }
      if (duo) {
        // A rule that may create administrators needs "Grant administrators"; say so before it provisions.
        const wantsAdmins = input.config.rules.some((r) => r.direction === 'outbound' && (r.administrators !== undefined || r.attributeMappings.userType !== undefined));
        const report = await duo.testConnection({ administrators: wantsAdmins });
        for (const name of ['reachable', 'credentials', 'read', 'write'] as const) {
          const check = report[name];
          checks.push({ name, ok: check.ok, message: check.ok ? 'ok' : (check.message ?? 'failed') });
        }
        if (report.administrators && !report.administrators.ok) {
          checks.push({ name: 'write', ok: false, message: `administrators: ${report.administrators.message ?? 'failed'}` });
        }
      }
      try {
        const store = await resources.store(input.config);
        await store.check();
        // Inbound rules write to the store: a read-only store (or one that cannot disable) fails the test, so it never provisions.
        const problems = inboundRules(input.config).flatMap((rule) => inboundStoreProblem(store, input.config, rule) ?? []);
        checks.push(problems.length ? { name: 'store', ok: false, message: problems.join('; ') } : { name: 'store', ok: true, message: `ok (${store.location})` });
      } catch (err) {
        checks.push({ name: 'store', ok: false, message: err instanceof Error ? err.message : String(err) });
      }
      return { ok: checks.length > 0 && checks.every((c) => c.ok), testedAt: new Date().toISOString(), checks };
    },
  };
}
