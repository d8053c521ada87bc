/**
 * Inbound sync activities (Duo users → identity store): one page of Duo users planned and applied
 * against one batched store lookup, and the two passes of the deprovision step over the store users
 * inbound sync owns (count + hash for the deletion guard, then apply within the approved budget),
 * and one page of a deleted inbound rule's users (deprovision or release). Inputs carry the connection config (secret references only) and cursors, never directories.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { findRule, type ConnectionConfig, type Rule } from '../domain/connection';
import { formatInboundMarker, isInboundOwned, isOutboundOwned, mapDuoUser, ownerAttributeOf, planInbound, planInboundDeprovision, type InboundOp } from '../domain/inbound';
import { usernameKey } from '../domain/mapping';
import { planOutcome } from '../domain/plan';
import type { Owner } from '../domain/ownership';
import { emptySummary, recordFailure, recordOutcome, RunSummarySchema, type RunSummary } from '../domain/summary';
import { isStoreError, type IdentityStore, type StoreUser } from '../stores';
import { lookUpUsersByUsername, toUserView, withTransientRetry } from './duo-ops';
import { asActivityFailure } from './activity-failures';
import { nextOffsetOf } from './paging';
import { beat } from './heartbeat';
import type { ConnectionResources } from './resources';

export interface InboundRuleInput {
  connectionId: string;
  config: ConnectionConfig;
  ruleId: string;
}

export interface InboundUsersPageResult {
  nextOffset: number | null;
  /** Duo users on the page that inbound sync covers (not provisioned by this connection's outbound rules). */
  eligible: number;
  summary: RunSummary;
}

export interface InboundDeprovisionPlanResult {
  nextCursor: string | null;
  ownedCount: number;
  /** Exactly which store users would go (lower-cased username as id). */
  candidates: { id: string; label: string }[];
}

interface InboundContext {
  rule: Rule;
  owner: Owner;
  ownerAttribute: string;
  store: IdentityStore;
}

/**
 * The rule, its owner attribute and a store that can take the writes it plans. These are config
 * errors (a person must change something), so they fail the run at once, without retries.
 */
async function inboundContext(resources: ConnectionResources, input: InboundRuleInput): Promise<InboundContext> {
  const rule = findRule(input.config, input.ruleId);
  if (!rule || rule.direction !== 'inbound') {
    throw ApplicationFailure.nonRetryable(`rule ${input.ruleId} is not an inbound rule of connection ${input.config.connectionId}`, 'UnknownRule');
  }
  const store = await resources.store(input.config);
  const problem = inboundStoreProblem(store, input.config, rule);
  if (problem) throw ApplicationFailure.nonRetryable(problem, 'InboundStoreNotWritable');
  const attr = ownerAttributeOf(rule, store.kind);
  if (!attr.ok) throw ApplicationFailure.nonRetryable(attr.message, 'InvalidConfig');
  return { rule, owner: { connectionId: input.config.connectionId, ruleId: rule.id }, ownerAttribute: attr.attribute, store };
}

interface DeletedInboundRuleInput {
  connectionId: string;
  config: ConnectionConfig;
  /** The deleted rule's definition (it is no longer in `config`). */
  rule: Rule;
}

async function deletedRuleContext(resources: ConnectionResources, input: DeletedInboundRuleInput): Promise<InboundContext> {
  const store = await resources.store(input.config);
  const attr = ownerAttributeOf(input.rule, store.kind);
  if (!attr.ok) throw ApplicationFailure.nonRetryable(attr.message, 'InvalidConfig');
  return { rule: input.rule, owner: { connectionId: input.config.connectionId, ruleId: input.rule.id }, ownerAttribute: attr.attribute, store };
}

/** Why `store` cannot serve this inbound rule (read-only, cannot disable, no owner attribute), or null. */
export function inboundStoreProblem(store: IdentityStore, config: ConnectionConfig, rule: Rule): string | null {
  try {
    store.assertWritable();
  } catch (err) {
    return `inbound rule ${rule.id}: ${err instanceof Error ? err.message : String(err)}`;
  }
  const a = config.userActions;
  if (!store.capabilities.disable && (a.disable || (a.deprovision && a.removeAction === 'disable'))) {
    const what = a.deprovision && a.removeAction === 'disable' ? 'userActions.removeAction "disable"' : 'userActions.disable';
    return `inbound rule ${rule.id}: ${what} needs a store that can disable users, and ${store.location} cannot; configure its disabled-account convention ("disabled" in the store settings) or use removeAction "delete" and disable: false`;
  }
  const attr = ownerAttributeOf(rule, store.kind);
  return attr.ok ? null : attr.message;
}

/** Store errors that affect every user alike (outage, credentials, permissions, config) stop the page instead of failing each user. */
function isPageLevelStoreError(err: unknown): boolean {
  return !isStoreError(err) || err.retryable || err.kind === 'auth_failed' || err.kind === 'read_only' || err.kind === 'invalid_config';
}

/**
 * Applies one user's store ops and records the outcome. Page-level errors propagate (outages are
 * retried; every op is idempotent); anything else (a conflict, a schema violation) fails just this
 * user with the store's message.
 */
async function applyInboundOps(ctx: InboundContext, ops: readonly InboundOp[], summary: RunSummary, dryRun: boolean): Promise<RunSummary> {
  const outcome = planOutcome(ops);
  if (dryRun) return recordOutcome(summary, outcome);
  for (const op of ops) {
    try {
      await applyOp(ctx, op);
    } catch (err) {
      if (isPageLevelStoreError(err) || !isStoreError(err)) throw err;
      return recordFailure(summary, { username: op.username, operation: op.op, code: `Store${err.kind}`, message: err.message });
    }
  }
  return recordOutcome(summary, outcome);
}

async function applyOp(ctx: InboundContext, op: InboundOp): Promise<void> {
  const { store } = ctx;
  switch (op.op) {
    case 'create':
      try {
        await store.createUser(op.user);
      } catch (err) {
        // A previous attempt may have created it before the worker died: that one is ours, so finish as an update.
        if (!isStoreError(err) || err.kind !== 'conflict') throw err;
        const existing = await store.getUser(op.username);
        if (!existing || !isInboundOwned(existing, ctx.ownerAttribute, ctx.owner.connectionId, ctx.owner.ruleId)) throw err;
      }
      return;
    case 'update':
      await store.updateUser(op.username, op.patch);
      return;
    case 'disable':
      await store.disableUser(op.username);
      return;
    case 'delete':
      await store.deleteUser(op.username);
      return;
    case 'skip':
      return;
  }
}

/** The filter scope that selects the store users this rule owns (pushed down to LDAP/SCIM). */
function ownedScope(ctx: InboundContext) {
  return { kind: 'filter' as const, filter: { attr: ctx.ownerAttribute, op: 'eq' as const, value: formatInboundMarker(ctx.owner) } };
}

/** Owned store users on one store page whose Duo user is gone, with their deprovision ops. */
async function deprovisionCandidates(resources: ConnectionResources, input: InboundRuleInput, ctx: InboundContext, users: readonly StoreUser[]) {
  const duo = await resources.duo(input.config);
  const usernames = users.map((u) => u.username);
  // An alias of some other Duo user is not this user: only a username match keeps the store user.
  const inDuo = (await asActivityFailure('looking owned users up in Duo', () => lookUpUsersByUsername(duo, usernames))).users;
  const candidates: { user: StoreUser; ops: InboundOp[] }[] = [];
  let owned = 0;
  for (const user of users) {
    // The store's filter selected these; the marker is checked again so a loose filter can never widen the set.
    if (!isInboundOwned(user, ctx.ownerAttribute, ctx.owner.connectionId, ctx.owner.ruleId)) continue;
    owned += 1;
    if (inDuo.has(usernameKey(user.username))) continue;
    const ops = planInboundDeprovision({ current: user, owner: ctx.owner, ownerAttribute: ctx.ownerAttribute, userActions: input.config.userActions });
    if (ops.some((op) => op.op === 'delete' || op.op === 'disable')) candidates.push({ user, ops });
  }
  return { owned, candidates };
}

/** Progress within a page of Duo users, heartbeated; the summary covers the users before `nextUsername`. */
const PageProgressSchema = z.object({ nextUsername: z.string(), summary: RunSummarySchema });
type PageProgress = z.infer<typeof PageProgressSchema>;

/** Where a retried page attempt resumes, or null to start over (no progress, or the page changed). */
function resumeFrom(usernames: readonly string[]): { start: number; summary: RunSummary } | null {
  const parsed = PageProgressSchema.safeParse(Context.current().info.heartbeatDetails);
  if (!parsed.success) return null;
  const start = usernames.findIndex((u) => usernameKey(u) === usernameKey(parsed.data.nextUsername));
  return start >= 0 ? { start, summary: parsed.data.summary } : null;
}

export function createInboundActivities(resources: ConnectionResources) {
  return {
    /**
     * One page of a deleted inbound rule's store users: deprovisioned per removeAction when
     * `deprovision` (deprovisionOnRuleDeletion) is on, otherwise released (marker removed, user kept).
     * Deleted and released users leave the owned set, so after changing any the next page starts over.
     */
    async deleteInboundRulePage(input: DeletedInboundRuleInput & { deprovision: boolean; cursor: string | null; pageSize: number }): Promise<{ done: boolean; nextCursor: string | null; summary: RunSummary }> {
      const ctx = await deletedRuleContext(resources, input);
      const store = ctx.store;
      const page = await asActivityFailure(`reading owned users from ${store.location}`, () => store.listUsers(ownedScope(ctx), { cursor: input.cursor, pageSize: input.pageSize }));
      const userActions = { ...input.config.userActions, deprovision: input.deprovision };
      let summary = emptySummary();
      let leftTheSet = false;
      for (const user of page.items) {
        if (!isInboundOwned(user, ctx.ownerAttribute, ctx.owner.connectionId, ctx.owner.ruleId)) continue;
        const before = summary;
        if (input.deprovision) {
          const ops = planInboundDeprovision({ current: user, owner: ctx.owner, ownerAttribute: ctx.ownerAttribute, userActions });
          if (ops.length === 0) continue;
          summary = await asActivityFailure(`deprovisioning ${user.username} in ${store.location}`, () => applyInboundOps(ctx, ops, before, false));
          if (summary.failed === before.failed && ops.some((op) => op.op === 'delete')) leftTheSet = true;
        } else {
          summary = await asActivityFailure(`releasing ${user.username} in ${store.location}`, async () => {
            try {
              await store.updateUser(user.username, { attributes: { [ctx.ownerAttribute]: null } });
              return recordOutcome(before, 'updated');
            } catch (err) {
              if (isPageLevelStoreError(err) || !isStoreError(err)) throw err;
              return recordFailure(before, { username: user.username, operation: 'release', code: `Store${err.kind}`, message: err.message });
            }
          });
          if (summary.failed === before.failed) leftTheSet = true;
        }
        beat();
      }
      // Only a user that left the set restarts the read, so this ends: each restart shrinks the set.
      return { done: !leftTheSet && page.nextCursor === null, nextCursor: leftTheSet ? null : page.nextCursor, summary };
    },

    /** One page of a deleted inbound rule's plan: every store user it owns is a candidate. */
    async planInboundRuleDeletionPage(input: DeletedInboundRuleInput & { cursor: string | null; pageSize: number }): Promise<InboundDeprovisionPlanResult> {
      const ctx = await deletedRuleContext(resources, input);
      const page = await asActivityFailure(`reading owned users from ${ctx.store.location}`, () => ctx.store.listUsers(ownedScope(ctx), { cursor: input.cursor, pageSize: input.pageSize }));
      const owned = page.items.filter((u) => isInboundOwned(u, ctx.ownerAttribute, ctx.owner.connectionId, ctx.owner.ruleId));
      return { nextCursor: page.nextCursor, ownedCount: owned.length, candidates: owned.map((u) => ({ id: usernameKey(u.username), label: u.username })) };
    },

    /** Deprovisions approved store users of a deleted inbound rule, each only if the rule is still deleted and still owns it. */
    async applyInboundRuleDeletionBatch(input: DeletedInboundRuleInput & { candidates: { id: string; label: string }[]; dryRun: boolean }): Promise<RunSummary> {
      const ctx = await deletedRuleContext(resources, input);
      if (findRule(input.config, input.rule.id)) return recordOutcome(emptySummary(), 'skipped', input.candidates.length);
      const found = input.candidates.length ? await asActivityFailure(`reading owned users from ${ctx.store.location}`, () => ctx.store.lookupUsers(input.candidates.map((c) => c.label))) : [];
      const userActions = { ...input.config.userActions, deprovision: true };
      let summary = emptySummary();
      let applied = 0;
      for (const user of found) {
        if (!isInboundOwned(user, ctx.ownerAttribute, ctx.owner.connectionId, ctx.owner.ruleId)) continue;
        const ops = planInboundDeprovision({ current: user, owner: ctx.owner, ownerAttribute: ctx.ownerAttribute, userActions });
        const before = summary;
        summary = await asActivityFailure(`deprovisioning ${user.username} in ${ctx.store.location}`, () => applyInboundOps(ctx, ops, before, input.dryRun));
        applied += 1;
        beat();
      }
      return recordOutcome(summary, 'skipped', input.candidates.length - applied);
    },

    async inboundUsersPage(input: InboundRuleInput & { offset: number; limit: number; dryRun: boolean }): Promise<InboundUsersPageResult> {
      const ctx = await inboundContext(resources, input);
      const duo = await resources.duo(input.config);
      const page = await asActivityFailure('listing Duo users', () => withTransientRetry(() => duo.listUsers({ offset: input.offset, limit: input.limit })));
      let summary = emptySummary();
      const eligible = page.items.map((u) => toUserView(u)).filter((u) => {
        if (!isOutboundOwned(u, input.config.connectionId)) return true;
        // Loop prevention: this user came from the store through an outbound rule.
        summary = recordOutcome(summary, 'skipped');
        return false;
      });
      const existing = new Map(
        (eligible.length ? await asActivityFailure(`looking users up in ${ctx.store.location}`, () => ctx.store.lookupUsers(eligible.map((u) => u.username))) : []).map((u) => [usernameKey(u.username), u]),
      );
      const resumed = resumeFrom(eligible.map((u) => u.username));
      if (resumed) summary = resumed.summary;
      for (const [index, user] of eligible.entries()) {
        if (resumed && index < resumed.start) continue;
        // "Everything before this user is done": a retry after a crash resumes here and counts nobody twice.
        beat({ nextUsername: user.username, summary } satisfies PageProgress);
        if (user.status === 'pending deletion') {
          summary = recordOutcome(summary, 'skipped');
          continue;
        }
        const ops = planInbound({
          desired: mapDuoUser(user),
          current: existing.get(usernameKey(user.username)) ?? null,
          owner: ctx.owner,
          ownerAttribute: ctx.ownerAttribute,
          userActions: input.config.userActions,
        });
        const before = summary;
        summary = await asActivityFailure(`syncing ${user.username} into ${ctx.store.location}`, () => applyInboundOps(ctx, ops, before, input.dryRun));
      }
      return { nextOffset: nextOffsetOf(input.offset, page.items.length, page.nextOffset), eligible: eligible.length, summary };
    },

    async planInboundDeprovisionPage(input: InboundRuleInput & { cursor: string | null; pageSize: number }): Promise<InboundDeprovisionPlanResult> {
      const ctx = await inboundContext(resources, input);
      const page = await asActivityFailure(`reading owned users from ${ctx.store.location}`, () => ctx.store.listUsers(ownedScope(ctx), { cursor: input.cursor, pageSize: input.pageSize }));
      const { owned, candidates } = await deprovisionCandidates(resources, input, ctx, page.items);
      return { nextCursor: page.nextCursor, ownedCount: owned, candidates: candidates.map(({ user }) => ({ id: usernameKey(user.username), label: user.username })) };
    },

    /** Deprovisions approved store users, each only if it is still owned by this rule and its Duo user is still gone. */
    async applyInboundDeprovisionBatch(input: InboundRuleInput & { candidates: { id: string; label: string }[]; dryRun: boolean }): Promise<RunSummary> {
      const ctx = await inboundContext(resources, input);
      const usernames = input.candidates.map((c) => c.label);
      const found = usernames.length ? await asActivityFailure(`reading owned users from ${ctx.store.location}`, () => ctx.store.lookupUsers(usernames)) : [];
      const { candidates } = await deprovisionCandidates(resources, input, ctx, found);
      let summary = recordOutcome(emptySummary(), 'skipped', input.candidates.length - candidates.length);
      for (const { user, ops } of candidates) {
        const before = summary;
        summary = await asActivityFailure(`deprovisioning ${user.username} in ${ctx.store.location}`, () => applyInboundOps(ctx, ops, before, input.dryRun));
        beat();
      }
      return summary;
    },
  };
}
