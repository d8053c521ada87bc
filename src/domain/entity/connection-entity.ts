/**
 * The connection entity as a plain state machine: one method per message, and `nextAction(now)`
 * saying what the workflow should do next (start a run, reconcile a user, check on runs, or wait).
 * No Temporal calls here, so every transition is unit-tested without a server
 * (test/domain/connection-entity.test.ts); src/workflows/connection.ts only wires handlers to it.
 * Methods that refuse throw ApplicationFailure with a type from src/contract/failures.ts.
 * docs/architecture.md shows where it sits.
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  ClaimRunSchema,
  DeleteRuleSchema,
  DeletionDecisionSchema,
  GroupChangeSchema,
  MembershipChangeSchema,
  PauseSchema,
  RestoreDeletionsSchema,
  RunFinishedSchema,
  RunProgressSchema,
  SyncNowSchema,
  UserChangeSchema,
  runWorkflowId,
  type ClaimRunRequest,
  type ConnectionStatus,
  type ConnectionTestResult,
  type DeletionDecision,
  type FailureType,
  type GroupChange,
  type RestoreDeletionsRequest,
  type RunClaim,
  type RunKind,
  type RunProgress,
  type RunRecord,
  type UserChange,
} from '../../contract';
import { ConnectionTestResultSchema, RunRecordSchema } from '../../contract/status';
import { AuditEntrySchema, DeleteConnectionSchema, type AuditAction, type AuditActor, type AuditEntry, type DeleteConnectionRequest } from '../../contract/operations';
import { countsOf } from '../summary';
import { ConnectionConfigSchema, formatIssues, inboundRules, outboundRules, RuleSchema, type ConnectionConfig, type Rule } from '../connection';
import { NotificationSchema, webhooksFor, type Notification, type NotificationEvent, type Webhook } from '../notifications';
import { auditDiff } from './audit';

/** Past this many distinct pending users a full sync is cheaper (and bounded) than per-user runs. */
export const MAX_PENDING_CHANGES = 5_000;
/** Past this many distinct pending groups a full sync (one groups pass per rule) is cheaper. */
export const MAX_PENDING_GROUP_CHANGES = 500;
const MAX_LAST_RUNS = 10;
const MAX_EVENTS = 50;
/** How often the entity asks Temporal whether runs it waits for closed without reporting (terminated, timed out). */
export const RUN_CHECK_INTERVAL_MINUTES = 10;
/** Audit entries the entity keeps (the audit file, when set, keeps every one). */
export const MAX_AUDIT_KEPT = 200;
/** Audit entries waiting for the sink; past this the oldest are dropped (and an event says so). */
const MAX_AUDIT_OUTBOX = 1_000;
const MAX_NOTIFY_OUTBOX = 50;
/** After a failed audit write or webhook delivery (each already retried by its activity), wait this many minutes. */
export const OPS_RETRY_MINUTES = 5;
const WEB_UI: AuditActor = { via: 'web-ui' };

const SyncRequestSchema = z.object({ dryRun: z.boolean(), ruleId: z.string().optional() });
type SyncRequest = z.infer<typeof SyncRequestSchema>;

const TrackedRunSchema = z.object({
  kind: z.enum(['fullSync', 'inboundSync', 'deleteRule']),
  workflowId: z.string(),
  startedAt: z.string(),
  dryRun: z.boolean(),
  ruleId: z.string().optional(),
  byHand: z.boolean().default(false),
});
export type TrackedRun = z.infer<typeof TrackedRunSchema>;

export const CarriedEntitySchema = z.object({
  config: ConnectionConfigSchema.optional(),
  paused: z.boolean().default(false),
  pauseReason: z.string().optional(),
  connectionTest: ConnectionTestResultSchema.optional(),
  pending: z.array(UserChangeSchema).default([]),
  pendingGroups: z.array(GroupChangeSchema).default([]),
  syncRequest: SyncRequestSchema.nullable().default(null),
  /** The inbound half of a sync of all rules, started once its outbound full sync is done. */
  inboundRequest: z.object({ dryRun: z.boolean() }).nullable().default(null),
  seq: z.number().int().min(0).default(0),
  nextFullSyncAt: z.number().nullable().default(null),
  lastRuns: z.array(RunRecordSchema).default([]),
  events: z.array(z.object({ at: z.string(), message: z.string() })).default([]),
  lastGoodInScopeByRule: z.record(z.string(), z.number().int().min(0)).default({}),
  tracked: z.array(TrackedRunSchema).default([]),
  /** Rules removed by deleteRule whose deletion run has not finished: the run needs their definition. */
  deletedRules: z.array(RuleSchema).default([]),
  /** The latest progress of each tracked run that reported any. */
  progress: z.array(RunProgressSchema).default([]),
  audit: z.array(AuditEntrySchema).default([]),
  auditSeq: z.number().int().min(0).default(0),
  /** Audit entries not yet written by the audit sink activity. */
  auditOutbox: z.array(AuditEntrySchema).default([]),
  notifySeq: z.number().int().min(0).default(0),
  /** Notifications not yet delivered, each with the webhooks that still owe it. */
  notifyOutbox: z.array(z.object({ notification: NotificationSchema, webhookIds: z.array(z.string()) })).default([]),
  /** Set by deleteConnection: no more changes; the entity ends when its rule deletions succeeded. */
  deleting: z
    .object({ requestedAt: z.string(), retryRules: z.array(RuleSchema).default([]) })
    .nullable()
    .default(null),
});
export type CarriedEntity = z.input<typeof CarriedEntitySchema>;

export type EntityAction =
  | { kind: 'startRun'; run: TrackedRun }
  | { kind: 'reconcileUser'; workflowId: string; change: UserChange }
  | { kind: 'reconcileGroup'; workflowId: string; change: GroupChange }
  | { kind: 'checkRuns'; workflowIds: string[] }
  | { kind: 'finish' }
  | { kind: 'wait'; untilMs?: number };

/** Background work for operators (`nextOpsAction`): runs beside the loop, never blocks it. */
export type OpsAction = { kind: 'writeAudit'; entries: AuditEntry[] } | { kind: 'notify'; deliveries: NotificationDelivery[] };

/** The notifications one webhook wants, sent by one activity. */
export interface NotificationDelivery {
  webhook: Webhook;
  notifications: Notification[];
}

/** Changes to one group coalesce whatever the spelling of its name; a rule-specific change stays apart. */
export function groupChangeKey(change: GroupChange): string {
  return `${change.ruleId ?? '*'}|${change.group.toLowerCase()}`;
}

function refuse(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** Parses a message payload once; a bad one is refused with readable lines. */
export function parsePayload<S extends z.ZodType>(schema: S, what: string, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw refuse('InvalidInput', `invalid ${what}: ${formatIssues(result.error).join('; ')}`);
  return result.data;
}

export interface EntityOptions {
  connectionId: string;
  /** Length of a "minute" in ms: tests shorten the schedule with it; production keeps 60,000. */
  minuteMs: number;
  maxConcurrentReconciles: number;
}

export class ConnectionEntity {
  private state: z.output<typeof CarriedEntitySchema>;
  private readonly pending = new Map<string, UserChange>();
  private readonly pendingGroups = new Map<string, GroupChange>();
  private readonly reconciling = new Set<string>();
  private readonly reconcilingGroups = new Set<string>();
  private nextRunCheckAt: number | null = null;
  /** Runs `nextAction` returned whose child start has not completed yet: their ids are not visible to clients yet. */
  private readonly launching = new Set<string>();
  private auditInFlight = false;
  private auditRetryAt = 0;
  private notifyInFlight = false;
  private notifyRetryAt = 0;
  /** Bumped by every change, so the workflow knows to ask `nextAction` again. */
  version = 0;

  constructor(
    private readonly options: EntityOptions,
    carried: CarriedEntity = {},
  ) {
    this.state = parsePayload(CarriedEntitySchema, 'carried connection state', carried);
    for (const change of this.state.pending) this.pending.set(change.username.toLowerCase(), change);
    for (const change of this.state.pendingGroups) this.pendingGroups.set(groupChangeKey(change), change);
    if (this.state.config && this.state.config.connectionId !== options.connectionId) {
      throw refuse('InvalidInput', `carried configuration is for ${this.state.config.connectionId}, not ${options.connectionId}`);
    }
  }

  get connectionId(): string {
    return this.options.connectionId;
  }

  get config(): ConnectionConfig | undefined {
    return this.state.config;
  }

  private touch(): void {
    this.version += 1;
  }

  event(now: number, message: string): void {
    this.state.events = [...this.state.events, { at: new Date(now).toISOString(), message }].slice(-MAX_EVENTS);
    this.touch();
  }

  private nextId(kind: RunKind): string {
    this.state.seq += 1;
    return runWorkflowId(kind, this.connectionId, this.state.seq);
  }

  /** Why nothing may be provisioned right now, or null when it may. */
  blockedReason(): string | null {
    const config = this.state.config;
    if (!config) return 'connection is not configured yet (send the configure update)';
    if (this.state.deleting) return 'connection is being deleted';
    if (!config.enabled) return 'connection is disabled';
    if (this.state.paused) return `connection is paused${this.state.pauseReason ? ` (${this.state.pauseReason})` : ''}`;
    if (!this.state.connectionTest?.ok) return 'connection test has not passed (fix the failing check, then send testConnection)';
    return null;
  }

  requireConfig(): ConnectionConfig {
    if (!this.state.config) throw refuse('NotConfigured', 'connection is not configured yet: send the configure update first');
    return this.state.config;
  }

  // ---- updates: `check*` validates (runs in the update's validator), the method applies ----------

  /** Restoring a run's Trash needs the connection's Duo settings; which users is the run's own record. */
  checkRestoreDeletions(raw: unknown): RestoreDeletionsRequest & { config: ConnectionConfig } {
    this.refuseWhileDeleting();
    const config = this.requireConfig();
    return { ...parsePayload(RestoreDeletionsSchema, 'restoreDeletions request', raw), config };
  }

  private refuseWhileDeleting(): void {
    if (this.state.deleting) throw refuse('ConnectionDeleting', `connection ${this.connectionId} is being deleted (since ${this.state.deleting.requestedAt}): it takes no more changes`);
  }

  checkConfigure(raw: unknown): ConnectionConfig {
    this.refuseWhileDeleting();
    const config = parsePayload(ConnectionConfigSchema, 'configuration', raw);
    if (config.connectionId !== this.connectionId) throw refuse('InvalidInput', `configuration is for ${config.connectionId}, not ${this.connectionId}`);
    return config;
  }

  configure(now: number, config: ConnectionConfig, actor: AuditActor = WEB_UI): { applied: true; rules: number } {
    const diff = auditDiff(this.state.config, config);
    const onlyEnabled = this.state.config !== undefined && diff.changes.length === 1 && diff.changes[0]?.path === 'enabled';
    this.recordAudit(now, onlyEnabled ? (config.enabled ? 'enable' : 'disable') : 'configure', actor, { diff });
    this.state.config = config;
    this.event(now, `configuration updated (${config.rules.length} rules, enabled=${config.enabled})`);
    if (this.state.nextFullSyncAt === null) this.state.nextFullSyncAt = now;
    return { applied: true, rules: config.rules.length };
  }

  connectionTested(now: number, result: ConnectionTestResult): void {
    const before = this.state.connectionTest;
    this.state.connectionTest = result;
    const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    if (!result.ok && (before === undefined || before.ok)) {
      this.notify(now, 'connectionTestFailing', `connection ${this.connectionId}: connection test failing: ${failed.join('; ')}`, { failedChecks: failed.join('; ') });
    } else if (result.ok && before !== undefined && !before.ok) {
      this.notify(now, 'connectionTestRecovered', `connection ${this.connectionId}: connection test passes again`, {});
    }
    this.event(now, result.ok ? 'connection test passed' : `connection test failed: ${failed.join('; ')}`);
  }

  /** Rules valid alone can still break the connection (a second inbound rule): the result is checked as a whole. */
  checkUpsertRule(raw: unknown): Rule {
    this.refuseWhileDeleting();
    const config = this.requireConfig();
    const rule = parsePayload(RuleSchema, 'rule', raw);
    parsePayload(ConnectionConfigSchema, 'rule', { ...config, rules: [...config.rules.filter((r) => r.id !== rule.id), rule] });
    return rule;
  }

  upsertRule(now: number, rule: Rule, actor: AuditActor = WEB_UI): { applied: true; rules: number } {
    const config = this.requireConfig();
    this.recordAudit(now, 'upsertRule', actor, { target: rule.id, diff: auditDiff(config.rules.find((r) => r.id === rule.id), rule, `rules[${rule.id}]`) });
    const rules = [...config.rules.filter((r) => r.id !== rule.id), rule];
    this.state.config = { ...config, rules };
    this.event(now, `rule ${rule.id} saved`);
    return { applied: true, rules: rules.length };
  }

  checkDeleteRule(raw: unknown): string {
    this.refuseWhileDeleting();
    const config = this.requireConfig();
    const { ruleId } = parsePayload(DeleteRuleSchema, 'deleteRule request', raw);
    if (!config.rules.some((r) => r.id === ruleId)) throw refuse('UnknownRule', `rule ${ruleId} does not exist`);
    return ruleId;
  }

  /** Removes the rule now and returns the deletion run to start; the run claims the rule's definition. */
  deleteRule(now: number, ruleId: string, actor: AuditActor = WEB_UI): TrackedRun {
    const config = this.requireConfig();
    const rule = config.rules.find((r) => r.id === ruleId);
    if (!rule) throw refuse('UnknownRule', `rule ${ruleId} does not exist`);
    this.recordAudit(now, 'deleteRule', actor, { target: ruleId, diff: auditDiff(rule, undefined, `rules[${ruleId}]`) });
    this.state.config = { ...config, rules: config.rules.filter((r) => r.id !== ruleId) };
    return this.startRuleDeletion(now, rule);
  }

  /** The rule's deletion run: it claims the rule's definition, so the entity keeps it until the run ends. */
  private startRuleDeletion(now: number, rule: Rule): TrackedRun {
    const config = this.requireConfig();
    this.state.deletedRules = [...this.state.deletedRules.filter((r) => r.id !== rule.id), rule];
    const run: TrackedRun = { kind: 'deleteRule', workflowId: this.nextId('deleteRule'), startedAt: new Date(now).toISOString(), dryRun: false, ruleId: rule.id, byHand: false };
    this.track(run);
    this.event(now, `rule ${rule.id} deleted; ${run.workflowId} ${config.userActions.deprovisionOnRuleDeletion ? 'deprovisions' : 'releases'} its users`);
    return run;
  }

  checkDeleteConnection(raw: unknown): DeleteConnectionRequest {
    this.requireConfig();
    return parsePayload(DeleteConnectionSchema, 'deleteConnection request', raw ?? {});
  }

  /**
   * Deletes every rule through the rule-deletion path (release, or deprovision behind the deletion
   * guard) and takes no more changes. Sent again after a rule deletion failed, it retries those.
   * The entity ends (`nextAction` → finish) once every deletion run succeeded.
   */
  deleteConnection(now: number, request: DeleteConnectionRequest, actor: AuditActor = WEB_UI): { runs: TrackedRun[] } {
    const config = this.requireConfig();
    const retry = this.state.deleting?.retryRules ?? [];
    this.recordAudit(now, 'deleteConnection', actor, { target: this.connectionId, ...(request.reason ? { reason: request.reason } : {}) });
    this.state.deleting = { requestedAt: this.state.deleting?.requestedAt ?? new Date(now).toISOString(), retryRules: [] };
    this.state.config = { ...config, rules: [] };
    this.pending.clear();
    this.pendingGroups.clear();
    this.state.syncRequest = null;
    this.state.inboundRequest = null;
    const runs = [...config.rules, ...retry].map((rule) => this.startRuleDeletion(now, rule));
    this.event(now, `connection delete requested${request.reason ? ` (${request.reason})` : ''}: ${runs.length ? runs.map((r) => r.workflowId).join(', ') : 'no rules left'}`);
    return { runs };
  }

  get deleting(): boolean {
    return this.state.deleting !== null;
  }

  checkSyncNow(raw: unknown): SyncRequest & { reason?: string } {
    this.refuseWhileDeleting();
    const request = parsePayload(SyncNowSchema, 'syncNow request', raw ?? {});
    const blocked = this.blockedReason();
    if (blocked) throw refuse('NotProvisioning', `cannot sync: ${blocked}`);
    return request;
  }

  checkSyncUser(raw: unknown): UserChange {
    const change = parsePayload(UserChangeSchema, 'syncUser request', raw);
    const blocked = this.blockedReason();
    if (blocked) throw refuse('NotProvisioning', `cannot sync user: ${blocked}`);
    return change;
  }

  /** The decision is for the sync the entity shows as waiting, and names its exact deletion set. */
  checkApproveDeletions(raw: unknown): DeletionDecision {
    const decision = parsePayload(DeletionDecisionSchema, 'approveDeletions request', raw);
    if (this.approvalReadiness(decision) === 'gone') throw refuse('NotAwaitingApproval', `run ${decision.runId} is not awaiting deletion approval`);
    if (this.approvalReadiness(decision) === 'mismatch') throw this.mismatch(decision);
    return decision;
  }

  /**
   * Whether a decision can be forwarded: `ready` (the run shows it waits for exactly this set),
   * `mismatch` (it waits for another set), `pending` (a run the entity tracks that has not reported
   * the wait yet: its progress signal can trail a client that read the run itself), or `gone`.
   */
  approvalReadiness(decision: DeletionDecision): 'ready' | 'mismatch' | 'pending' | 'gone' {
    const waiting = this.state.progress.find((p) => p.workflowId === decision.runId && p.phase === 'awaitingApproval')?.awaitingApproval;
    if (waiting) return waiting.deletionSetHash === decision.deletionSetHash ? 'ready' : 'mismatch';
    return this.state.tracked.some((t) => t.workflowId === decision.runId) ? 'pending' : 'gone';
  }

  /** After waiting for a `pending` decision: forward it only if the run now shows exactly this set. */
  confirmApproveDeletions(decision: DeletionDecision): DeletionDecision {
    const readiness = this.approvalReadiness(decision);
    if (readiness === 'mismatch') throw this.mismatch(decision);
    if (readiness !== 'ready') throw refuse('NotAwaitingApproval', `run ${decision.runId} is not awaiting deletion approval`);
    return decision;
  }

  private mismatch(decision: DeletionDecision): ApplicationFailure {
    const waiting = this.state.progress.find((p) => p.workflowId === decision.runId)?.awaitingApproval;
    return refuse('DeletionSetMismatch', `deletionSetHash ${decision.deletionSetHash} does not match the planned set ${waiting?.deletionSetHash ?? '(none)'}: read status again`);
  }

  /**
   * A run asks to go ahead. Runs the entity started are already tracked; a run started by hand is
   * tracked from now on, so the schedule never starts a sync beside it. Refused while the connection
   * may not write (a dry run may), when another sync runs, or for a rule deletion of a live rule.
   */
  checkClaimRun(raw: unknown): ClaimRunRequest {
    this.requireConfig();
    return parsePayload(ClaimRunSchema, 'claimRun request', raw);
  }

  claimRun(now: number, request: ClaimRunRequest): RunClaim {
    const config = this.requireConfig();
    const known = this.state.tracked.find((t) => t.workflowId === request.workflowId);
    const base: RunClaim = { config, lastGoodInScopeByRule: { ...this.state.lastGoodInScopeByRule }, minuteMs: this.options.minuteMs };
    if (request.kind === 'deleteRule') {
      const ruleId = request.ruleId ?? known?.ruleId;
      if (!ruleId) throw refuse('InvalidInput', 'a rule deletion names its ruleId');
      if (config.rules.some((r) => r.id === ruleId)) {
        throw refuse('RuleStillConfigured', `rule ${ruleId} is still configured on ${this.connectionId}: send the deleteRule update {"ruleId":"${ruleId}"} to connection/${this.connectionId} instead`);
      }
      const deletedRule = this.state.deletedRules.find((r) => r.id === ruleId);
      if (!known) this.track({ kind: 'deleteRule', workflowId: request.workflowId, startedAt: new Date(now).toISOString(), dryRun: false, ruleId, byHand: true });
      return deletedRule ? { ...base, deletedRule } : base;
    }
    if (known) return base;
    if (!request.dryRun) {
      const blocked = this.blockedReason();
      if (blocked) throw refuse('NotProvisioning', `${blocked}: nothing may be provisioned; start with {"dryRun":true} to preview`);
    }
    if (request.kind === 'fullSync' || request.kind === 'inboundSync') {
      const running = this.syncRunning();
      if (running) throw refuse('RunAlreadyRunning', `connection ${this.connectionId} is running ${running.workflowId}: send signal syncNow {} to connection/${this.connectionId} to queue the next sync`);
      this.track({ kind: request.kind, workflowId: request.workflowId, startedAt: new Date(now).toISOString(), dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}), byHand: true });
      this.event(now, `${request.workflowId} started by hand${request.dryRun ? ' (dry run)' : ''}`);
    }
    return base;
  }

  // ---- signals: a bad payload is recorded and dropped, never fails the entity --------------------

  /** Applies a signal's payload if it parses; otherwise records why it was dropped and returns false. */
  onSignal<S extends z.ZodType>(now: number, schema: S, name: string, raw: unknown, apply: (value: z.output<S>) => void): boolean {
    const result = schema.safeParse(raw ?? {});
    if (!result.success) {
      this.event(now, `dropped invalid ${name} signal: ${formatIssues(result.error).join('; ')}`);
      return false;
    }
    apply(result.data);
    return true;
  }

  userChanged(now: number, raw: unknown, name = 'userChanged'): void {
    this.onSignal(now, UserChangeSchema, name, raw, (change) => this.addChange(change));
  }

  membershipChanged(now: number, raw: unknown): void {
    this.onSignal(now, MembershipChangeSchema, 'membershipChanged', raw, (change) => this.addChange({ username: change.username }));
  }

  groupChanged(now: number, raw: unknown, name = 'groupChanged'): void {
    this.onSignal(now, GroupChangeSchema, name, raw, (change) => this.addGroupChange(change));
  }

  syncNow(now: number, raw: unknown): void {
    this.onSignal(now, SyncNowSchema, 'syncNow', raw, (request) => this.requestSync(now, { dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}) }, request.reason));
  }

  pause(now: number, raw: unknown, actor: AuditActor = WEB_UI): void {
    this.onSignal(now, PauseSchema, 'pause', raw, (p) => {
      this.recordAudit(now, 'pause', actor, { ...(p.reason ? { reason: p.reason } : {}), diff: auditDiff({ paused: this.state.paused }, { paused: true }) });
      this.state.paused = true;
      this.state.pauseReason = p.reason;
      this.event(now, `paused${p.reason ? `: ${p.reason}` : ''}`);
    });
  }

  resume(now: number, actor: AuditActor = WEB_UI): void {
    this.recordAudit(now, 'resume', actor, { diff: auditDiff({ paused: this.state.paused }, { paused: false }) });
    this.state.paused = false;
    this.state.pauseReason = undefined;
    this.event(now, 'resumed');
  }

  /** Progress from a run the entity waits for; anything else is dropped (a forged or stale report). */
  runProgress(now: number, raw: unknown): void {
    this.onSignal(now, RunProgressSchema, 'runProgress', raw, (progress) => {
      if (this.state.tracked.some((t) => t.workflowId === progress.workflowId)) {
        const before = this.state.progress.find((p) => p.workflowId === progress.workflowId);
        const waiting = progress.phase === 'awaitingApproval' ? progress.awaitingApproval : undefined;
        if (waiting && before?.awaitingApproval?.deletionSetHash !== waiting.deletionSetHash) {
          const approve = `duo-sync approve ${this.connectionId} ${progress.workflowId} --hash ${waiting.deletionSetHash}`;
          this.notify(now, 'deletionsAwaitingApproval', `connection ${this.connectionId}: ${progress.workflowId} waits for approval of ${waiting.plannedDeletions} deletions (${waiting.reason}); approve with: ${approve}`, {
            workflowId: progress.workflowId,
            plannedDeletions: waiting.plannedDeletions,
            ownedCount: waiting.ownedCount,
            deletionSetHash: waiting.deletionSetHash,
            approveCommand: approve,
          });
        }
        this.state.progress = [...this.state.progress.filter((p) => p.workflowId !== progress.workflowId), progress];
        this.touch();
      }
    });
  }

  runFinished(now: number, raw: unknown): void {
    this.onSignal(now, RunFinishedSchema, 'runFinished', raw, (finished) => {
      const run = this.state.tracked.find((t) => t.workflowId === finished.workflowId);
      if (!run) return;
      if (run.kind === 'fullSync' && !run.dryRun && !run.ruleId && finished.inScopeByRule) {
        this.state.lastGoodInScopeByRule = { ...finished.inScopeByRule };
      }
      this.finish(now, run, { outcome: finished.outcome, ...(finished.counts ? { counts: finished.counts } : {}), ...(finished.note ? { note: finished.note } : {}) });
    });
  }

  /** Runs Temporal says are closed but never reported (terminated, timed out) end as failed. */
  runsClosed(now: number, closed: readonly { workflowId: string; status: string }[]): void {
    for (const { workflowId, status } of closed) {
      const run = this.state.tracked.find((t) => t.workflowId === workflowId);
      if (run) this.finish(now, run, { outcome: status === 'CANCELED' ? 'cancelled' : 'failed', note: `closed (${status}) without reporting its result` });
    }
    this.nextRunCheckAt = null;
    this.touch();
  }

  /** The child of a `startRun` action exists now (or failed to start): its id may be handed out. */
  runLaunched(workflowId: string): void {
    this.launching.delete(workflowId);
    this.touch();
  }

  /** The sync in flight whose workflow exists, for answers that hand its id to a client. */
  launchedSync(): TrackedRun | undefined {
    const running = this.syncRunning();
    return running && !this.launching.has(running.workflowId) ? running : undefined;
  }

  /** A child that could not even be started ends here with the reason. */
  runNotStarted(now: number, workflowId: string, reason: string): void {
    const run = this.state.tracked.find((t) => t.workflowId === workflowId);
    if (run) this.finish(now, run, { outcome: 'failed', note: `could not start: ${reason}` });
  }

  private finish(now: number, run: TrackedRun, result: Pick<RunRecord, 'outcome' | 'counts' | 'note'>): void {
    const deleting = this.state.deleting;
    const rule = this.state.deletedRules.find((r) => r.id === run.ruleId);
    if (deleting && run.kind === 'deleteRule' && rule && (result.outcome === 'failed' || result.outcome === 'cancelled')) {
      this.state.deleting = { ...deleting, retryRules: [...deleting.retryRules.filter((r) => r.id !== rule.id), rule] };
    }
    if (result.outcome === 'failed' || result.outcome === 'partial') {
      const counts = result.counts ? Object.entries(result.counts).map(([k, v]) => `${k} ${v}`).join(', ') : undefined;
      this.notify(now, result.outcome === 'failed' ? 'runFailed' : 'runPartial', `connection ${this.connectionId}: ${run.workflowId} ended ${result.outcome}${result.note ? `: ${result.note}` : ''}`, {
        workflowId: run.workflowId,
        kind: run.kind,
        dryRun: run.dryRun,
        ...(result.note ? { note: result.note.slice(0, 2000) } : {}),
        ...(counts ? { counts } : {}),
      });
    }
    this.state.tracked = this.state.tracked.filter((t) => t.workflowId !== run.workflowId);
    if (run.kind === 'deleteRule' && run.ruleId && !this.state.tracked.some((t) => t.ruleId === run.ruleId && t.kind === 'deleteRule')) {
      this.state.deletedRules = this.state.deletedRules.filter((r) => r.id !== run.ruleId);
    }
    this.state.progress = this.state.progress.filter((p) => p.workflowId !== run.workflowId);
    this.recordRun({ kind: run.kind, workflowId: run.workflowId, startedAt: run.startedAt, finishedAt: new Date(now).toISOString(), dryRun: run.dryRun, ...(run.byHand ? { byHand: true } : {}), ...result });
    this.event(now, `${run.workflowId} finished: ${result.outcome}${result.note ? ` (${result.note})` : ''}`);
  }

  // ---- reconciles ----------------------------------------------------------------------------------

  private addChange(change: UserChange): void {
    const key = change.username.toLowerCase();
    this.pending.delete(key);
    this.pending.set(key, change);
    if (this.pending.size > MAX_PENDING_CHANGES) {
      this.pending.clear();
      this.state.syncRequest = this.mergeRequest({ dryRun: false });
    }
    this.touch();
  }

  private addGroupChange(change: GroupChange): void {
    const key = groupChangeKey(change);
    this.pendingGroups.delete(key);
    this.pendingGroups.set(key, change);
    if (this.pendingGroups.size > MAX_PENDING_GROUP_CHANGES) {
      this.pendingGroups.clear();
      this.state.syncRequest = this.mergeRequest({ dryRun: false });
    }
    this.touch();
  }

  /** `syncUser` waits until no reconcile of the same user runs, then runs it (absorbing a queued change). */
  userIsReconciling(username: string): boolean {
    return this.reconciling.has(username.toLowerCase());
  }

  beginUserReconcile(change: UserChange): string {
    const key = change.username.toLowerCase();
    this.pending.delete(key);
    this.reconciling.add(key);
    this.touch();
    return this.nextId('reconcileUser');
  }

  endUserReconcile(username: string): void {
    this.reconciling.delete(username.toLowerCase());
    this.touch();
  }

  endGroupReconcile(change: GroupChange): void {
    this.reconcilingGroups.delete(groupChangeKey(change));
    this.touch();
  }

  recordRun(record: RunRecord): void {
    // Counters only: a run summary's failure list stays in the run's own result.
    const kept: RunRecord = record.counts ? { ...record, counts: countsOf({ failures: [], failuresTruncated: 0, ...record.counts }) } : record;
    this.state.lastRuns = [...this.state.lastRuns.filter((r) => r.workflowId !== record.workflowId), kept].slice(-MAX_LAST_RUNS);
    this.touch();
  }

  // ---- syncs ------------------------------------------------------------------------------------

  /** A queued real sync wins over a queued dry run; two real requests coalesce into one. */
  private mergeRequest(request: SyncRequest): SyncRequest {
    const queued = this.state.syncRequest;
    return !queued || queued.dryRun ? request : queued;
  }

  requestSync(now: number, request: SyncRequest, reason?: string): void {
    this.state.syncRequest = this.mergeRequest(request);
    this.event(now, `sync requested${reason ? `: ${reason}` : ''}${request.dryRun ? ' (dry run)' : ''}`);
  }

  /** The full or inbound sync in flight: one connection never runs two syncs at once. */
  syncRunning(): TrackedRun | undefined {
    return this.state.tracked.find((t) => t.kind === 'fullSync' || t.kind === 'inboundSync');
  }

  private track(run: TrackedRun): void {
    this.state.tracked = [...this.state.tracked, run];
    this.nextRunCheckAt ??= Date.parse(run.startedAt) + RUN_CHECK_INTERVAL_MINUTES * this.options.minuteMs;
    this.recordRun({ kind: run.kind, workflowId: run.workflowId, startedAt: run.startedAt, outcome: 'running', dryRun: run.dryRun, ...(run.byHand ? { byHand: true } : {}) });
  }

  /** Which sync a request means: an inbound rule's id runs that rule inbound; all rules run outbound, then inbound. */
  private syncFor(now: number, request: SyncRequest, config: ConnectionConfig): TrackedRun {
    const target = request.ruleId ? config.rules.find((r) => r.id === request.ruleId) : undefined;
    const inboundOnly = target?.direction === 'inbound' || (!request.ruleId && outboundRules(config).length === 0 && inboundRules(config).length > 0);
    const kind: RunKind = inboundOnly ? 'inboundSync' : 'fullSync';
    if (kind === 'fullSync' && !request.ruleId && inboundRules(config).length > 0) this.state.inboundRequest = { dryRun: request.dryRun };
    return { kind, workflowId: this.nextId(kind), startedAt: new Date(now).toISOString(), dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}), byHand: false };
  }

  // ---- the loop's question --------------------------------------------------------------------

  /** What the workflow should do now. Each call that returns work has already recorded it. */
  /**
   * `draining`: the workflow wants to continue as new. Reconciles are not handed out (their changes
   * travel in the carried state), but a requested sync still starts: a syncNow handler waits for it,
   * and continue-as-new waits for every handler.
   */
  nextAction(now: number, { draining = false }: { draining?: boolean } = {}): EntityAction {
    if (this.deletionFinished()) return { kind: 'finish' };
    const config = this.state.config;
    const blocked = this.blockedReason();
    if (this.state.tracked.length === 0) this.nextRunCheckAt = null;
    else if (this.nextRunCheckAt === null) this.nextRunCheckAt = now + RUN_CHECK_INTERVAL_MINUTES * this.options.minuteMs;
    if (this.nextRunCheckAt !== null && now >= this.nextRunCheckAt) {
      this.nextRunCheckAt = now + RUN_CHECK_INTERVAL_MINUTES * this.options.minuteMs;
      return { kind: 'checkRuns', workflowIds: this.state.tracked.map((t) => t.workflowId) };
    }
    if (!blocked && config) {
      const started = this.nextSync(now, config);
      if (started) {
        this.track(started);
        this.launching.add(started.workflowId);
        this.event(now, `${started.kind === 'inboundSync' ? 'inbound sync' : 'full sync'} ${started.workflowId} started${started.dryRun ? ' (dry run)' : ''}`);
        return { kind: 'startRun', run: started };
      }
      if (!draining && this.reconciling.size + this.reconcilingGroups.size < this.options.maxConcurrentReconciles) {
        for (const [key, change] of this.pending) {
          if (this.reconciling.has(key)) continue;
          return { kind: 'reconcileUser', workflowId: this.beginUserReconcile(change), change };
        }
        for (const [key, change] of this.pendingGroups) {
          if (this.reconcilingGroups.has(key)) continue;
          this.pendingGroups.delete(key);
          this.reconcilingGroups.add(key);
          this.touch();
          return { kind: 'reconcileGroup', workflowId: this.nextId('reconcileGroup'), change };
        }
      }
    }
    // Ops work due now was handed out by nextOpsAction just before; only later retries need a timer.
    const retries = [this.state.auditOutbox.length && this.auditRetryAt > now ? this.auditRetryAt : null, this.state.notifyOutbox.length && this.notifyRetryAt > now ? this.notifyRetryAt : null];
    const wakeAt = [blocked ? null : this.state.nextFullSyncAt, this.nextRunCheckAt, ...retries].filter((t): t is number => t !== null);
    return wakeAt.length ? { kind: 'wait', untilMs: Math.min(...wakeAt) } : { kind: 'wait' };
  }

  private nextSync(now: number, config: ConnectionConfig): TrackedRun | undefined {
    if (this.syncRunning()) return undefined;
    if (this.state.inboundRequest) {
      const request = this.state.inboundRequest;
      this.state.inboundRequest = null;
      // The inbound rule may have been deleted while the outbound half ran.
      if (inboundRules(config).length > 0) return { kind: 'inboundSync', workflowId: this.nextId('inboundSync'), startedAt: new Date(now).toISOString(), dryRun: request.dryRun, byHand: false };
    }
    const due = this.state.nextFullSyncAt !== null && now >= this.state.nextFullSyncAt;
    if (!this.state.syncRequest && !due) return undefined;
    const request = this.state.syncRequest ?? { dryRun: false };
    this.state.syncRequest = null;
    if (!request.dryRun) this.state.nextFullSyncAt = now + config.fullSyncIntervalMinutes * this.options.minuteMs;
    return this.syncFor(now, request, config);
  }

  /** Continue-as-new waits until no reconcile, audit write or delivery runs; queued changes travel in the carried state. */
  readyToContinueAsNew(): boolean {
    return this.reconciling.size === 0 && this.reconcilingGroups.size === 0 && this.launching.size === 0 && !this.auditInFlight && !this.notifyInFlight;
  }

  // ---- audit trail and notifications ----------------------------------------------------------

  private recordAudit(now: number, action: AuditAction, actor: AuditActor, extra: { target?: string; reason?: string; diff?: ReturnType<typeof auditDiff> }): void {
    this.state.auditSeq += 1;
    const entry: AuditEntry = {
      seq: this.state.auditSeq,
      at: new Date(now).toISOString(),
      connectionId: this.connectionId,
      action,
      actor,
      ...(extra.target ? { target: extra.target } : {}),
      ...(extra.reason ? { reason: extra.reason } : {}),
      changes: extra.diff?.changes ?? [],
      ...(extra.diff?.omitted ? { changesOmitted: extra.diff.omitted } : {}),
    };
    this.state.audit = [...this.state.audit, entry].slice(-MAX_AUDIT_KEPT);
    const outbox = [...this.state.auditOutbox, entry];
    if (outbox.length > MAX_AUDIT_OUTBOX) this.event(now, `audit sink is behind: ${outbox.length - MAX_AUDIT_OUTBOX} entries dropped before they were written (check DUO_SYNC_AUDIT_FILE on the workers)`);
    this.state.auditOutbox = outbox.slice(-MAX_AUDIT_OUTBOX);
    this.touch();
  }

  /** The entries the entity keeps, oldest first (the last `limit`). */
  auditEntries(limit?: number): AuditEntry[] {
    return limit === undefined ? [...this.state.audit] : this.state.audit.slice(-limit);
  }

  /** A deletion decision forwarded to its run: recorded as an event and in the audit trail. */
  /** A run's trashed users were restored (restoreDeletions): audited with who asked. */
  deletionsRestored(now: number, runId: string, result: { restored: number; skipped: number; failed: number }, actor: AuditActor = WEB_UI): void {
    this.recordAudit(now, 'restoreDeletions', actor, { target: runId, diff: auditDiff(undefined, { restored: result.restored, skipped: result.skipped, failed: result.failed }) });
    this.event(now, `restored ${result.restored} user(s) from Trash for ${runId} (${result.skipped} skipped, ${result.failed} failed)`);
  }

  deletionsDecided(now: number, decision: DeletionDecision, actor: AuditActor = WEB_UI): void {
    this.recordAudit(now, decision.decision === 'approve' ? 'approveDeletions' : 'skipDeletions', actor, { target: decision.runId, diff: auditDiff(undefined, { deletionSetHash: decision.deletionSetHash }) });
    this.event(now, `deletions ${decision.decision === 'approve' ? 'approved' : 'skipped'} for ${decision.runId}`);
  }

  /** Queues a notification when some webhook wants the event. */
  private notify(now: number, event: NotificationEvent, text: string, details: Notification['details']): void {
    const webhookIds = webhooksFor(this.state.config?.notifications, event).map((w) => w.id);
    if (webhookIds.length === 0) return;
    this.state.notifySeq += 1;
    const notification: Notification = { id: `${this.connectionId}/${this.state.notifySeq}`, event, connectionId: this.connectionId, at: new Date(now).toISOString(), text: text.slice(0, 3000), details };
    const outbox = [...this.state.notifyOutbox, { notification, webhookIds }];
    if (outbox.length > MAX_NOTIFY_OUTBOX) this.event(now, `notifications are behind: ${outbox.length - MAX_NOTIFY_OUTBOX} dropped unsent`);
    this.state.notifyOutbox = outbox.slice(-MAX_NOTIFY_OUTBOX);
    this.touch();
  }

  /**
   * Background work for operators, asked before `nextAction` on every turn of the loop: write
   * audit entries to the sink, deliver notifications. Never blocks runs or reconciles.
   */
  nextOpsAction(now: number): OpsAction | undefined {
    if (this.state.auditOutbox.length > 0 && !this.auditInFlight && now >= this.auditRetryAt) {
      this.auditInFlight = true;
      return { kind: 'writeAudit', entries: [...this.state.auditOutbox] };
    }
    if (this.state.notifyOutbox.length > 0 && !this.notifyInFlight && now >= this.notifyRetryAt) {
      const deliveries = (this.state.config?.notifications?.webhooks ?? [])
        .map((webhook) => ({ webhook, notifications: this.state.notifyOutbox.filter((o) => o.webhookIds.includes(webhook.id)).map((o) => o.notification) }))
        .filter((d) => d.notifications.length > 0);
      if (deliveries.length === 0) {
        this.state.notifyOutbox = [];
      } else {
        this.notifyInFlight = true;
        return { kind: 'notify', deliveries };
      }
    }
    return undefined;
  }

  /** A deleted connection is done when every rule deletion succeeded and its audit trail is written. */
  private deletionFinished(): boolean {
    const deleting = this.state.deleting;
    return deleting !== null && deleting.retryRules.length === 0 && this.state.tracked.length === 0 && this.state.auditOutbox.length === 0 && this.readyToContinueAsNew();
  }

  /** The audit sink wrote every entry up to `seq`. */
  auditWritten(seq: number): void {
    this.auditInFlight = false;
    this.state.auditOutbox = this.state.auditOutbox.filter((e) => e.seq > seq);
    this.touch();
  }

  auditWriteFailed(now: number, reason: string): void {
    this.auditInFlight = false;
    this.auditRetryAt = now + OPS_RETRY_MINUTES * this.options.minuteMs;
    this.event(now, `audit sink failed (${reason}); ${this.state.auditOutbox.length} entries wait, next try in ${OPS_RETRY_MINUTES} minutes`);
  }

  /**
   * Deliveries ended: sent notifications leave the queue. A webhook that failed after its
   * activity's retries is recorded as an event, and its notifications are tried again later.
   */
  notificationsDelivered(now: number, outcomes: readonly { webhookId: string; sent: readonly string[]; error?: string }[]): void {
    this.notifyInFlight = false;
    const delivered = new Set(outcomes.filter((o) => o.error === undefined).flatMap((o) => o.sent.map((id) => `${o.webhookId} ${id}`)));
    for (const o of outcomes) if (o.error !== undefined) this.event(now, `webhook ${o.webhookId} failed: ${o.error}`);
    // Webhooks no longer configured owe nothing.
    const configured = new Set((this.state.config?.notifications?.webhooks ?? []).map((w) => w.id));
    this.state.notifyOutbox = this.state.notifyOutbox
      .map((o) => ({ ...o, webhookIds: o.webhookIds.filter((w) => configured.has(w) && !delivered.has(`${w} ${o.notification.id}`)) }))
      .filter((o) => o.webhookIds.length > 0);
    if (outcomes.some((o) => o.error !== undefined)) this.notifyRetryAt = now + OPS_RETRY_MINUTES * this.options.minuteMs;
    this.touch();
  }

  carry(): CarriedEntity {
    return { ...this.state, pending: [...this.pending.values()], pendingGroups: [...this.pendingGroups.values()] };
  }

  status(): ConnectionStatus {
    const s = this.state;
    const running = this.syncRunning();
    const progressOf = (workflowId: string): RunProgress =>
      s.progress.find((p) => p.workflowId === workflowId) ?? { workflowId, phase: 'upsert', pagesDone: 0, usersSeen: 0, counts: { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0 } };
    const progress = running ? progressOf(running.workflowId) : undefined;
    return {
      connectionId: this.connectionId,
      ...(s.config?.description ? { description: s.config.description } : {}),
      configured: Boolean(s.config),
      enabled: s.config?.enabled ?? false,
      paused: s.paused,
      ...(s.pauseReason ? { pauseReason: s.pauseReason } : {}),
      ...(s.connectionTest ? { connectionTest: s.connectionTest } : {}),
      rules: (s.config?.rules ?? []).map((r) => ({ id: r.id, direction: r.direction, ...(r.description ? { description: r.description } : {}) })),
      ...(s.deleting ? { deleting: { requestedAt: s.deleting.requestedAt, failedRuleDeletions: s.deleting.retryRules.map((r) => r.id) } } : {}),
      notificationsQueued: s.notifyOutbox.length,
      ...(progress ? { currentRun: progress } : {}),
      runsInFlight: s.tracked.map((t) => ({ kind: t.kind, workflowId: t.workflowId, startedAt: t.startedAt, progress: progressOf(t.workflowId) })),
      syncQueued: s.syncRequest !== null || s.inboundRequest !== null,
      ...(s.nextFullSyncAt !== null ? { nextFullSyncAt: new Date(s.nextFullSyncAt).toISOString() } : {}),
      lastRuns: s.lastRuns,
      pendingChanges: this.pending.size + this.pendingGroups.size,
      reconcilesInFlight: this.reconciling.size + this.reconcilingGroups.size,
      lastGoodInScopeByRule: s.lastGoodInScopeByRule,
      recentEvents: s.events,
    };
  }
}
