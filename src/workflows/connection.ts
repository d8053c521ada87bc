/**
 * connectionWorkflow (id `connection/<connectionId>`): the long-lived entity of one connection.
 * Handlers only validate and record intent in ConnectionState; one loop starts children:
 * a full sync on schedule or on demand (never two at once), per-user reconciles for changed users
 * and per-group reconciles for changed groups (each ordered per key, coalesced, bounded), rule deletions. It continues-as-new when history grows,
 * after draining handlers and reconciles, carrying everything (including runs still in flight).
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  setCurrentDetails,
  patched,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, inboundRules, outboundRules, RuleSchema, SlugSchema } from '../domain/connection';
import { DuoSyncConnection, DuoSyncKind } from '../shared/search-attributes';
import { runSearchAttributes } from './run-support';
import { shortActivities, waitActivities } from './activity-options';
import { CarriedConnectionStateSchema, ConnectionState, groupChangeKey, type TrackedRun } from './connection-state';
import {
  ApproveDeletionsSchema,
  approveDeletionsSignal,
  approveDeletionsUpdate,
  configQuery,
  configureUpdate,
  DeleteRuleSchema,
  deleteRuleUpdate,
  fullSyncProgressSignal,
  GroupChangeSchema,
  groupChangedSignal,
  groupDeletedSignal,
  MembershipChangeSchema,
  membershipChangedSignal,
  PauseSchema,
  pauseSignal,
  resumeSignal,
  statusQuery,
  SyncNowSchema,
  syncNowSignal,
  syncNowUpdate,
  syncUserUpdate,
  testConnectionUpdate,
  UserChangeSchema,
  userChangedSignal,
  userDeletedSignal,
  upsertRuleUpdate,
  type GroupChange,
  type RunOutcome,
} from './definitions';
import { deleteRuleWorkflow, type DeleteRuleResult } from './delete-rule';
import { describeIssues, failureMessage, invalidInput } from './failures';
import { fullSyncWorkflow, type FullSyncResult } from './full-sync';
import { reconcileGroupWorkflow } from './reconcile-group';
import { inboundSyncWorkflow } from './inbound-sync';
import { reconcileUserWorkflow } from './reconcile-user';
import { deleteRuleSummary, describeConnection, fullSyncSummary, inboundSyncSummary, reconcileGroupSummary, reconcileSummary } from './ui-text';

export const ConnectionWorkflowInputSchema = z
  .object({
    connectionId: SlugSchema,
    config: ConnectionConfigSchema.optional(),
    carried: CarriedConnectionStateSchema.optional(),
    /** Tuning for tests; defaults suit production. */
    maxConcurrentReconciles: z.number().int().min(1).max(100).default(10),
    historyEventBudget: z.number().int().min(100).max(40_000).default(10_000),
  })
  .strict();
export type ConnectionWorkflowInput = z.input<typeof ConnectionWorkflowInputSchema>;

const MAX_UPDATES_PER_RUN = 1_000;

export async function connectionWorkflow(rawInput: ConnectionWorkflowInput): Promise<void> {
  const parsed = ConnectionWorkflowInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('connectionWorkflow', parsed.error);
  const input = parsed.data;
  const info = workflowInfo();
  const expectedId = `connection/${input.connectionId}`;
  if (info.workflowId !== expectedId) {
    throw ApplicationFailure.nonRetryable(`connectionWorkflow for ${input.connectionId} must run with workflow id ${expectedId}`, 'InvalidInput');
  }
  const carried = CarriedConnectionStateSchema.parse(input.carried ?? {});
  const state = new ConnectionState(input.connectionId, { ...carried, config: carried.config ?? input.config });
  if (state.config && state.config.connectionId !== input.connectionId) {
    throw ApplicationFailure.nonRetryable(`config.connectionId ${state.config.connectionId} does not match ${input.connectionId}`, 'InvalidInput');
  }
  let updatesThisRun = 0;
  let draining = false;
  const nowIso = (): string => new Date().toISOString();

  upsertSearchAttributes([
    { key: DuoSyncConnection, value: input.connectionId },
    { key: DuoSyncKind, value: 'connection' },
  ]);

  // ---- handlers: registered before the first await so no update is rejected for lack of one ----
  const validated = <T>(schema: z.ZodType<T>, what: string, value: unknown): T => {
    const result = schema.safeParse(value);
    if (!result.success) throw ApplicationFailure.nonRetryable(`invalid ${what}: ${describeIssues(result.error)}`, 'InvalidInput');
    return result.data;
  };
  const countUpdate = (): void => {
    updatesThisRun += 1;
    state.touch();
  };
  const needsConfig = (): void => {
    if (!state.config) throw ApplicationFailure.nonRetryable('connection is not configured yet: send the configure update first', 'NotConfigured');
  };

  setHandler(statusQuery, () => state.status());
  setHandler(configQuery, () => state.config ?? null);

  setHandler(
    configureUpdate,
    async (config) => {
      countUpdate();
      const parsedConfig = validated(ConnectionConfigSchema, 'configuration', config);
      state.config = parsedConfig;
      state.event(nowIso(), `configuration updated (${parsedConfig.rules.length} rules, enabled=${parsedConfig.enabled})`);
      await runConnectionTest();
      if (state.nextFullSyncAt === null) state.nextFullSyncAt = Date.now();
      return { applied: true as const, rules: parsedConfig.rules.length };
    },
    {
      validator: (config) => {
        const result = ConnectionConfigSchema.safeParse(config);
        if (!result.success) throw ApplicationFailure.nonRetryable(`invalid configuration: ${describeIssues(result.error)}`, 'InvalidInput');
        if (result.data.connectionId !== input.connectionId) {
          throw ApplicationFailure.nonRetryable(`configuration is for ${result.data.connectionId}, not ${input.connectionId}`, 'InvalidInput');
        }
      },
    },
  );

  setHandler(
    upsertRuleUpdate,
    (rule) => {
      countUpdate();
      const rules = state.upsertRule(validated(RuleSchema, 'rule', rule));
      state.event(nowIso(), `rule ${rule.id} saved`);
      return { applied: true as const, rules };
    },
    {
      validator: (rule) => {
        needsConfig();
        const parsedRule = validated(RuleSchema, 'rule', rule);
        // Rules that are valid alone can still break the connection (a second inbound rule), and an
        // invalid saved config would fail to parse after continue-as-new: check the result as a whole.
        const rules = [...(state.config?.rules ?? []).filter((r) => r.id !== parsedRule.id), parsedRule];
        validated(ConnectionConfigSchema, 'rule', { ...state.config, rules });
      },
    },
  );

  setHandler(
    deleteRuleUpdate,
    async (request) => {
      countUpdate();
      const { ruleId } = validated(DeleteRuleSchema, 'deleteRule request', request);
      const rule = state.removeRule(ruleId);
      if (!rule || !state.config) throw ApplicationFailure.nonRetryable(`rule ${ruleId} does not exist`, 'UnknownRule');
      const workflowId = state.nextId('delete-rule');
      await startChild(deleteRuleWorkflow, {
        workflowId,
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: deleteRuleSummary(input.connectionId, ruleId, state.config.userActions.deprovisionOnRuleDeletion),
        args: [{ connectionId: input.connectionId, config: state.config, rule }],
        typedSearchAttributes: runSearchAttributes(input.connectionId, 'deleteRule'),
      });
      track({ kind: 'deleteRule', workflowId, startedAt: nowIso(), dryRun: false });
      state.event(nowIso(), `rule ${ruleId} deleted; ${workflowId} ${state.config.userActions.deprovisionOnRuleDeletion ? 'deprovisions' : 'releases'} its users`);
      return { workflowId };
    },
    {
      validator: (request) => {
        needsConfig();
        const { ruleId } = validated(DeleteRuleSchema, 'deleteRule request', request);
        if (!state.config?.rules.some((r) => r.id === ruleId)) throw ApplicationFailure.nonRetryable(`rule ${ruleId} does not exist`, 'UnknownRule');
      },
    },
  );

  setHandler(
    testConnectionUpdate,
    async () => {
      countUpdate();
      return runConnectionTest();
    },
    { validator: needsConfig },
  );

  setHandler(
    syncNowUpdate,
    async (request) => {
      countUpdate();
      const req = validated(SyncNowSchema, 'syncNow request', request ?? {});
      const running = state.fullSyncRunning();
      state.requestSync({ dryRun: req.dryRun, ...(req.ruleId ? { ruleId: req.ruleId } : {}) });
      state.event(nowIso(), `sync requested${req.reason ? `: ${req.reason}` : ''}${req.dryRun ? ' (dry run)' : ''}`);
      if (running) return { workflowId: running.workflowId, queued: true };
      await condition(() => state.fullSyncRunning() !== undefined || state.blockedReason() !== null);
      const started = state.fullSyncRunning();
      if (!started) throw ApplicationFailure.nonRetryable(`sync not started: ${state.blockedReason()}`, 'NotProvisioning');
      return { workflowId: started.workflowId, queued: false };
    },
    {
      validator: (request) => {
        validated(SyncNowSchema, 'syncNow request', request ?? {});
        const blocked = state.blockedReason();
        if (blocked) throw ApplicationFailure.nonRetryable(`cannot sync: ${blocked}`, 'NotProvisioning');
      },
    },
  );

  setHandler(
    syncUserUpdate,
    async (request) => {
      countUpdate();
      const change = validated(UserChangeSchema, 'syncUser request', request);
      const key = change.username.toLowerCase();
      // Per-user order: wait for an in-flight reconcile of the same user, and absorb its queued change.
      await condition(() => !state.reconciling.has(key));
      state.pending.delete(key);
      return runReconcile(change);
    },
    {
      validator: (request) => {
        validated(UserChangeSchema, 'syncUser request', request);
        const blocked = state.blockedReason();
        if (blocked) throw ApplicationFailure.nonRetryable(`cannot sync user: ${blocked}`, 'NotProvisioning');
      },
    },
  );

  setHandler(
    approveDeletionsUpdate,
    async (request) => {
      countUpdate();
      const approval = validated(ApproveDeletionsSchema, 'approveDeletions request', request);
      await getExternalWorkflowHandle(approval.runId).signal(approveDeletionsSignal, {
        decision: approval.decision,
        ...(approval.deletionSetHash ? { deletionSetHash: approval.deletionSetHash } : {}),
      });
      state.event(nowIso(), `deletions ${approval.decision === 'approve' ? 'approved' : 'skipped'} for ${approval.runId}`);
      return { forwardedTo: approval.runId };
    },
    {
      validator: (request) => {
        const approval = validated(ApproveDeletionsSchema, 'approveDeletions request', request);
        const current = state.currentProgress;
        if (!current || current.workflowId !== approval.runId || current.phase !== 'awaitingApproval') {
          throw ApplicationFailure.nonRetryable(`run ${approval.runId} is not awaiting deletion approval`, 'NotAwaitingApproval');
        }
        if (approval.deletionSetHash && current.awaitingApproval && approval.deletionSetHash !== current.awaitingApproval.deletionSetHash) {
          throw ApplicationFailure.nonRetryable(
            `deletionSetHash ${approval.deletionSetHash} does not match the planned set ${current.awaitingApproval.deletionSetHash}`,
            'DeletionSetMismatch',
          );
        }
      },
    },
  );

  // Signals are fire-and-forget: bad payloads are logged and dropped, never fail the workflow.
  const onSignal = <T>(schema: z.ZodType<T>, name: string, apply: (value: T) => void) => (payload: unknown) => {
    const result = schema.safeParse(payload ?? {});
    if (!result.success) {
      log.warn(`dropped invalid ${name} signal`, { reason: describeIssues(result.error) });
      state.event(nowIso(), `dropped invalid ${name} signal: ${describeIssues(result.error)}`);
      return;
    }
    apply(result.data);
  };
  setHandler(userChangedSignal, onSignal(UserChangeSchema, 'userChanged', (c) => state.addChange(c)));
  setHandler(userDeletedSignal, onSignal(UserChangeSchema, 'userDeleted', (c) => state.addChange(c)));
  // Group signals coalesce per group and run reconcileGroupWorkflow; a membership change is a user reconcile.
  setHandler(groupChangedSignal, onSignal(GroupChangeSchema, 'groupChanged', (c) => state.addGroupChange(c)));
  setHandler(groupDeletedSignal, onSignal(GroupChangeSchema, 'groupDeleted', (c) => state.addGroupChange(c)));
  setHandler(membershipChangedSignal, onSignal(MembershipChangeSchema, 'membershipChanged', (c) => state.addChange({ username: c.username })));
  setHandler(syncNowSignal, onSignal(SyncNowSchema, 'syncNow', (r) => state.requestSync({ dryRun: r.dryRun, ...(r.ruleId ? { ruleId: r.ruleId } : {}) })));
  setHandler(
    pauseSignal,
    onSignal(PauseSchema, 'pause', (p) => {
      state.paused = true;
      state.pauseReason = p.reason;
      state.event(nowIso(), `paused${p.reason ? `: ${p.reason}` : ''}`);
    }),
  );
  setHandler(resumeSignal, () => {
    state.paused = false;
    state.pauseReason = undefined;
    state.event(nowIso(), 'resumed');
  });
  setHandler(fullSyncProgressSignal, (progress) => {
    if (state.tracked.some((t) => t.workflowId === progress?.workflowId)) {
      state.currentProgress = progress;
      state.touch();
    }
  });

  // ---- child runs ----
  async function runConnectionTest() {
    if (!state.config) throw ApplicationFailure.nonRetryable('connection is not configured yet', 'NotConfigured');
    const result = await shortActivities.testConnection({ connectionId: input.connectionId, config: state.config });
    state.connectionTest = result;
    const failed = result.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
    state.event(nowIso(), result.ok ? 'connection test passed' : `connection test failed: ${failed.join('; ')}`);
    return result;
  }

  function track(run: TrackedRun): void {
    state.tracked = [...state.tracked, run];
    state.recordRun({ kind: run.kind, workflowId: run.workflowId, startedAt: run.startedAt, outcome: 'running', dryRun: run.dryRun });
    void followTracked(run);
  }

  /** Awaits a long child through an activity, which also works after this entity continued-as-new. */
  async function followTracked(run: TrackedRun): Promise<void> {
    let outcome: RunOutcome = 'failed';
    let note: string | undefined;
    let summary: FullSyncResult['summary'] | undefined;
    try {
      const result = (await waitActivities.awaitWorkflowResult({ workflowId: run.workflowId })) as FullSyncResult | DeleteRuleResult;
      outcome = result.outcome;
      summary = result.summary;
      note = result.notes.length ? result.notes.join('; ') : undefined;
      // Any complete store read is a baseline, even when some users failed in Duo.
      if (run.kind === 'fullSync' && !run.dryRun && !run.ruleId && 'inScopeCount' in result && result.inScopeCount !== null) {
        state.lastGoodInScopeCount = result.inScopeCount;
      }
    } catch (err) {
      note = failureMessage(err);
    }
    state.tracked = state.tracked.filter((t) => t.workflowId !== run.workflowId);
    if (state.currentProgress?.workflowId === run.workflowId) state.currentProgress = undefined;
    state.recordRun({ kind: run.kind, workflowId: run.workflowId, startedAt: run.startedAt, finishedAt: nowIso(), outcome, dryRun: run.dryRun, ...(summary ? { summary } : {}), ...(note ? { note } : {}) });
    state.event(nowIso(), `${run.workflowId} finished: ${outcome}${note ? ` (${note})` : ''}`);
  }

  async function startFullSync(request: { dryRun: boolean; ruleId?: string }): Promise<void> {
    if (!state.config) return;
    const workflowId = state.nextId('full-sync');
    await startChild(fullSyncWorkflow, {
      workflowId,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: fullSyncSummary(input.connectionId, request),
      args: [
        {
          connectionId: input.connectionId,
          config: state.config,
          dryRun: request.dryRun,
          ...(request.ruleId ? { ruleId: request.ruleId } : {}),
          ...(state.lastGoodInScopeCount !== undefined ? { lastGoodInScopeCount: state.lastGoodInScopeCount } : {}),
        },
      ],
      typedSearchAttributes: runSearchAttributes(input.connectionId, 'fullSync'),
    });
    track({ kind: 'fullSync', workflowId, startedAt: nowIso(), dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}) });
    state.event(nowIso(), `full sync ${workflowId} started${request.dryRun ? ' (dry run)' : ''}`);
  }

  /**
   * A sync request: an inbound rule's id runs just that rule inbound; a request for all rules runs
   * the outbound full sync, then (via `inboundRequest`) the inbound sync. Without inbound rules this
   * is exactly startFullSync (no patch marker either), so recorded histories replay unchanged.
   */
  async function startSync(request: { dryRun: boolean; ruleId?: string }): Promise<void> {
    const config = state.config;
    if (!config) return;
    const inbound = inboundRules(config);
    // Histories recorded before inbound existed (when inbound rules were ignored) replay the old path.
    if (inbound.length === 0 || !patched('inbound-sync')) {
      await startFullSync(request);
      return;
    }
    const target = request.ruleId ? config.rules.find((r) => r.id === request.ruleId) : undefined;
    if (target?.direction === 'inbound' || (!request.ruleId && outboundRules(config).length === 0)) {
      await startInboundSync({ dryRun: request.dryRun, ...(target ? { ruleId: target.id } : {}) });
      return;
    }
    await startFullSync(request);
    if (!request.ruleId) state.inboundRequest = { dryRun: request.dryRun };
  }

  async function startInboundSync(request: { dryRun: boolean; ruleId?: string }): Promise<void> {
    if (!state.config) return;
    const workflowId = state.nextId('inbound-sync');
    await startChild(inboundSyncWorkflow, {
      workflowId,
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ connectionId: input.connectionId, config: state.config, dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}) }],
      staticSummary: inboundSyncSummary(input.connectionId, request),
      typedSearchAttributes: runSearchAttributes(input.connectionId, 'inboundSync'),
    });
    track({ kind: 'inboundSync', workflowId, startedAt: nowIso(), dryRun: request.dryRun });
    state.event(nowIso(), `inbound sync ${workflowId} started${request.dryRun ? ' (dry run)' : ''}`);
  }

  async function runReconcile(change: { username: string; ruleId?: string }) {
    const key = change.username.toLowerCase();
    state.reconciling.add(key);
    state.touch();
    const workflowId = state.nextId('reconcile');
    const startedAt = nowIso();
    try {
      const config = state.config;
      if (!config) throw ApplicationFailure.nonRetryable('connection is not configured', 'NotConfigured');
      const handle = await startChild(reconcileUserWorkflow, {
        workflowId,
        staticSummary: reconcileSummary(input.connectionId, change.username),
        args: [{ connectionId: input.connectionId, config, username: change.username, ...(change.ruleId ? { ruleId: change.ruleId } : {}) }],
        typedSearchAttributes: runSearchAttributes(input.connectionId, 'reconcileUser'),
      });
      const result = await handle.result();
      if (result.summary.failed > 0) state.recordRun({ kind: 'reconcileUser', workflowId, startedAt, finishedAt: nowIso(), outcome: 'partial', summary: result.summary });
      return result.summary;
    } catch (err) {
      state.recordRun({ kind: 'reconcileUser', workflowId, startedAt, finishedAt: nowIso(), outcome: 'failed', note: failureMessage(err) });
      throw ApplicationFailure.nonRetryable(`reconcile of ${change.username} failed: ${failureMessage(err)}`, 'ReconcileFailed');
    } finally {
      state.reconciling.delete(key);
      state.touch();
    }
  }

  async function runGroupReconcile(change: GroupChange): Promise<void> {
    const key = groupChangeKey(change);
    state.reconcilingGroups.add(key);
    state.touch();
    const workflowId = state.nextId('reconcile-group');
    const startedAt = nowIso();
    try {
      const config = state.config;
      if (!config) throw ApplicationFailure.nonRetryable('connection is not configured', 'NotConfigured');
      const handle = await startChild(reconcileGroupWorkflow, {
        workflowId,
        args: [{ connectionId: input.connectionId, config, group: change.group, ...(change.ruleId ? { ruleId: change.ruleId } : {}) }],
        staticSummary: reconcileGroupSummary(input.connectionId, change.group),
        typedSearchAttributes: runSearchAttributes(input.connectionId, 'reconcileGroup'),
      });
      const result = await handle.result();
      state.recordRun({ kind: 'reconcileGroup', workflowId, startedAt, finishedAt: nowIso(), outcome: result.outcome, summary: result.summary, note: `group ${change.group}` });
    } catch (err) {
      state.recordRun({ kind: 'reconcileGroup', workflowId, startedAt, finishedAt: nowIso(), outcome: 'failed', note: `group ${change.group}: ${failureMessage(err)}` });
      state.event(nowIso(), `reconcile of group ${change.group} failed: ${failureMessage(err)}`);
    } finally {
      state.reconcilingGroups.delete(key);
      state.touch();
    }
  }

  // Runs still in flight from the previous run of this entity are followed again.
  for (const run of state.tracked) void followTracked(run);

  // ---- main loop ----
  const shouldContinueAsNew = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > input.historyEventBudget || updatesThisRun >= MAX_UPDATES_PER_RUN;

  for (;;) {
    if (shouldContinueAsNew()) draining = true;
    if (draining) {
      // Let in-flight handlers and reconciles finish; queued changes travel in the carried state.
      await condition(() => state.reconciling.size === 0 && state.reconcilingGroups.size === 0 && allHandlersFinished());
      await continueAsNew<typeof connectionWorkflow>({ ...input, carried: state.carry() });
    }

    const blocked = state.blockedReason();
    if (!blocked && state.config) {
      const due = state.nextFullSyncAt !== null && Date.now() >= state.nextFullSyncAt;
      if (!state.fullSyncRunning() && state.inboundRequest) {
        const request = state.inboundRequest;
        state.inboundRequest = null;
        // The inbound rule may have been deleted while the outbound half ran.
        if (inboundRules(state.config).length > 0) await startInboundSync(request);
      } else if (!state.fullSyncRunning() && (state.syncRequest || due)) {
        const request = state.syncRequest ?? { dryRun: false };
        state.syncRequest = null;
        if (!request.dryRun) state.nextFullSyncAt = Date.now() + state.config.fullSyncIntervalMinutes * 60_000;
        await startSync(request);
      }
      const room = input.maxConcurrentReconciles - state.reconciling.size;
      for (const change of state.takeDispatchable(room)) {
        runReconcile(change).catch((err: unknown) => state.event(nowIso(), failureMessage(err)));
      }
      const groupRoom = input.maxConcurrentReconciles - state.reconciling.size - state.reconcilingGroups.size;
      for (const change of state.takeDispatchableGroups(groupRoom)) void runGroupReconcile(change);
    }

    setCurrentDetails(describeConnection(state.status()));
    const seen = state.version;
    const untilNextSync = state.nextFullSyncAt === null || blocked ? undefined : Math.max(1, state.nextFullSyncAt - Date.now());
    const woke = () => state.version !== seen || shouldContinueAsNew();
    if (untilNextSync === undefined) await condition(woke);
    else await condition(woke, untilNextSync);
  }
}
