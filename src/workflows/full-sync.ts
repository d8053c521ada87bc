/**
 * fullSyncWorkflow: one full outbound pass for one connection (DESIGN §3).
 * Upsert pass: page through in-scope store users rule by rule (one activity per page); a rule with
 * `groups` first gets a groups pass whose id map each of its pages uses for memberships.
 * Deprovision pass: plan over Duo users owned by the connection, gate on source health and the
 * deletion guard, then apply. Only cursors and counters live here; the run continues-as-new every
 * K pages carrying them, so history stays bounded however large the directory is.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, outboundRules, type ConnectionConfig } from '../domain/connection';
import { evaluateSourceHealth, combineHashes } from '../domain/guards';
import { describeCounts, describeGroupCounts, mergeSummary, recordFailure, type RunSummary } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import type { FullSyncProgress, RunOutcome } from './definitions';
import { failureMessage, invalidInput } from './failures';
import { freshGuardedRunState, guardedRun, GuardedRunStateSchema } from './guarded-run';
import { configFromEntity, markRunStarted, recordingOutcome } from './run-support';

const CarriedSchema = GuardedRunStateSchema.extend({
  ruleIndex: z.number().int().min(0),
  cursor: z.string().nullable(),
  duoOffset: z.number().int().min(0),
  /** The current rule's groups in Duo from its groups pass (ids only); `ids: null` when that pass failed. Absent for rules without groups. */
  groupMap: z.object({ ruleId: z.string(), ids: z.record(z.string(), z.string()).nullable() }).optional(),
});
type Carried = z.infer<typeof CarriedSchema>;

export const FullSyncInputSchema = z
  .object({
    connectionId: z.string().min(1),
    /** Absent when started by hand from the Web UI: then it is read from the connection workflow. */
    config: ConnectionConfigSchema.optional(),
    ruleId: z.string().optional(),
    dryRun: z.boolean().default(false),
    /** In-scope count of the last healthy run, for the source-health gate. */
    lastGoodInScopeCount: z.number().int().min(0).optional(),
    pageSize: z.number().int().min(1).max(100).default(100),
    duoPageSize: z.number().int().min(1).max(300).default(300),
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: CarriedSchema.optional(),
  })
  .strict();
export type FullSyncInput = z.input<typeof FullSyncInputSchema>;

export interface FullSyncResult {
  connectionId: string;
  workflowId: string;
  outcome: RunOutcome;
  dryRun: boolean;
  summary: RunSummary;
  /** Users read in scope from the store; `null` when the read was incomplete. */
  inScopeCount: number | null;
  notes: string[];
}

export async function fullSyncWorkflow(rawInput: FullSyncInput): Promise<FullSyncResult> {
  return recordingOutcome(() => fullSync(rawInput));
}

async function fullSync(rawInput: FullSyncInput): Promise<FullSyncResult> {
  const parsed = FullSyncInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('fullSyncWorkflow', parsed.error);
  const input = parsed.data;
  const info = workflowInfo();
  const s: Carried = input.carried ?? { ...freshGuardedRunState(), ruleIndex: 0, cursor: null, duoOffset: 0 };
  const run = guardedRun(s, (p) => describe(p, input.dryRun));
  const { report, note, enterPhase } = run;

  markRunStarted(input.connectionId, 'fullSync');

  const config: ConnectionConfig = input.config ?? (await configFromEntity(input.connectionId, { kind: 'fullSync', dryRun: input.dryRun }));
  const rules = outboundRules(config).filter((r) => !input.ruleId || r.id === input.ruleId);
  if (input.ruleId && rules.length === 0) {
    throw ApplicationFailure.nonRetryable(`rule ${input.ruleId} is not an outbound rule of connection ${input.connectionId}`, 'UnknownRule');
  }

  let pagesThisRun = 0;
  const maybeContinueAsNew = async (): Promise<void> => {
    pagesThisRun += 1;
    if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof fullSyncWorkflow>({ ...input, config, carried: s });
    }
  };

  await report(true);

  // Upsert pass, rule by rule, page by page.
  while (s.phase === 'upsert') {
    const rule = rules[s.ruleIndex];
    if (!rule) {
      await enterPhase('deprovisionPlan');
      break;
    }
    // Groups pass of a rule with `groups`, before its first page, so pages can set memberships. Rules
    // without groups issue no extra command, so their histories replay unchanged.
    if (rule.groups && s.cursor === null && s.groupMap?.ruleId !== rule.id) {
      try {
        const groups = await pageActivities.syncRuleGroups({ connectionId: input.connectionId, config, ruleId: rule.id, dryRun: input.dryRun });
        s.summary = mergeSummary(s.summary, groups.summary);
        s.groupMap = { ruleId: rule.id, ids: groups.groupIds };
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        // Without a trustworthy group map the pages leave memberships alone; nothing is deleted.
        const message = `syncing the groups of rule ${rule.id} failed after retries (${failureMessage(err)}); memberships were left as they are`;
        s.groupMap = { ruleId: rule.id, ids: null };
        s.summary = recordFailure(s.summary, { username: `rule:${rule.id}`, operation: 'syncGroups', message });
        note(message);
      }
      await report();
    }
    const groupIds = s.groupMap?.ruleId === rule.id && s.groupMap.ids ? s.groupMap.ids : undefined;
    try {
      const page = await pageActivities.syncUsersPage.executeWithOptions({ summary: `rule ${rule.id}: store page ${s.pagesDone + 1}` }, [
        {
          connectionId: input.connectionId,
          config,
          ruleId: rule.id,
          cursor: s.cursor,
          pageSize: input.pageSize,
          dryRun: input.dryRun,
          ...(groupIds ? { groupIds } : {}),
        },
      ]);
      s.summary = mergeSummary(s.summary, page.summary);
      s.usersSeen += page.inScopeCount;
      s.cursor = page.nextCursor;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      // A store that cannot be read must never look like "everyone left": remember it, skip the rest of this rule.
      s.readComplete = false;
      note(`rule ${rule.id}: reading the store failed after retries (${failureMessage(err)}); deprovisioning is skipped for this run`);
      s.cursor = null;
    }
    s.pagesDone += 1;
    if (s.cursor === null) s.ruleIndex += 1;
    await report();
    await maybeContinueAsNew();
  }

  // Deprovision plan: gates first, then count what would go.
  if (s.phase === 'deprovisionPlan' && s.duoOffset === 0 && s.ownedCount === 0) {
    const gate = deprovisionGate(config, input.ruleId, s, input.lastGoodInScopeCount);
    if (gate) await enterPhase('done', gate);
  }
  while (s.phase === 'deprovisionPlan') {
    const page = await pageActivities.planDeprovisionPage.executeWithOptions({ summary: `plan deprovisions: Duo users from ${s.duoOffset}` }, [
      { connectionId: input.connectionId, config, offset: s.duoOffset, limit: input.duoPageSize },
    ]);
    s.ownedCount += page.ownedCount;
    s.plannedDeletions += page.candidates;
    s.deletionSetHash = combineHashes(s.deletionSetHash, page.candidatesHash);
    s.pagesDone += 1;
    if (page.nextOffset === null) {
      s.duoOffset = 0;
      await decideAfterPlan();
    } else {
      s.duoOffset = page.nextOffset;
      await report();
    }
    await maybeContinueAsNew();
  }

  async function decideAfterPlan(): Promise<void> {
    if (s.plannedDeletions === 0) await enterPhase('done');
    else await run.decideDeletions(config, input.dryRun);
  }

  if (s.phase === 'awaitingApproval') await run.awaitApproval(config);

  while (s.phase === 'deprovisionApply') {
    const page = await pageActivities.applyDeprovisionPage.executeWithOptions({ summary: `deprovision: Duo users from ${s.duoOffset}` }, [
      { connectionId: input.connectionId, config, offset: s.duoOffset, limit: input.duoPageSize, dryRun: input.dryRun, budget: s.deletionBudget },
    ]);
    s.summary = mergeSummary(s.summary, page.summary);
    s.deletionBudget = Math.max(0, s.deletionBudget - page.deprovisioned);
    s.pagesDone += 1;
    if (page.nextOffset === null || s.deletionBudget === 0) {
      await enterPhase('done');
    } else {
      s.duoOffset = page.nextOffset;
      await report();
    }
    await maybeContinueAsNew();
  }

  const outcome: RunOutcome = s.summary.failed > 0 || !s.readComplete ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  await report(true);
  return {
    connectionId: input.connectionId,
    workflowId: info.workflowId,
    outcome,
    dryRun: input.dryRun,
    summary: s.summary,
    inScopeCount: s.readComplete ? s.usersSeen : null,
    notes: s.notes,
  };
}

/** Returns why the deprovision pass must not run, or null when it may. */
function deprovisionGate(config: ConnectionConfig, ruleId: string | undefined, s: Carried, lastGood: number | undefined): string | null {
  if (!config.userActions.deprovision) return 'deprovisioning is off for this connection';
  if (ruleId) return `sync of rule ${ruleId} only: the deprovision pass runs on full syncs of all rules`;
  const health = evaluateSourceHealth({
    inScopeCount: s.usersSeen,
    lastGoodInScopeCount: lastGood,
    readComplete: s.readComplete,
    maxDropFraction: config.sourceHealth.maxDropFraction,
  });
  return health.healthy ? null : `source-health gate: ${health.reason}; deprovisioning skipped`;
}

function describe(p: FullSyncProgress, dryRun: boolean): string {
  const c = p.summary;
  const head = `${dryRun ? 'DRY RUN ' : ''}phase ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} users in scope`;
  const groups = c.groups ? `\n${describeGroupCounts(c.groups)}` : '';
  return `${head}\n${describeCounts(c)}${groups}${p.note ? `\n${p.note}` : ''}`;
}
