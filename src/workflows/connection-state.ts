/**
 * The connection entity's state as a plain class: configuration, pending user changes (coalesced
 * per user), queued sync requests, run history and events. No Temporal calls here, so the logic is
 * unit-testable and the workflow stays a thin loop. `carry()` produces what continue-as-new passes on.
 */
import { z } from 'zod';
import { ConnectionConfigSchema, type ConnectionConfig, type Rule } from '../domain/connection';
import { emptySummary, RunSummarySchema } from '../domain/summary';
import type { ConnectionStatus, ConnectionTestResult, FullSyncProgress, GroupChange, RunRecord, UserChange } from './definitions';

const RunRecordSchema = z.object({
  kind: z.enum(['fullSync', 'inboundSync', 'reconcileUser', 'reconcileGroup', 'deleteRule']),
  workflowId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  outcome: z.enum(['succeeded', 'failed', 'partial', 'cancelled', 'running', 'awaitingApproval']),
  dryRun: z.boolean().optional(),
  summary: RunSummarySchema.optional(),
  note: z.string().optional(),
});

const TrackedRunSchema = z.object({
  kind: z.enum(['fullSync', 'inboundSync', 'deleteRule']),
  workflowId: z.string(),
  startedAt: z.string(),
  dryRun: z.boolean().default(false),
  /** A full sync of one rule only: its in-scope count is no baseline for the source-health gate. */
  ruleId: z.string().optional(),
});
export type TrackedRun = z.infer<typeof TrackedRunSchema>;

export const CarriedConnectionStateSchema = z.object({
  config: ConnectionConfigSchema.optional(),
  paused: z.boolean().default(false),
  pauseReason: z.string().optional(),
  connectionTest: z
    .object({
      ok: z.boolean(),
      testedAt: z.string(),
      checks: z.array(z.object({ name: z.enum(['reachable', 'credentials', 'read', 'write', 'store']), ok: z.boolean(), message: z.string() })),
    })
    .optional(),
  pending: z.array(z.object({ username: z.string(), ruleId: z.string().optional() })).default([]),
  pendingGroups: z.array(z.object({ group: z.string(), ruleId: z.string().optional() })).default([]),
  syncRequest: z.object({ dryRun: z.boolean(), ruleId: z.string().optional() }).nullable().default(null),
  /** The inbound half of a sync of all rules, started once its outbound full sync is done. */
  inboundRequest: z.object({ dryRun: z.boolean() }).nullable().default(null),
  seq: z.number().int().min(0).default(0),
  nextFullSyncAt: z.number().nullable().default(null),
  lastRuns: z.array(RunRecordSchema).default([]),
  events: z.array(z.object({ at: z.string(), message: z.string() })).default([]),
  lastGoodInScopeCount: z.number().int().min(0).optional(),
  tracked: z.array(TrackedRunSchema).default([]),
});
export type CarriedConnectionState = z.input<typeof CarriedConnectionStateSchema>;

/** Past this many distinct pending users a full sync is cheaper (and bounded) than per-user runs. */
export const MAX_PENDING_CHANGES = 5_000;
/** Past this many distinct pending groups a full sync (one groups pass per rule) is cheaper. */
export const MAX_PENDING_GROUP_CHANGES = 500;

/** Changes to one group coalesce whatever the spelling of its name; a rule-specific change stays apart. */
export function groupChangeKey(change: GroupChange): string {
  return `${change.ruleId ?? '*'}|${change.group.toLowerCase()}`;
}
const MAX_LAST_RUNS = 10;
const MAX_EVENTS = 50;

export class ConnectionState {
  config: ConnectionConfig | undefined;
  paused: boolean;
  pauseReason: string | undefined;
  connectionTest: ConnectionTestResult | undefined;
  /** Pending user changes keyed by lower-cased username; Map keeps arrival order. */
  readonly pending = new Map<string, UserChange>();
  /** Pending group changes (groupChanged/groupDeleted) keyed by `groupChangeKey`; Map keeps arrival order. */
  readonly pendingGroups = new Map<string, GroupChange>();
  syncRequest: { dryRun: boolean; ruleId?: string } | null;
  inboundRequest: { dryRun: boolean } | null;
  seq: number;
  nextFullSyncAt: number | null;
  lastRuns: RunRecord[];
  events: { at: string; message: string }[];
  lastGoodInScopeCount: number | undefined;
  tracked: TrackedRun[];
  currentProgress: FullSyncProgress | undefined;
  readonly reconciling = new Set<string>();
  readonly reconcilingGroups = new Set<string>();
  /** Bumped by every handler and completion so the main loop knows to look again. */
  version = 0;

  constructor(
    readonly connectionId: string,
    carried: z.output<typeof CarriedConnectionStateSchema>,
  ) {
    this.config = carried.config;
    this.paused = carried.paused;
    this.pauseReason = carried.pauseReason;
    this.connectionTest = carried.connectionTest;
    for (const change of carried.pending) this.pending.set(change.username.toLowerCase(), change);
    for (const change of carried.pendingGroups) this.pendingGroups.set(groupChangeKey(change), change);
    this.syncRequest = carried.syncRequest;
    this.inboundRequest = carried.inboundRequest;
    this.seq = carried.seq;
    this.nextFullSyncAt = carried.nextFullSyncAt;
    this.lastRuns = carried.lastRuns;
    this.events = carried.events;
    this.lastGoodInScopeCount = carried.lastGoodInScopeCount;
    this.tracked = carried.tracked;
  }

  touch(): void {
    this.version += 1;
  }

  event(nowIso: string, message: string): void {
    this.events = [...this.events, { at: nowIso, message }].slice(-MAX_EVENTS);
    this.touch();
  }

  nextId(kind: string): string {
    this.seq += 1;
    return `${kind}/${this.connectionId}/${this.seq}`;
  }

  /** Why nothing may be provisioned right now, or null when it may. */
  blockedReason(): string | null {
    if (!this.config) return 'connection is not configured yet (send the configure update)';
    if (!this.config.enabled) return 'connection is disabled';
    if (this.paused) return `connection is paused${this.pauseReason ? ` (${this.pauseReason})` : ''}`;
    if (!this.connectionTest?.ok) return 'connection test has not passed (fix the failing check, then send testConnection)';
    return null;
  }

  addChange(change: UserChange): void {
    const key = change.username.toLowerCase();
    this.pending.delete(key);
    this.pending.set(key, change);
    if (this.pending.size > MAX_PENDING_CHANGES) {
      this.pending.clear();
      this.requestSync({ dryRun: false });
    }
    this.touch();
  }

  addGroupChange(change: GroupChange): void {
    const key = groupChangeKey(change);
    this.pendingGroups.delete(key);
    this.pendingGroups.set(key, change);
    if (this.pendingGroups.size > MAX_PENDING_GROUP_CHANGES) {
      this.pendingGroups.clear();
      this.requestSync({ dryRun: false });
    }
    this.touch();
  }

  /** Takes group changes with no reconcile of the same group in flight (per-group order), up to `room`. */
  takeDispatchableGroups(room: number): GroupChange[] {
    const out: GroupChange[] = [];
    for (const [key, change] of this.pendingGroups) {
      if (out.length >= room) break;
      if (this.reconcilingGroups.has(key)) continue;
      this.pendingGroups.delete(key);
      out.push(change);
    }
    return out;
  }

  requestSync(request: { dryRun: boolean; ruleId?: string }): void {
    // A queued real sync wins over a queued dry run; two real requests coalesce into one.
    if (!this.syncRequest || this.syncRequest.dryRun) this.syncRequest = request;
    this.touch();
  }

  /** Takes changes for users with no reconcile in flight (per-user order), up to `room`. */
  takeDispatchable(room: number): UserChange[] {
    const out: UserChange[] = [];
    for (const [key, change] of this.pending) {
      if (out.length >= room) break;
      if (this.reconciling.has(key)) continue;
      this.pending.delete(key);
      out.push(change);
    }
    return out;
  }

  /** The full or inbound sync in flight: one connection never runs two syncs at once. */
  fullSyncRunning(): TrackedRun | undefined {
    return this.tracked.find((t) => t.kind === 'fullSync' || t.kind === 'inboundSync');
  }

  recordRun(record: RunRecord): void {
    this.lastRuns = [...this.lastRuns.filter((r) => r.workflowId !== record.workflowId), record].slice(-MAX_LAST_RUNS);
    this.touch();
  }

  upsertRule(rule: Rule): number {
    if (!this.config) throw new Error('connection is not configured yet');
    const rules = this.config.rules.filter((r) => r.id !== rule.id);
    rules.push(rule);
    this.config = { ...this.config, rules };
    this.touch();
    return rules.length;
  }

  removeRule(ruleId: string): Rule | undefined {
    const rule = this.config?.rules.find((r) => r.id === ruleId);
    if (this.config && rule) this.config = { ...this.config, rules: this.config.rules.filter((r) => r.id !== ruleId) };
    this.touch();
    return rule;
  }

  carry(): CarriedConnectionState {
    return {
      config: this.config,
      paused: this.paused,
      pauseReason: this.pauseReason,
      connectionTest: this.connectionTest,
      pending: [...this.pending.values()],
      pendingGroups: [...this.pendingGroups.values()],
      syncRequest: this.syncRequest,
      // Only when set, so entities without inbound rules carry exactly what they always did.
      ...(this.inboundRequest ? { inboundRequest: this.inboundRequest } : {}),
      seq: this.seq,
      nextFullSyncAt: this.nextFullSyncAt,
      lastRuns: this.lastRuns,
      events: this.events,
      lastGoodInScopeCount: this.lastGoodInScopeCount,
      tracked: this.tracked,
    };
  }

  status(): ConnectionStatus {
    const running = this.fullSyncRunning();
    return {
      connectionId: this.connectionId,
      configured: Boolean(this.config),
      enabled: this.config?.enabled ?? false,
      paused: this.paused,
      ...(this.pauseReason ? { pauseReason: this.pauseReason } : {}),
      ...(this.connectionTest ? { connectionTest: this.connectionTest } : {}),
      rules: (this.config?.rules ?? []).map((r) => ({ id: r.id, direction: r.direction })),
      ...(running
        ? {
            currentRun:
              this.currentProgress?.workflowId === running.workflowId
                ? this.currentProgress
                : { workflowId: running.workflowId, phase: 'upsert', pagesDone: 0, usersSeen: 0, summary: emptySummary() },
          }
        : {}),
      syncQueued: this.syncRequest !== null || this.inboundRequest !== null,
      ...(this.nextFullSyncAt !== null ? { nextFullSyncAt: new Date(this.nextFullSyncAt).toISOString() } : {}),
      lastRuns: this.lastRuns,
      pendingChanges: this.pending.size + this.pendingGroups.size,
      reconcilesInFlight: this.reconciling.size + this.reconcilingGroups.size,
      ...(this.lastGoodInScopeCount !== undefined ? { lastGoodInScopeCount: this.lastGoodInScopeCount } : {}),
      recentEvents: this.events,
    };
  }
}
