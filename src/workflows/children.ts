/**
 * How the entity starts its children. Syncs and rule deletions are started and left to run
 * (ParentClosePolicy.ABANDON: they outlive a continue-as-new of the entity) and report back with
 * `runFinished`; reconciles are short and awaited, because `syncUser` answers with their result.
 * Every child takes only ids and flags: it claims its configuration from the entity.
 */
import { ParentClosePolicy, startChild } from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import { runSearchAttributes } from './run-support';
import { deleteRuleSummary, fullSyncSummary, inboundSyncSummary, reconcileGroupSummary, reconcileSummary } from '../contract/ui-text';
import type { GroupChange, UserChange } from '../contract';
import type { ConnectionEntity, TrackedRun } from '../domain/entity/connection-entity';
import type { RunSummary } from '../domain/summary';
import { deleteRuleWorkflow } from './delete-rule';
import { failureMessage } from './failures';
import { fullSyncWorkflow } from './full-sync';
import { inboundSyncWorkflow } from './inbound-sync';
import { reconcileGroupWorkflow } from './reconcile-group';
import { reconcileUserWorkflow } from './reconcile-user';

type Clock = () => number;

export async function startRunChild(entity: ConnectionEntity, run: TrackedRun, now: Clock): Promise<void> {
  const connectionId = entity.connectionId;
  const common = { workflowId: run.workflowId, parentClosePolicy: ParentClosePolicy.ABANDON, typedSearchAttributes: runSearchAttributes(connectionId, run.kind) };
  const scope = { dryRun: run.dryRun, ...(run.ruleId ? { ruleId: run.ruleId } : {}) };
  try {
    if (run.kind === 'fullSync') {
      await startChild(fullSyncWorkflow, { ...common, staticSummary: fullSyncSummary(connectionId, scope), args: [{ connectionId, ...scope }] });
    } else if (run.kind === 'inboundSync') {
      await startChild(inboundSyncWorkflow, { ...common, staticSummary: inboundSyncSummary(connectionId, scope), args: [{ connectionId, ...scope }] });
    } else {
      const ruleId = run.ruleId ?? '';
      const deprovision = entity.config?.userActions.deprovisionOnRuleDeletion ?? false;
      await startChild(deleteRuleWorkflow, { ...common, staticSummary: deleteRuleSummary(connectionId, ruleId, deprovision), args: [{ connectionId, ruleId }] });
    }
  } catch (err) {
    entity.runNotStarted(now(), run.workflowId, failureMessage(err));
  } finally {
    entity.runLaunched(run.workflowId);
  }
}

export async function reconcileUserChild(entity: ConnectionEntity, workflowId: string, change: UserChange, now: Clock): Promise<RunSummary> {
  const connectionId = entity.connectionId;
  const startedAt = new Date(now()).toISOString();
  try {
    const handle = await startChild(reconcileUserWorkflow, {
      workflowId,
      staticSummary: reconcileSummary(connectionId, change.username),
      args: [{ connectionId, username: change.username, ...(change.previousUsername ? { previousUsername: change.previousUsername } : {}), ...(change.ruleId ? { ruleId: change.ruleId } : {}) }],
      typedSearchAttributes: runSearchAttributes(connectionId, 'reconcileUser'),
    });
    const { summary } = await handle.result();
    if (summary.failed > 0) entity.recordRun({ kind: 'reconcileUser', workflowId, startedAt, finishedAt: new Date(now()).toISOString(), outcome: 'partial', counts: summary });
    return summary;
  } catch (err) {
    entity.recordRun({ kind: 'reconcileUser', workflowId, startedAt, finishedAt: new Date(now()).toISOString(), outcome: 'failed', note: failureMessage(err) });
    throw ApplicationFailure.nonRetryable(`reconcile of ${change.username} failed: ${failureMessage(err)}`, 'ReconcileFailed');
  } finally {
    entity.endUserReconcile(change.username);
  }
}

export async function reconcileGroupChild(entity: ConnectionEntity, workflowId: string, change: GroupChange, now: Clock): Promise<void> {
  const connectionId = entity.connectionId;
  const startedAt = new Date(now()).toISOString();
  try {
    const handle = await startChild(reconcileGroupWorkflow, {
      workflowId,
      args: [{ connectionId, group: change.group, ...(change.ruleId ? { ruleId: change.ruleId } : {}) }],
      staticSummary: reconcileGroupSummary(connectionId, change.group),
      typedSearchAttributes: runSearchAttributes(connectionId, 'reconcileGroup'),
    });
    const result = await handle.result();
    entity.recordRun({ kind: 'reconcileGroup', workflowId, startedAt, finishedAt: new Date(now()).toISOString(), outcome: result.outcome, counts: result.summary, note: `group ${change.group}` });
  } catch (err) {
    entity.recordRun({ kind: 'reconcileGroup', workflowId, startedAt, finishedAt: new Date(now()).toISOString(), outcome: 'failed', note: `group ${change.group}: ${failureMessage(err)}` });
    entity.event(now(), `reconcile of group ${change.group} failed: ${failureMessage(err)}`);
  } finally {
    entity.endGroupReconcile(change);
  }
}
