/**
 * inboundSyncWorkflow: one inbound pass (Duo users → identity store) for one connection's inbound
 * rule. Upsert pass: page through Duo users (one activity per page: list, batched store lookup,
 * plan, apply). Deprovision pass: page through the store users inbound sync owns, gate on the
 * health of the Duo read and on the deletion guard, then apply. Only cursors and counters live
 * here; it continues-as-new every K pages carrying them. Groups are not synced inbound.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, inboundRules, type ConnectionConfig } from '../domain/connection';
import { combineHashes, EMPTY_HASH, evaluateDeletionGuard, evaluateSourceHealth } from '../domain/guards';
import { emptySummary, mergeSummary, RunSummarySchema, type RunSummary } from '../domain/summary';
import { DuoSyncConnection, DuoSyncKind, DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import { approveDeletionsSignal, fullSyncProgressSignal, progressQuery, type FullSyncPhase, type FullSyncProgress, type RunOutcome } from './definitions';
import { failureMessage, invalidInput } from './failures';
import { configFromEntity, recordingOutcome } from './run-support';

const CarriedSchema = z.object({
  phase: z.enum(['upsert', 'deprovisionPlan', 'awaitingApproval', 'deprovisionApply', 'done']),
  duoOffset: z.number().int().min(0),
  storeCursor: z.string().nullable(),
  pagesDone: z.number().int().min(0),
  /** Duo users inbound covers (not provisioned by this connection's outbound rules). */
  usersSeen: z.number().int().min(0),
  readComplete: z.boolean(),
  summary: RunSummarySchema,
  ownedCount: z.number().int().min(0),
  plannedDeletions: z.number().int().min(0),
  deletionSetHash: z.string(),
  deletionBudget: z.number().int().min(0),
  notes: z.array(z.string()).max(20),
});
type Carried = z.infer<typeof CarriedSchema>;

export const InboundSyncInputSchema = z
  .object({
    connectionId: z.string().min(1),
    /** Absent when started by hand from the Web UI: then it is read from the connection workflow. */
    config: ConnectionConfigSchema.optional(),
    /** The inbound rule to run; absent = the connection's inbound rule. */
    ruleId: z.string().optional(),
    dryRun: z.boolean().default(false),
    /** Duo users per page (Duo's maximum for listing users is 300). */
    duoPageSize: z.number().int().min(1).max(300).default(300),
    storePageSize: z.number().int().min(1).max(1000).default(100),
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: CarriedSchema.optional(),
  })
  .strict();
export type InboundSyncInput = z.input<typeof InboundSyncInputSchema>;

export interface InboundSyncResult {
  connectionId: string;
  workflowId: string;
  ruleId: string;
  outcome: RunOutcome;
  dryRun: boolean;
  summary: RunSummary;
  /** Duo users inbound sync covered; `null` when the Duo read was incomplete. */
  duoCount: number | null;
  notes: string[];
}

const PROGRESS_EVERY_PAGES = 5;

export async function inboundSyncWorkflow(rawInput: InboundSyncInput): Promise<InboundSyncResult> {
  return recordingOutcome(() => inboundSync(rawInput));
}

async function inboundSync(rawInput: InboundSyncInput): Promise<InboundSyncResult> {
  const parsed = InboundSyncInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('inboundSyncWorkflow', parsed.error);
  const input = parsed.data;
  const info = workflowInfo();
  const s: Carried = input.carried ?? {
    phase: 'upsert',
    duoOffset: 0,
    storeCursor: null,
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
  let approval: { deletionSetHash?: string; decision: 'approve' | 'skip' } | null = null;

  // The same progress shape as a full sync, so `status`, approvals and the CLI work unchanged.
  const progress = (): FullSyncProgress => ({
    workflowId: info.workflowId,
    phase: s.phase,
    pagesDone: s.pagesDone,
    usersSeen: s.usersSeen,
    summary: s.summary,
    ...(s.phase === 'awaitingApproval'
      ? { awaitingApproval: { plannedDeletions: s.plannedDeletions, ownedCount: s.ownedCount, deletionSetHash: s.deletionSetHash, reason: s.notes[s.notes.length - 1] ?? '' } }
      : {}),
    ...(s.notes.length ? { note: s.notes[s.notes.length - 1] } : {}),
  });
  setHandler(progressQuery, progress);
  setHandler(approveDeletionsSignal, (decision) => {
    if (s.phase === 'awaitingApproval') approval = decision;
  });

  upsertSearchAttributes([
    { key: DuoSyncConnection, value: input.connectionId },
    { key: DuoSyncKind, value: 'inboundSync' },
    { key: DuoSyncOutcome, value: 'running' },
  ]);

  const config: ConnectionConfig = input.config ?? (await configFromEntity(input.connectionId, { kind: 'inboundSync', dryRun: input.dryRun }));
  const rule = inboundRules(config).find((r) => !input.ruleId || r.id === input.ruleId);
  if (!rule) {
    const what = input.ruleId ? `rule ${input.ruleId} is not an inbound rule of connection ${input.connectionId}` : `connection ${input.connectionId} has no inbound rule`;
    throw ApplicationFailure.nonRetryable(`${what}: add a rule with "direction": "inbound" (upsertRule) first`, 'UnknownRule');
  }
  const ruleInput = { connectionId: input.connectionId, config, ruleId: rule.id };

  const report = async (force = false): Promise<void> => {
    setCurrentDetails(describe(progress(), rule.id, input.dryRun));
    const parent = info.parent;
    if (parent && (force || s.pagesDone % PROGRESS_EVERY_PAGES === 0)) {
      try {
        await getExternalWorkflowHandle(parent.workflowId).signal(fullSyncProgressSignal, progress());
      } catch (err) {
        // Progress is a courtesy: a parent that is gone must not fail the sync.
        log.warn('could not report progress to the connection workflow', { parent: parent.workflowId, error: failureMessage(err) });
      }
    }
  };
  const note = (text: string): void => {
    s.notes = [...s.notes, text].slice(-20);
  };
  const enterPhase = async (phase: FullSyncPhase, text?: string): Promise<void> => {
    s.phase = phase;
    if (text) note(text);
    await report(true);
  };
  let pagesThisRun = 0;
  const maybeContinueAsNew = async (): Promise<void> => {
    pagesThisRun += 1;
    // A finished run just returns: continuing as new only to complete would be a wasted run.
    if (s.phase === 'done') return;
    if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof inboundSyncWorkflow>({ ...input, config, carried: s });
    }
  };

  await report(true);

  // Upsert pass: Duo users, page by page.
  while (s.phase === 'upsert') {
    let next: number | null = null;
    try {
      const page = await pageActivities.inboundUsersPage({ ...ruleInput, offset: s.duoOffset, limit: input.duoPageSize, dryRun: input.dryRun });
      s.summary = mergeSummary(s.summary, page.summary);
      s.usersSeen += page.eligible;
      next = page.nextOffset;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // A page that failed must never look like "everyone left Duo": stop reading and skip deprovisioning.
      s.readComplete = false;
      note(`Duo users from offset ${s.duoOffset} could not be synced after retries (${failureMessage(err)}); the rest of this run's Duo read and deprovisioning are skipped`);
    }
    s.pagesDone += 1;
    if (next === null) {
      s.duoOffset = 0;
      await enterPhase('deprovisionPlan');
    } else {
      s.duoOffset = next;
      await report();
    }
    await maybeContinueAsNew();
  }

  if (s.phase === 'deprovisionPlan' && s.storeCursor === null && s.ownedCount === 0) {
    const gate = deprovisionGate(config, s);
    if (gate) await enterPhase('done', gate);
  }
  while (s.phase === 'deprovisionPlan') {
    const page = await pageActivities.planInboundDeprovisionPage({ ...ruleInput, cursor: s.storeCursor, pageSize: input.storePageSize });
    s.ownedCount += page.ownedCount;
    s.plannedDeletions += page.candidates;
    s.deletionSetHash = combineHashes(s.deletionSetHash, page.candidatesHash);
    s.pagesDone += 1;
    s.storeCursor = page.nextCursor;
    if (page.nextCursor === null) await decideAfterPlan();
    else await report();
    await maybeContinueAsNew();
  }

  async function decideAfterPlan(): Promise<void> {
    if (s.plannedDeletions === 0) {
      await enterPhase('done');
      return;
    }
    // The owned set is the last good picture of Duo: a Duo read far smaller than it is suspect.
    const health = evaluateSourceHealth({ inScopeCount: s.usersSeen, lastGoodInScopeCount: s.ownedCount, readComplete: s.readComplete, maxDropFraction: config.sourceHealth.maxDropFraction });
    if (!health.healthy) {
      await enterPhase('done', `source-health gate: ${health.reason.replace('the store', 'Duo')}; deprovisioning skipped`);
      return;
    }
    s.deletionBudget = s.plannedDeletions;
    const guard = evaluateDeletionGuard({ ownedCount: s.ownedCount, plannedDeletions: s.plannedDeletions, maxFraction: config.deletionGuard.maxFraction, maxCount: config.deletionGuard.maxCount });
    if (guard.allowed) await enterPhase('deprovisionApply');
    else if (input.dryRun) await enterPhase('done', `dry run: the deletion guard would stop this run: ${guard.reason}`);
    else await enterPhase('awaitingApproval', `deletion guard: ${guard.reason}; send approveDeletions with runId ${info.workflowId} and deletionSetHash ${s.deletionSetHash} to apply`);
  }

  if (s.phase === 'awaitingApproval') {
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'awaitingApproval' }]);
    const decided = await condition(() => approval !== null, `${config.deletionGuard.approvalTimeoutMinutes} minutes`);
    const decision = approval as { deletionSetHash?: string; decision: 'approve' | 'skip' } | null;
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: 'running' }]);
    if (!decided || !decision) await enterPhase('done', `no approval within ${config.deletionGuard.approvalTimeoutMinutes} minutes: ${s.plannedDeletions} deprovisions skipped`);
    else if (decision.decision === 'skip') await enterPhase('done', `deletions skipped by operator: ${s.plannedDeletions} deprovisions not applied`);
    else if (decision.deletionSetHash && decision.deletionSetHash !== s.deletionSetHash) {
      await enterPhase('done', `approval named deletion set ${decision.deletionSetHash} but this run planned ${s.deletionSetHash}: nothing deprovisioned`);
    } else await enterPhase('deprovisionApply', `deletions approved: ${s.plannedDeletions} deprovisions`);
  }

  while (s.phase === 'deprovisionApply') {
    const page = await pageActivities.applyInboundDeprovisionPage({ ...ruleInput, cursor: s.storeCursor, pageSize: input.storePageSize, dryRun: input.dryRun, budget: s.deletionBudget });
    s.summary = mergeSummary(s.summary, page.summary);
    s.deletionBudget = Math.max(0, s.deletionBudget - page.deprovisioned);
    s.pagesDone += 1;
    s.storeCursor = page.nextCursor;
    if (page.nextCursor === null || s.deletionBudget === 0) await enterPhase('done');
    else await report();
    await maybeContinueAsNew();
  }

  const outcome: RunOutcome = s.summary.failed > 0 || !s.readComplete ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  await report(true);
  return {
    connectionId: input.connectionId,
    workflowId: info.workflowId,
    ruleId: rule.id,
    outcome,
    dryRun: input.dryRun,
    summary: s.summary,
    duoCount: s.readComplete ? s.usersSeen : null,
    notes: s.notes,
  };
}

/** Why the deprovision pass must not run at all, or null when it may plan. */
function deprovisionGate(config: ConnectionConfig, s: Carried): string | null {
  if (!config.userActions.deprovision) return 'deprovisioning is off for this connection';
  if (!s.readComplete) return 'source-health gate: the Duo read failed or was incomplete; deprovisioning skipped';
  return null;
}

function describe(p: FullSyncProgress, ruleId: string, dryRun: boolean): string {
  const c = p.summary;
  const head = `${dryRun ? 'DRY RUN ' : ''}inbound rule ${ruleId}: phase ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} Duo users`;
  const counts = `created ${c.created}, updated ${c.updated}, disabled ${c.disabled}, deleted ${c.deleted}, unchanged ${c.unchanged}, skipped ${c.skipped}, failed ${c.failed}`;
  return `${head}\n${counts}${p.note ? `\n${p.note}` : ''}`;
}
