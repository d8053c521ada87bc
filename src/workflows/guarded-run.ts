/**
 * What the full sync and the inbound sync share as guarded, paged runs: the progress they show
 * (`progress` query, current details, progress signals to the connection workflow), phase changes
 * with notes, and the deletion guard with its approval wait (DESIGN §4). Each workflow keeps its
 * own passes and state; this module works on the fields they have in common.
 */
import { condition, getExternalWorkflowHandle, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ConnectionConfig } from '../domain/connection';
import { evaluateDeletionGuard } from '../domain/guards';
import { z } from 'zod';
import { EMPTY_HASH } from '../domain/guards';
import { emptySummary, RunSummarySchema } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { approveDeletionsSignal, fullSyncProgressSignal, progressQuery, type FullSyncPhase, type FullSyncProgress } from './definitions';
import { failureMessage } from './failures';

const PROGRESS_EVERY_PAGES = 5;
const MAX_NOTES = 20;

/** The carried fields both syncs have; each workflow extends it with its own cursors. */
export const GuardedRunStateSchema = z.object({
  phase: z.enum(['upsert', 'deprovisionPlan', 'awaitingApproval', 'deprovisionApply', 'done']),
  pagesDone: z.number().int().min(0),
  usersSeen: z.number().int().min(0),
  readComplete: z.boolean(),
  summary: RunSummarySchema,
  ownedCount: z.number().int().min(0),
  plannedDeletions: z.number().int().min(0),
  deletionSetHash: z.string(),
  deletionBudget: z.number().int().min(0),
  notes: z.array(z.string()).max(MAX_NOTES),
});
export type GuardedRunState = z.infer<typeof GuardedRunStateSchema>;

/** The common fields of a run that has just started. */
export function freshGuardedRunState(): GuardedRunState {
  return {
    phase: 'upsert',
    pagesDone: 0,
    usersSeen: 0,
    readComplete: true,
    summary: emptySummary(),
    ownedCount: 0,
    plannedDeletions: 0,
    deletionSetHash: EMPTY_HASH,
    deletionBudget: 0,
    notes: [],
  };
}

type Approval = { deletionSetHash?: string; decision: 'approve' | 'skip' };

/**
 * Registers the `progress` query and the approval signal (call it first, before any await) and
 * returns the run's reporting and guard steps. `describe` turns progress into the run's current details.
 */
export function guardedRun(s: GuardedRunState, describe: (p: FullSyncProgress) => string) {
  const info = workflowInfo();
  let approval: Approval | null = null;

  const lastNote = (): string | undefined => s.notes[s.notes.length - 1];
  const progress = (): FullSyncProgress => ({
    workflowId: info.workflowId,
    phase: s.phase,
    pagesDone: s.pagesDone,
    usersSeen: s.usersSeen,
    summary: s.summary,
    ...(s.phase === 'awaitingApproval'
      ? { awaitingApproval: { plannedDeletions: s.plannedDeletions, ownedCount: s.ownedCount, deletionSetHash: s.deletionSetHash, reason: lastNote() ?? '' } }
      : {}),
    ...(s.notes.length ? { note: lastNote() } : {}),
  });
  setHandler(progressQuery, progress);
  setHandler(approveDeletionsSignal, (decision) => {
    if (s.phase === 'awaitingApproval') approval = decision;
  });

  const report = async (force = false): Promise<void> => {
    setCurrentDetails(describe(progress()));
    const parent = info.parent;
    if (parent && (force || s.pagesDone % PROGRESS_EVERY_PAGES === 0)) {
      try {
        await getExternalWorkflowHandle(parent.workflowId).signal(fullSyncProgressSignal, progress());
      } catch (err) {
        // Progress is a courtesy: a parent that is gone (terminated, being reset) must not fail the sync.
        log.warn('could not report progress to the connection workflow', { parent: parent.workflowId, error: failureMessage(err) });
      }
    }
  };
  const note = (text: string): void => {
    s.notes = [...s.notes, text].slice(-MAX_NOTES);
  };
  const enterPhase = async (phase: FullSyncPhase, text?: string): Promise<void> => {
    s.phase = phase;
    if (text) note(text);
    await report(true);
  };

  /** After planning some deletions: apply them, or stop at the guard (a dry run only says it would). */
  const decideDeletions = async (config: ConnectionConfig, dryRun: boolean): Promise<void> => {
    s.deletionBudget = s.plannedDeletions;
    const guard = evaluateDeletionGuard({
      ownedCount: s.ownedCount,
      plannedDeletions: s.plannedDeletions,
      maxFraction: config.deletionGuard.maxFraction,
      maxCount: config.deletionGuard.maxCount,
    });
    if (guard.allowed) {
      await enterPhase('deprovisionApply');
    } else if (dryRun) {
      await enterPhase('done', `dry run: the deletion guard would stop this run: ${guard.reason}`);
    } else {
      await enterPhase('awaitingApproval', `deletion guard: ${guard.reason}; send approveDeletions with runId ${info.workflowId} and deletionSetHash ${s.deletionSetHash} to apply`);
    }
  };

  /** Waits in `awaitingApproval` for approveDeletions naming this run's deletion set, or times out and skips them. */
  const awaitApproval = async (config: ConnectionConfig): Promise<void> => {
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'awaitingApproval' }]);
    const decided = await condition(() => approval !== null, `${config.deletionGuard.approvalTimeoutMinutes} minutes`);
    const decision = approval as Approval | null;
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'running' }]);
    if (!decided || !decision) {
      await enterPhase('done', `no approval within ${config.deletionGuard.approvalTimeoutMinutes} minutes: ${s.plannedDeletions} deprovisions skipped`);
    } else if (decision.decision === 'skip') {
      await enterPhase('done', `deletions skipped by operator: ${s.plannedDeletions} deprovisions not applied`);
    } else if (decision.deletionSetHash && decision.deletionSetHash !== s.deletionSetHash) {
      await enterPhase('done', `approval named deletion set ${decision.deletionSetHash} but this run planned ${s.deletionSetHash}: nothing deprovisioned`);
    } else {
      await enterPhase('deprovisionApply', `deletions approved: ${s.plannedDeletions} deprovisions`);
    }
  };

  return { report, note, enterPhase, decideDeletions, awaitApproval };
}
