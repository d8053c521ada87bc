/**
 * inboundSyncWorkflow: one inbound pass (Duo users → identity store) for one connection's inbound
 * rule. Upsert pass: page through Duo users (one activity per page: list, batched store lookup,
 * plan, apply). Deprovision pass: page through the store users inbound sync owns, gate on the
 * health of the Duo read and on the deletion guard, then apply. Only cursors and counters live
 * here; it continues-as-new every K pages carrying them. Groups are not synced inbound.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, inboundRules, type ConnectionConfig } from '../domain/connection';
import { combineHashes, evaluateSourceHealth } from '../domain/guards';
import { describeCounts, mergeSummary, type RunSummary } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import type { FullSyncProgress, RunOutcome } from './definitions';
import { failureMessage, invalidInput } from './failures';
import { freshGuardedRunState, guardedRun, GuardedRunStateSchema } from './guarded-run';
import { configFromEntity, markRunStarted, recordingOutcome } from './run-support';

/** `usersSeen` counts the Duo users inbound covers (not provisioned by this connection's outbound rules). */
const CarriedSchema = GuardedRunStateSchema.extend({
  duoOffset: z.number().int().min(0),
  storeCursor: z.string().nullable(),
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

export async function inboundSyncWorkflow(rawInput: InboundSyncInput): Promise<InboundSyncResult> {
  return recordingOutcome(() => inboundSync(rawInput));
}

async function inboundSync(rawInput: InboundSyncInput): Promise<InboundSyncResult> {
  const parsed = InboundSyncInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('inboundSyncWorkflow', parsed.error);
  const input = parsed.data;
  const info = workflowInfo();
  const s: Carried = input.carried ?? { ...freshGuardedRunState(), duoOffset: 0, storeCursor: null };
  // The same progress shape as a full sync, so `status`, approvals and the CLI work unchanged.
  const run = guardedRun(s, (p) => describe(p, rule?.id, input.dryRun));
  const { report, note, enterPhase } = run;

  markRunStarted(input.connectionId, 'inboundSync');

  const config: ConnectionConfig = input.config ?? (await configFromEntity(input.connectionId, { kind: 'inboundSync', dryRun: input.dryRun }));
  const rule = inboundRules(config).find((r) => !input.ruleId || r.id === input.ruleId);
  if (!rule) {
    const what = input.ruleId ? `rule ${input.ruleId} is not an inbound rule of connection ${input.connectionId}` : `connection ${input.connectionId} has no inbound rule`;
    throw ApplicationFailure.nonRetryable(`${what}: add a rule with "direction": "inbound" (upsertRule) first`, 'UnknownRule');
  }
  const ruleInput = { connectionId: input.connectionId, config, ruleId: rule.id };

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
    await run.decideDeletions(config, input.dryRun);
  }

  if (s.phase === 'awaitingApproval') await run.awaitApproval(config);

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

function describe(p: FullSyncProgress, ruleId: string | undefined, dryRun: boolean): string {
  const c = p.summary;
  const head = `${dryRun ? 'DRY RUN ' : ''}inbound${ruleId ? ` rule ${ruleId}` : ''}: phase ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} Duo users`;
  return `${head}\n${describeCounts(c)}${p.note ? `\n${p.note}` : ''}`;
}
