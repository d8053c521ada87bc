/**
 * connectionWorkflow (id `connection/<connectionId>`): the long-lived entity of one connection.
 * All decisions live in ConnectionEntity (src/domain/entity); this file wires messages to its
 * methods and carries out its `nextAction`: start a run, reconcile a user or group, ask Temporal
 * about runs that never reported, or wait. Runs report back with `runFinished`, so nothing here (and
 * no activity) waits on a long child. See docs/architecture.md.
 */
import { ApplicationFailure, allHandlersFinished, condition, continueAsNew, getExternalWorkflowHandle, patched, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';
import {
  actorOf, approveDeletionsSignal, approveDeletionsUpdate, auditQuery, claimRunUpdate, deleteConnectionUpdate, configQuery, configureUpdate, connectionWorkflowId, ConnectionWorkflowInputSchema, deleteRuleUpdate,
  DuoSyncConnection, DuoSyncKind, groupChangedSignal, restoreDeletionsUpdate, groupDeletedSignal, membershipChangedSignal, pauseSignal, resumeSignal, runFinishedSignal, runProgressSignal,
  statusQuery, syncNowSignal, syncNowUpdate, syncUserUpdate, testConnectionUpdate, userChangedSignal, userDeletedSignal, upsertRuleUpdate, type ConnectionWorkflowInput,
} from '../contract';
import { describeConnection } from '../contract/ui-text';
import { ConnectionEntity, type CarriedEntity } from '../domain/entity/connection-entity';
import { shortActivities } from './activity-options';
import { failureMessage, parseInput } from './failures';
import { setParsedUpdateHandler } from './parsed-update';
import { reconcileGroupChild, reconcileUserChild, startRunChild } from './children';
import { carryOutOpsAction } from './operability';

const MAX_UPDATES_PER_RUN = 1_000;

export async function connectionWorkflow(rawInput: ConnectionWorkflowInput): Promise<void> {
  const input = parseInput(ConnectionWorkflowInputSchema, 'connectionWorkflow', rawInput);
  const id = input.connectionId;
  if (workflowInfo().workflowId !== connectionWorkflowId(id)) {
    throw ApplicationFailure.nonRetryable(`connectionWorkflow for ${id} must run with workflow id ${connectionWorkflowId(id)}`, 'InvalidInput');
  }
  const entity = new ConnectionEntity({ connectionId: id, minuteMs: input.minuteMs, maxConcurrentReconciles: input.maxConcurrentReconciles }, (input.carried as CarriedEntity | undefined) ?? (input.config ? { config: input.config } : {}));
  const now = (): number => Date.now();
  // Runs recorded before this patch waited for continue-as-new with the loop stopped.
  const servesUntilContinueAsNew = patched('serve-until-continue-as-new');
  let updatesThisRun = 0;
  upsertSearchAttributes([
    { key: DuoSyncConnection, value: id },
    { key: DuoSyncKind, value: 'connection' },
  ]);

  const onUpdate = <R, Args extends unknown[], P>(def: UpdateDefinition<R, Args>, parse: (raw: unknown) => P, apply: (parsed: P, by: unknown) => R | Promise<R>): void =>
    setParsedUpdateHandler(def, parse, apply, () => (updatesThisRun += 1));

  const runConnectionTest = async () => {
    const config = entity.config;
    if (!config) throw ApplicationFailure.nonRetryable('connection is not configured yet: send the configure update first', 'NotConfigured');
    const result = await shortActivities.testConnection({ connectionId: id, config });
    entity.connectionTested(now(), result);
    return result;
  };

  setHandler(statusQuery, () => entity.status());
  setHandler(configQuery, () => entity.config ?? null);
  setHandler(auditQuery, (raw) => entity.auditEntries(raw?.limit));
  onUpdate(configureUpdate, (raw) => entity.checkConfigure(raw), async (config, by) => {
    const result = entity.configure(now(), config, actorOf(by));
    await runConnectionTest();
    return result;
  });
  onUpdate(upsertRuleUpdate, (raw) => entity.checkUpsertRule(raw), (rule, by) => entity.upsertRule(now(), rule, actorOf(by)));
  onUpdate(deleteRuleUpdate, (raw) => entity.checkDeleteRule(raw), async (ruleId, by) => {
    const run = entity.deleteRule(now(), ruleId, actorOf(by));
    await startRunChild(entity, run, now);
    return { workflowId: run.workflowId };
  });
  onUpdate(deleteConnectionUpdate, (raw) => entity.checkDeleteConnection(raw), async (request, by) => {
    const { runs } = entity.deleteConnection(now(), request, actorOf(by));
    for (const run of runs) await startRunChild(entity, run, now);
    return { deletionRuns: runs.map((r) => r.workflowId), finished: runs.length === 0 };
  });
  onUpdate(testConnectionUpdate, () => entity.requireConfig(), () => runConnectionTest());
  onUpdate(syncNowUpdate, (raw) => entity.checkSyncNow(raw), async (request) => {
    const running = entity.syncRunning();
    entity.requestSync(now(), { dryRun: request.dryRun, ...(request.ruleId ? { ruleId: request.ruleId } : {}) }, request.reason);
    if (running) {
      await condition(() => entity.launchedSync() !== undefined || entity.syncRunning() === undefined);
      return { workflowId: running.workflowId, queued: true };
    }
    await condition(() => entity.launchedSync() !== undefined || entity.blockedReason() !== null);
    const started = entity.launchedSync();
    if (!started) throw ApplicationFailure.nonRetryable(`sync not started: ${entity.blockedReason()}`, 'NotProvisioning');
    return { workflowId: started.workflowId, queued: false };
  });
  onUpdate(syncUserUpdate, (raw) => entity.checkSyncUser(raw), async (change) => {
    await condition(() => !entity.userIsReconciling(change.username));
    return reconcileUserChild(entity, entity.beginUserReconcile(change), change, now);
  });
  onUpdate(approveDeletionsUpdate, (raw) => entity.checkApproveDeletions(raw), async (checked, by) => {
    // The run's own progress report can trail a client that read the run directly: give it a moment.
    await condition(() => entity.approvalReadiness(checked) !== 'pending', '1 minute');
    const decision = entity.confirmApproveDeletions(checked);
    await getExternalWorkflowHandle(decision.runId).signal(approveDeletionsSignal, decision);
    entity.deletionsDecided(now(), decision, actorOf(by));
    return { forwardedTo: decision.runId };
  });
  onUpdate(restoreDeletionsUpdate, (raw) => entity.checkRestoreDeletions(raw), async ({ runId, config }, by) => {
    const result = await shortActivities.restoreTrashedUsers({ connectionId: id, config, runId }).catch((err: unknown) => {
      throw ApplicationFailure.nonRetryable(failureMessage(err), 'RestoreFailed');
    });
    entity.deletionsRestored(now(), runId, result, actorOf(by));
    return result;
  });
  onUpdate(claimRunUpdate, (raw) => entity.checkClaimRun(raw), (request) => entity.claimRun(now(), request));

  setHandler(userChangedSignal, (raw) => entity.userChanged(now(), raw));
  setHandler(userDeletedSignal, (raw) => entity.userChanged(now(), raw, 'userDeleted'));
  setHandler(membershipChangedSignal, (raw) => entity.membershipChanged(now(), raw));
  setHandler(groupChangedSignal, (raw) => entity.groupChanged(now(), raw));
  setHandler(groupDeletedSignal, (raw) => entity.groupChanged(now(), raw, 'groupDeleted'));
  setHandler(syncNowSignal, (raw) => entity.syncNow(now(), raw));
  setHandler(pauseSignal, (raw, by) => entity.pause(now(), raw, actorOf(by)));
  setHandler(resumeSignal, (_raw, by) => entity.resume(now(), actorOf(by)));
  setHandler(runProgressSignal, (raw) => entity.runProgress(now(), raw));
  setHandler(runFinishedSignal, (raw) => entity.runFinished(now(), raw));

  const shouldContinueAsNew = (): boolean =>
    workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > input.historyEventBudget || updatesThisRun >= MAX_UPDATES_PER_RUN;

  const readyToContinueAsNew = (): boolean => entity.readyToContinueAsNew() && allHandlersFinished();

  for (;;) {
    // Draining: the loop keeps serving (a syncNow handler waits for it to start the run) but hands
    // out no new reconciles or ops work, so the entity becomes ready to continue as new.
    const draining = shouldContinueAsNew();
    if (draining) {
      if (!servesUntilContinueAsNew) await condition(readyToContinueAsNew);
      if (readyToContinueAsNew()) {
        await continueAsNew<typeof connectionWorkflow>({ connectionId: id, carried: entity.carry(), maxConcurrentReconciles: input.maxConcurrentReconciles, historyEventBudget: input.historyEventBudget, minuteMs: input.minuteMs });
      }
    }
    const ops = draining ? undefined : entity.nextOpsAction(now());
    if (ops) carryOutOpsAction(entity, ops, now);
    const action = entity.nextAction(now(), { draining });
    if (action.kind === 'startRun') {
      await startRunChild(entity, action.run, now);
    } else if (action.kind === 'reconcileUser') {
      reconcileUserChild(entity, action.workflowId, action.change, now).catch((err: unknown) => entity.event(now(), err instanceof Error ? err.message : String(err)));
    } else if (action.kind === 'reconcileGroup') {
      void reconcileGroupChild(entity, action.workflowId, action.change, now);
    } else if (action.kind === 'checkRuns') {
      entity.runsClosed(now(), await shortActivities.closedRuns({ workflowIds: action.workflowIds }));
    } else if (action.kind === 'finish') {
      // Connection deleted: every rule deletion succeeded and the audit trail is written.
      await condition(allHandlersFinished);
      return;
    } else {
      setCurrentDetails(describeConnection(entity.status()));
      const seen = entity.version;
      const woke = servesUntilContinueAsNew ? () => entity.version !== seen || (shouldContinueAsNew() && readyToContinueAsNew()) : () => entity.version !== seen || shouldContinueAsNew();
      if (action.untilMs === undefined) await condition(woke);
      else await condition(woke, Math.max(1, action.untilMs - now()));
    }
  }
}
