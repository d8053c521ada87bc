/**
 * The one driver of duo-sync's paged, guarded runs (full sync, inbound sync, rule deletion):
 * an optional upsert pass, then a deprovision plan that lists exactly which objects would go, the
 * deletion guard (above its threshold the run waits for `approveDeletions` naming that set's hash),
 * a second health check, and an apply pass over the approved list only. Objects that qualify only
 * after the plan wait for the next run; objects that no longer qualify are skipped by the apply
 * activity. Progress goes to the `progress` query, the run's current details and (counters only)
 * the entity. Each workflow supplies its pages as callbacks that move its own cursors.
 */
import { condition, getExternalWorkflowHandle, log, setCurrentDetails, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { approveDeletionsSignal, connectionWorkflowId, DeletionDecisionSchema, DuoSyncOutcome, progressQuery, runProgressSignal, type DeletionDecision, type RunClaim, type RunOutcome, type RunPhase, type RunProgress } from '../contract';
import { ConnectionConfigSchema, RuleSchema } from '../domain/connection';
import { deletionSetHash, EMPTY_HASH, evaluateDeletionGuard } from '../domain/guards';
import { countsOf, emptySummary, mergeSummary, RunSummarySchema, type RunSummary } from '../domain/summary';
import { failureMessage } from './failures';

const PROGRESS_EVERY_PAGES = 5;
const MAX_NOTES = 20;
/** Objects re-checked and deprovisioned per apply activity. */
const APPLY_BATCH = 50;
/** A plan longer than this is cut: the rest waits for the next run (and a larger plan needs a human anyway). */
export const MAX_PLANNED_DELETIONS = 10_000;

/** A run's claim as carried through continue-as-new: the run keeps the configuration it started with. */
export const ClaimSchema = z.object({
  config: ConnectionConfigSchema,
  lastGoodInScopeByRule: z.record(z.string(), z.number().int().min(0)),
  minuteMs: z.number().int().positive(),
  deletedRule: RuleSchema.optional(),
});

export const CandidateSchema = z.object({ id: z.string().min(1), label: z.string() }).strict();
export type Candidate = z.infer<typeof CandidateSchema>;

/** Planned adoptions share the change list (and its hash) with deletions; their ids say which they are. */
export function isAdoption(c: Candidate): boolean {
  return c.id.startsWith('adopt:');
}

export const GuardedRunStateSchema = z.object({
  phase: z.enum(['upsert', 'deprovisionPlan', 'awaitingApproval', 'deprovisionApply', 'done']),
  pagesDone: z.number().int().min(0),
  usersSeen: z.number().int().min(0),
  readComplete: z.boolean(),
  summary: RunSummarySchema,
  ownedCount: z.number().int().min(0),
  planned: z.array(CandidateSchema).max(MAX_PLANNED_DELETIONS),
  plannedBeyondLimit: z.number().int().min(0),
  deletionSetHash: z.string(),
  applyIndex: z.number().int().min(0),
  /** Whether this run's deprovisions went ahead (all approved ones applied) or were withheld (gate, guard, no approval). */
  deletions: z.enum(['pending', 'applied', 'withheld']).default('pending'),
  notes: z.array(z.string()).max(MAX_NOTES),
});
export type GuardedRunState = z.infer<typeof GuardedRunStateSchema>;

export function freshGuardedRunState(): GuardedRunState {
  return { phase: 'upsert', pagesDone: 0, usersSeen: 0, readComplete: true, summary: emptySummary(), ownedCount: 0, planned: [], plannedBeyondLimit: 0, deletionSetHash: EMPTY_HASH, applyIndex: 0, deletions: 'pending', notes: [] };
}

export interface PlanPage {
  /** Objects on this page the connection owns (the guard's denominator). */
  owned: number;
  candidates: Candidate[];
  done: boolean;
}

export interface GuardedRunSpec {
  connectionId: string;
  dryRun: boolean;
  pagesPerRun: number;
  claim: RunClaim;
  state: GuardedRunState;
  describe(progress: RunProgress): string;
  /** What planned adoptions are measured against (objects the run found owned); absent: the plan's owned count. */
  adoptionBase?(): number;
  /** One upsert page; resolves true when the pass is done. Absent: the run starts at the plan. */
  upsertPage?(): Promise<boolean>;
  /** Why nothing may be planned for deprovisioning this run (off, unhealthy read), or null. */
  planGate(): string | null;
  planPage(): Promise<PlanPage>;
  /** Checked again right before applying after an approval wait; a reason stops the apply. */
  recheck?(): Promise<string | null>;
  applyBatch(candidates: Candidate[]): Promise<RunSummary>;
  /** Continues as new with the caller's whole carried state (which holds `state`). */
  continueAsNew(): Promise<never>;
}

export interface GuardedRunEnd {
  outcome: RunOutcome;
  summary: RunSummary;
  notes: string[];
  deletions: GuardedRunState['deletions'];
}

/**
 * Registers the run's `progress` query and approval signal before its first await, so the Web UI and
 * clients never see "no handler" while the run claims its configuration; the driver replaces both.
 */
export function registerRunHandlers(): void {
  const workflowId = workflowInfo().workflowId;
  const zero = { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0 };
  setHandler(progressQuery, () => ({ workflowId, phase: 'upsert', pagesDone: 0, usersSeen: 0, counts: zero }));
  setHandler(approveDeletionsSignal, () => log.warn('dropped approveDeletions: this run has not planned any deletions yet'));
}

export async function driveGuardedRun(spec: GuardedRunSpec): Promise<GuardedRunEnd> {
  const s = spec.state;
  const workflowId = workflowInfo().workflowId;
  let decision: DeletionDecision | null = null;
  let pagesThisRun = 0;

  const progress = (): RunProgress => ({
    workflowId,
    phase: s.phase,
    pagesDone: s.pagesDone,
    usersSeen: s.usersSeen,
    counts: countsOf(s.summary),
    ...(s.phase === 'awaitingApproval' ? { awaitingApproval: awaiting() } : {}),
    ...(s.notes.length ? { note: (s.notes[s.notes.length - 1] as string).slice(0, 2000) } : {}),
  });
  setHandler(progressQuery, progress);
  setHandler(approveDeletionsSignal, (raw) => {
    const parsed = DeletionDecisionSchema.safeParse(raw);
    if (!parsed.success || parsed.data.runId !== workflowId) {
      log.warn('dropped an invalid approveDeletions signal', { reason: parsed.success ? `runId ${parsed.data.runId} is not this run` : parsed.error.message });
      return;
    }
    if (s.phase === 'awaitingApproval') decision = parsed.data;
  });

  function awaiting(): NonNullable<RunProgress['awaitingApproval']> {
    const adoptions = s.planned.filter(isAdoption).length;
    return {
      plannedDeletions: s.planned.length - adoptions,
      ...(adoptions ? { plannedAdoptions: adoptions } : {}),
      ownedCount: s.ownedCount,
      deletionSetHash: s.deletionSetHash,
      reason: (s.notes[s.notes.length - 1] ?? '').slice(0, 2000),
    };
  }
  const report = async (force = false): Promise<void> => {
    setCurrentDetails(spec.describe(progress()));
    if (!force && s.pagesDone % PROGRESS_EVERY_PAGES !== 0) return;
    try {
      await getExternalWorkflowHandle(connectionWorkflowId(spec.connectionId)).signal(runProgressSignal, progress());
    } catch (err) {
      // Progress is a courtesy: an entity being reset must not fail the run.
      log.warn('could not report progress to the connection', { error: failureMessage(err) });
    }
  };
  const note = (text: string): void => {
    s.notes = [...s.notes, text].slice(-MAX_NOTES);
  };
  const enterPhase = async (phase: RunPhase, text?: string): Promise<void> => {
    if (phase === 'done' && s.deletions === 'pending') s.deletions = s.phase === 'deprovisionApply' || (s.phase === 'deprovisionPlan' && s.planned.length === 0 && !text) ? 'applied' : 'withheld';
    s.phase = phase;
    if (text) note(text);
    await report(true);
  };
  const pageDone = async (): Promise<void> => {
    s.pagesDone += 1;
    pagesThisRun += 1;
    await report();
    if (s.phase !== 'done' && (pagesThisRun >= spec.pagesPerRun || workflowInfo().continueAsNewSuggested)) await spec.continueAsNew();
  };

  await report(true);
  while (s.phase === 'upsert') {
    if (!spec.upsertPage || (await spec.upsertPage())) s.phase = 'deprovisionPlan';
    if (spec.upsertPage) await pageDone();
  }

  if (s.phase === 'deprovisionPlan' && s.ownedCount === 0 && s.planned.length === 0) {
    const gate = spec.planGate();
    if (gate) await enterPhase('done', gate);
  }
  while (s.phase === 'deprovisionPlan') {
    const page = await spec.planPage();
    s.ownedCount += page.owned;
    for (const candidate of page.candidates) {
      if (s.planned.length < MAX_PLANNED_DELETIONS) s.planned.push(candidate);
      else s.plannedBeyondLimit += 1;
    }
    if (page.done) await decide();
    await pageDone();
  }

  async function decide(): Promise<void> {
    s.deletionSetHash = deletionSetHash(s.planned.map((c) => c.id));
    if (s.plannedBeyondLimit > 0) note(`${s.plannedBeyondLimit} more deprovisions than the ${MAX_PLANNED_DELETIONS} one run may plan: they wait for the next run`);
    if (s.planned.length === 0) return enterPhase('done');
    // Deletions and adoptions are judged by the same thresholds, each counted on its own; one approval covers the whole list.
    const { maxFraction, maxCount } = spec.claim.config.deletionGuard;
    const adoptions = s.planned.filter(isAdoption).length;
    const reasons = [
      evaluateDeletionGuard({ ownedCount: s.ownedCount, plannedDeletions: s.planned.length - adoptions, maxFraction, maxCount }),
      evaluateDeletionGuard({ ownedCount: spec.adoptionBase?.() ?? s.ownedCount, plannedDeletions: adoptions, maxFraction, maxCount, what: 'adoptions' }),
    ].flatMap((g) => (g.allowed ? [] : [g.reason]));
    if (reasons.length === 0) return enterPhase('deprovisionApply');
    const reason = reasons.join('; ');
    if (spec.dryRun) return enterPhase('done', `dry run: the deletion guard would stop this run: ${reason}`);
    return enterPhase('awaitingApproval', `deletion guard: ${reason}; send approveDeletions with runId ${workflowId} and deletionSetHash ${s.deletionSetHash} to apply`);
  }

  if (s.phase === 'awaitingApproval') {
    const minutes = spec.claim.config.deletionGuard.approvalTimeoutMinutes;
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'awaitingApproval' }]);
    const decided = await condition(() => decision !== null, minutes * spec.claim.minuteMs);
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'running' }]);
    const d = decision as DeletionDecision | null;
    if (!decided || !d) await enterPhase('done', `no approval within ${minutes} minutes: ${s.planned.length} deprovisions skipped`);
    else if (d.decision === 'skip') await enterPhase('done', `deletions skipped by operator: ${s.planned.length} deprovisions not applied`);
    else if (d.deletionSetHash !== s.deletionSetHash) await enterPhase('done', `approval named deletion set ${d.deletionSetHash} but this run planned ${s.deletionSetHash}: nothing deprovisioned`);
    else {
      const stale = spec.recheck ? await spec.recheck() : null;
      if (stale) await enterPhase('done', `approved, but ${stale}; nothing deprovisioned`);
      else await enterPhase('deprovisionApply', `deletions approved: ${s.planned.length} deprovisions`);
    }
  }

  while (s.phase === 'deprovisionApply') {
    const batch = s.planned.slice(s.applyIndex, s.applyIndex + APPLY_BATCH);
    if (batch.length > 0) s.summary = mergeSummary(s.summary, await spec.applyBatch(batch));
    s.applyIndex += batch.length;
    if (s.applyIndex >= s.planned.length) await enterPhase('done');
    await pageDone();
  }

  return { outcome: s.summary.failed > 0 || !s.readComplete ? 'partial' : 'succeeded', summary: s.summary, notes: s.notes, deletions: s.deletions };
}

/** Records a failed read: the run goes on, but nothing will be deprovisioned from it. */
export function markReadIncomplete(s: GuardedRunState, text: string): void {
  s.readComplete = false;
  s.notes = [...s.notes, text].slice(-MAX_NOTES);
}

