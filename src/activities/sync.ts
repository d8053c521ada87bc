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
import { mapStoreUser, normalizeUsername, usernameKey, type MappingResult } from '../domain/mapping';
import { groupIdMapOf, planMemberships, type GroupIdMap } from '../domain/groups';
import { isOwnedBy, MAX_STORE_ID_LENGTH, parseMarker, parseUserMarker, type Owner } from '../domain/ownership';
import { planDeprovision, planRename, planUser, isWriteOp, storeIdConflict, type PlanOp } from '../domain/plan';
import { emptySummary, mergeSummary, recordFailure, recordOutcome, RunSummarySchema, type RunSummary } from '../domain/summary';
import { type IdentityStore, type StoreUser } from '../stores';
import type { ConnectionTestResult } from '../contract';
import { listAllDuoGroups } from './groups';
import { aliasConflictMessage, applyUserPlan, describeDuoUser, findUserByUsername, lookUpUsersByUsername, otherStoreUserMessage, toUserView, withTransientRetry, type LeadApplied, type UsernameLookup } from './duo-ops';
import { asActivityFailure, outboundRule } from './activity-failures';
import { bulkCreateNewUsers } from './bulk-create';
import { trashUsers } from './bulk-trash';
import { applyLeadingOpsInBulk, applyPlans } from './bulk-ops';
import { chooseUserRead, DUO_USERS_PAGE, DuoUserSnapshot, keepSnapshot, snapshotFor } from './user-reads';
import { nextOffsetOf } from './paging';
import { inboundStoreProblem } from './inbound';
import { beat } from './heartbeat';
import type { ConnectionResources } from './resources';

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
interface Candidate {
  user: StoreUser;
  mapped: MappingResult;
  /** The Duo user whose username (not an alias) is the mapped username. */
  current: DuoUser | undefined;
  /** The Duo user that has the mapped username as an alias. */
  aliasHolder: DuoUser | undefined;
  /** Other store users of the same read that map to the same Duo username. */
  sameUsername: readonly StoreUser[];
  /**
   * The store user was renamed: this rule's Duo user recording its store id, under its old
   * username. `current` is then that user as it will be after the rename (its new username).
   */
  renamedFrom?: DuoUser;
}

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
async function userSnapshot(duo: DuoClient, input: SyncUsersPageInput, rule: Rule, listed: DuoUser[] | undefined): Promise<DuoUserSnapshot | undefined> {
  const ctx = Context.current().info;
  const run = ctx.workflowExecution?.workflowId;
  if (run === undefined) return undefined;
  const key = `${run}/${rule.id}`;
  if (input.cursor !== null) return ctx.attempt === 1 ? snapshotFor(key, Date.now()) : undefined;
  let users = listed;
  if (!users) {
    const first = await withTransientRetry(() => duo.listUsers({ offset: 0, limit: DUO_USERS_PAGE }));
    const choice = chooseUserRead({ totalDuoUsers: first.totalObjects ?? first.items.length, inScope: input.expectedInScope, listingDone: false });
    if (choice.read === 'lookup') return undefined;
    const all = [...first.items];
    const next = nextOffsetOf(0, first.items.length, first.nextOffset);
    if (next !== null) await forEachDuoUserPage(duo, async (more) => void all.push(...more), next);
    users = all;
  } else if (chooseUserRead({ totalDuoUsers: users.length, inScope: input.expectedInScope, listingDone: true }).read === 'lookup') {
    return undefined;
  }
  const snapshot = new DuoUserSnapshot(users, Date.now());
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
async function renameMovedUsers(duo: DuoClient, store: IdentityStore, config: ConnectionConfig, rule: Rule, listed: DuoUser[]): Promise<RunSummary> {
  const owner: Owner = { connectionId: config.connectionId, ruleId: rule.id };
  const moves: { from: DuoUser; to: string; storeUser: StoreUser }[] = [];
  await forEachDuoUserPage(duo, async (users) => {
    listed.push(...users);
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
    const at = listed.indexOf(from);
    if (summary.failed === before.failed && at >= 0) listed.splice(at, 1, { ...from, username: to });
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
async function reconcileOne(duo: DuoClient, config: ConnectionConfig, rule: Rule, candidate: Candidate, dryRun: boolean, groupIds?: GroupIdMap, precreated?: DuoItemResult<DuoUser>): Promise<RunSummary> {
  const planned = await planOne(duo, config, rule, candidate, groupIds);
  return 'ops' in planned ? applyPlanned(duo, planned, dryRun, precreated) : planned.summary;
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

/** Plans one store user (no writes): either its plan, or its final outcome when there is nothing to apply. */
async function planOne(duo: DuoClient, config: ConnectionConfig, rule: Rule, candidate: Candidate, groupIds?: GroupIdMap): Promise<PlannedUser | { summary: RunSummary }> {
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
  // Admin status is not on the user object: one lookup per admin user keeps re-syncs free of writes.
  const email = mapped.user.email;
  const adminRole = rule.administrators?.role;
  const isAdmin = view && adminRole && mapped.user.userType === 'admin' && email ? Boolean(await withTransientRetry(() => duo.findAdminByEmail(email))) : undefined;
  const ops = planUser({
    desired: mapped.user,
    current: view ? { ...view, ...(isAdmin === undefined ? {} : { isAdmin }) } : null,
    owner,
    userActions: config.userActions,
    storeId: user.externalId,
    ...(adminRole ? { adminRole } : {}),
  });
  const rename = candidate.renamedFrom ? planRename(toUserView(candidate.renamedFrom), username, owner, user.externalId) : [];
  const membership = groupIds ? membershipsFor(owner, username, user, current, ops, groupIds) : undefined;
  if (!membership) return { username, owner, ops: [...rename, ...ops], summary };
  return { username, owner, ops: [...rename, ...ops, ...membership.ops], summary, membership: { failure: membership.failure } };
}

/** Applies a planned user (`lead`: what bulk operations already did with its first ops) and records its outcome. */
async function applyPlanned(duo: DuoClient, planned: PlannedUser, dryRun: boolean, precreated?: DuoItemResult<DuoUser>, lead?: LeadApplied): Promise<RunSummary> {
  const { username, owner, ops, summary, membership } = planned;
  if (!membership) return applyUserPlan(duo, ops, owner, summary, dryRun, precreated, lead);
  const applied = await applyUserPlan(duo, ops, owner, emptySummary(), dryRun, precreated, lead);
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
  const ops = planned.ops.map((op) => ((op.op === 'attachPhone' || op.op === 'addToGroup') && op.userId === null ? { ...op, userId } : op));
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
): Promise<{ done: Record<string, RunSummary>; partly: Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }> }> {
  const done: Record<string, RunSummary> = { ...resumed.bulkDone };
  const partly = new Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }>();
  const plans: { user: StoreUser; planned: PlannedUser; from: number }[] = [];
  for (const user of users) {
    const pre = precreated.get(user);
    if (done[usernameKey(user.username)] || (pre && !pre.ok)) continue;
    const planned = await asActivityFailure(`syncing ${user.username}`, () => planOne(duo, config, rule, candidates.get(user) as Candidate, groupIds));
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
    if (finished) done[usernameKey(user.username)] = await applyPlanned(duo, planned, false, undefined, lead);
    else partly.set(user, { planned, lead });
  }
  beat({ nextUsername: resumed.nextUsername, summary: resumed.summary, bulkDone: done } satisfies PageProgress);
  if (applied.error !== undefined) await asActivityFailure(`applying ${plans.length} users' changes in bulk`, () => Promise.reject(applied.error));
  return { done, partly };
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

export function createSyncActivities(resources: ConnectionResources) {
  return {
    async syncUsersPage(input: SyncUsersPageInput): Promise<SyncUsersPageResult> {
      const rule = outboundRule(input.config, input.ruleId);
      const store = await resources.store(input.config);
      const page = await asActivityFailure(`reading ${store.location}`, () => store.listUsers(rule.scope, { cursor: input.cursor, pageSize: input.pageSize }));
      const duo = await resources.duo(input.config);
      const owner: Owner = { connectionId: input.connectionId, ruleId: rule.id };
      // Renames are applied once per rule, before its first page; a dry run applies nothing, so each of its pages looks them up.
      const listed: DuoUser[] = [];
      const renamed = input.cursor === null && !input.dryRun ? await asActivityFailure('renaming users renamed in the store', () => renameMovedUsers(duo, store, input.config, rule, listed)) : emptySummary();
      const snapshot = await asActivityFailure('listing Duo users', () => userSnapshot(duo, input, rule, input.cursor === null && !input.dryRun ? listed : undefined));
      const found = await candidatesFor(duo, input.config, rule, page.items, snapshot);
      const candidates = new Map((input.dryRun ? await asActivityFailure('looking renamed users up in Duo', () => withRenames(duo, owner, found)) : found).map((c) => [c.user, c]));
      const resumed = resumePoint(page.items.map((u) => normalizeUsername(u.username)));
      // New users of the page are created in bulk first (duo.bulk, on unless false); each plan then takes its result.
      const precreated =
        input.dryRun || input.config.duo.bulk === false
          ? new Map<StoreUser, DuoItemResult<DuoUser>>()
          : await bulkCreateNewUsers(duo, input.config, rule, page.items.slice(resumed.start).map((u) => candidates.get(u) as Candidate), (u) => cameFromDuo(input.config, u));
      // Updates, disables and memberships of the page's existing users go in bulk operations first (same condition).
      const inBulk =
        input.dryRun || input.config.duo.bulk === false
          ? { done: resumed.bulkDone, partly: new Map<StoreUser, { planned: PlannedUser; lead: LeadApplied }>() }
          : await applyPageInBulk(duo, input.config, rule, page.items.slice(resumed.start), candidates, precreated, { ...resumed, nextUsername: page.items[resumed.start]?.username ?? null }, input.groupIds);
      const from: ResumePoint = { ...resumed, bulkDone: inBulk.done };
      let summary = await reconcileConcurrently(page.items, from, resources.pageConcurrency, (user) => {
        const done = inBulk.done[usernameKey(user.username)];
        if (done) return Promise.resolve(done);
        const partly = inBulk.partly.get(user);
        if (partly) return asActivityFailure(`syncing ${user.username}`, () => applyPlanned(duo, partly.planned, false, undefined, partly.lead));
        return asActivityFailure(`syncing ${user.username}`, () => reconcileOne(duo, input.config, rule, candidates.get(user) as Candidate, input.dryRun, input.groupIds, precreated.get(user)));
      });
      // Entries the store could not read are failures of this run, named by their DN or id.
      for (const entry of page.invalid ?? []) summary = recordFailure(summary, { username: entry.ref, operation: 'readStore', message: `${store.location}: ${entry.ref} ${entry.reason}` });
      summary = mergeSummary(summary, renamed);
      return { nextCursor: page.nextCursor, inScopeCount: page.items.length, summary };
    },

    async planDeprovisionPage(input: DuoPageInput): Promise<PlanDeprovisionPageResult> {
      const duo = await resources.duo(input.config);
      const store = await resources.store(input.config);
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
        const users = await asActivityFailure(`reading ${input.username} from ${store.location}`, () => store.lookupUsers([input.username], rule.scope));
        if (users.length === 0) continue;
        const owner: Owner = { connectionId: input.connectionId, ruleId: rule.id };
        const found = await candidatesFor(duo, input.config, rule, users);
        const candidates = await asActivityFailure('looking renamed users up in Duo', () => withRenames(duo, owner, found, input.previousUsername));
        // Memberships go to the rule's groups already in Duo; creating groups is the groups pass's job.
        const groupIds = rule.groups ? groupIdMapOf(await asActivityFailure('listing Duo groups', () => listAllDuoGroups(duo)), { connectionId: input.config.connectionId, ruleId: rule.id }) : undefined;
        let summary = emptySummary();
        for (const candidate of candidates) {
          summary = mergeSummary(summary, await asActivityFailure(`syncing ${input.username}`, () => reconcileOne(duo, input.config, rule, candidate, input.dryRun, groupIds)));
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
        for (const candidate of withOld) summary = mergeSummary(summary, await asActivityFailure(`syncing ${candidate.user.username}`, () => reconcileOne(duo, input.config, rule, candidate, input.dryRun)));
        return summary;
      }
      const ops = planUser({ desired: null, current: toUserView(current), owner: marker, userActions: input.config.userActions });
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
