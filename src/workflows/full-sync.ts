/**
 * fullSyncWorkflow: one full outbound pass for one connection, on the guarded-run driver.
 * Upsert pass: page through in-scope store users rule by rule (one activity per page); a rule with
 * `groups` first gets a groups pass whose id map each of its pages uses for memberships.
 * Deprovision: plan over Duo users the connection owns, gated per rule on the health of this
 * run's store read, then guarded, approved and applied by the driver (src/workflows/guarded-run.ts).
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { FullSyncInputSchema, type FullSyncInput, type FullSyncResult, type RunProgress } from '../contract';
import { outboundRules, type ConnectionConfig } from '../domain/connection';
import { evaluateSourceHealth } from '../domain/guards';
import { describeCounts, describeGroupCounts, emptySummary, mergeSummary, recordFailure } from '../domain/summary';
import { pageActivities } from './activity-options';
import { failureMessage, parseInput } from './failures';
import { CandidateSchema, ClaimSchema, driveGuardedRun, registerRunHandlers, freshGuardedRunState, GuardedRunStateSchema, markReadIncomplete } from './guarded-run';
import { asRun, claimFromEntity } from './run-support';

const CarriedSchema = GuardedRunStateSchema.extend({
  ruleIndex: z.number().int().min(0),
  cursor: z.string().nullable(),
  duoOffset: z.number().int().min(0),
  /** Users read in scope per rule this run (complete rules only count as a baseline). */
  inScopeByRule: z.record(z.string(), z.number().int().min(0)),
  /** The current rule's groups in Duo from its groups pass (ids only); `ids: null` when that pass failed. */
  groupMap: z.object({ ruleId: z.string(), ids: z.record(z.string(), z.string()).nullable() }).optional(),
  /** Owned groups the groups passes want gone, and how many groups the rules own: they join the deletion plan. */
  groupDeletions: z.array(CandidateSchema).default([]),
  ownedGroups: z.number().int().min(0).default(0),
  /** The configuration claimed at the start, kept for the whole run (continue-as-new included). */
  claim: ClaimSchema,
});
type Carried = z.infer<typeof CarriedSchema>;

export async function fullSyncWorkflow(rawInput: FullSyncInput): Promise<FullSyncResult> {
  const input = parseInput(FullSyncInputSchema, 'fullSyncWorkflow', rawInput);
  registerRunHandlers();
  return asRun({ connectionId: input.connectionId, kind: 'fullSync', dryRun: input.dryRun }, () => fullSync(input), (r) => ({ outcome: r.outcome, summary: r.summary, notes: r.notes, ...(r.inScopeCount === null ? {} : { inScopeByRule: r.inScopeByRule }) }));
}

async function fullSync(input: z.output<typeof FullSyncInputSchema>): Promise<FullSyncResult & { inScopeByRule: Record<string, number> }> {
  const carried = input.carried === undefined ? undefined : parseInput(CarriedSchema, 'full-sync carried state', input.carried);
  const claim = carried?.claim ?? (await claimFromEntity(input.connectionId, { kind: 'fullSync', dryRun: input.dryRun, ...(input.ruleId ? { ruleId: input.ruleId } : {}) }));
  const s: Carried = carried ?? { ...freshGuardedRunState(), ruleIndex: 0, cursor: null, duoOffset: 0, inScopeByRule: {}, groupDeletions: [], ownedGroups: 0, claim };
  const config = claim.config;
  const rules = outboundRules(config).filter((r) => !input.ruleId || r.id === input.ruleId);
  if (input.ruleId && rules.length === 0) throw ApplicationFailure.nonRetryable(`rule ${input.ruleId} is not an outbound rule of connection ${input.connectionId}`, 'UnknownRule');
  const base = { connectionId: input.connectionId, config };

  const end = await driveGuardedRun({
    connectionId: input.connectionId,
    dryRun: input.dryRun,
    pagesPerRun: input.pagesPerRun,
    claim: { ...claim, config },
    state: s,
    describe: (p) => describe(p, input.dryRun),
    continueAsNew: () => continueAsNew<typeof fullSyncWorkflow>({ ...input, carried: s }),

    async upsertPage() {
      const rule = rules[s.ruleIndex];
      if (!rule) return true;
      // Groups pass of a rule with `groups`, before its first page, so pages can set memberships.
      if (rule.groups && s.cursor === null && s.groupMap?.ruleId !== rule.id) {
        try {
          const groups = await pageActivities.syncRuleGroups({ ...base, ruleId: rule.id, dryRun: input.dryRun });
          s.summary = mergeSummary(s.summary, groups.summary);
          s.groupMap = { ruleId: rule.id, ids: groups.groupIds };
          s.groupDeletions.push(...groups.plannedDeletions);
          s.ownedGroups += groups.ownedGroups;
        } catch (err) {
          if (!(err instanceof ActivityFailure)) throw err;
          // Without a trustworthy group map the pages leave memberships alone; nothing is deleted.
          const message = `syncing the groups of rule ${rule.id} failed after retries (${failureMessage(err)}); memberships were left as they are`;
          s.groupMap = { ruleId: rule.id, ids: null };
          s.summary = recordFailure(s.summary, { username: `rule:${rule.id}`, operation: 'syncGroups', message });
          s.notes = [...s.notes, message].slice(-20);
        }
      }
      const groupIds = s.groupMap?.ruleId === rule.id && s.groupMap.ids ? s.groupMap.ids : undefined;
      try {
        const page = await pageActivities.syncUsersPage.executeWithOptions({ summary: `rule ${rule.id}: store page ${s.pagesDone + 1}` }, [
          {
            ...base,
            ruleId: rule.id,
            cursor: s.cursor,
            pageSize: input.pageSize,
            dryRun: input.dryRun,
            ...(groupIds ? { groupIds } : {}),
            ...(claim.lastGoodInScopeByRule[rule.id] !== undefined ? { expectedInScope: claim.lastGoodInScopeByRule[rule.id] } : {}),
          },
        ]);
        s.summary = mergeSummary(s.summary, page.summary);
        s.usersSeen += page.inScopeCount;
        s.inScopeByRule[rule.id] = (s.inScopeByRule[rule.id] ?? 0) + page.inScopeCount;
        s.cursor = page.nextCursor;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        // A Duo listing that does not advance (the page's rename pass lists Duo users) stops the run, as in the plan pass.
        if (err.cause instanceof ApplicationFailure && err.cause.type === 'PagingDidNotAdvance') throw err;
        // A store that cannot be read must never look like "everyone left": skip the rest of this rule and deprovisioning.
        markReadIncomplete(s, `rule ${rule.id}: reading the store failed after retries (${failureMessage(err)}); deprovisioning is skipped for this run`);
        s.cursor = null;
      }
      if (s.cursor === null) s.ruleIndex += 1;
      return false;
    },

    // Group deletions are planned even when user deprovisioning is off or gated: they have their own rules (groups.include).
    planGate: () => (s.groupDeletions.length ? null : deprovisionGate(config, input.ruleId, s)),
    async planPage() {
      const first = s.duoOffset === 0 && s.ownedCount === 0 && s.planned.length === 0;
      const groups = first ? { owned: s.ownedGroups, candidates: s.groupDeletions } : { owned: 0, candidates: [] };
      const gate = first ? deprovisionGate(config, input.ruleId, s) : null;
      if (gate) {
        s.notes = [...s.notes, gate].slice(-20);
        return { ...groups, done: true };
      }
      const page = await pageActivities.planDeprovisionPage.executeWithOptions({ summary: `plan deprovisions: Duo users from ${s.duoOffset}` }, [
        { ...base, offset: s.duoOffset, limit: input.duoPageSize },
      ]);
      s.duoOffset = page.nextOffset ?? 0;
      return { owned: page.ownedCount + groups.owned, candidates: [...groups.candidates, ...page.candidates], done: page.nextOffset === null };
    },
    async recheck() {
      const now = await pageActivities.countInScope({ ...base, pageSize: input.pageSize });
      return unhealthyRules(config, now, { ...s.inScopeByRule, ...claim.lastGoodInScopeByRule });
    },
    async applyBatch(candidates) {
      const groups = candidates.filter((c) => c.id.startsWith('group:'));
      const users = candidates.filter((c) => !c.id.startsWith('group:'));
      let summary = users.length ? await pageActivities.applyDeprovisionBatch({ ...base, candidates: users, dryRun: input.dryRun }) : emptySummary();
      for (const ruleId of new Set(groups.map((g) => g.id.split(':')[1] as string))) {
        const groupIds = groups.filter((g) => g.id.startsWith(`group:${ruleId}:`)).map((g) => g.id.slice(`group:${ruleId}:`.length));
        summary = mergeSummary(summary, await pageActivities.applyGroupDeletions({ ...base, ruleId, dryRun: input.dryRun, groupIds }));
      }
      return summary;
    },
  });

  return {
    connectionId: input.connectionId,
    workflowId: workflowInfo().workflowId,
    dryRun: input.dryRun,
    ...end,
    inScopeCount: s.readComplete ? s.usersSeen : null,
    inScopeByRule: s.inScopeByRule,
  };
}

/** Rules whose store read looks broken against their baseline, as one reason; null when all are healthy. */
function unhealthyRules(config: ConnectionConfig, counts: Record<string, number>, baseline: Record<string, number>): string | null {
  const reasons = outboundRules(config).flatMap((rule) => {
    const health = evaluateSourceHealth({ inScopeCount: counts[rule.id] ?? 0, lastGoodInScopeCount: baseline[rule.id], readComplete: true, maxDropFraction: config.sourceHealth.maxDropFraction });
    return health.healthy ? [] : [`rule ${rule.id}: ${health.reason}`];
  });
  return reasons.length ? `source-health gate: ${reasons.join('; ')}` : null;
}

/** Why the deprovision pass must not run, or null when it may. Every rule's read is judged on its own. */
function deprovisionGate(config: ConnectionConfig, ruleId: string | undefined, s: Carried): string | null {
  if (!config.userActions.deprovision) return 'deprovisioning is off for this connection';
  if (ruleId) return `sync of rule ${ruleId} only: the deprovision pass runs on full syncs of all rules`;
  if (!s.readComplete) return 'source-health gate: the store read failed or was incomplete; deprovisioning skipped';
  const unhealthy = unhealthyRules(config, s.inScopeByRule, s.claim.lastGoodInScopeByRule);
  return unhealthy ? `${unhealthy}; deprovisioning skipped` : null;
}

function describe(p: RunProgress, dryRun: boolean): string {
  const head = `${dryRun ? 'DRY RUN ' : ''}phase ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} users in scope`;
  const groups = p.counts.groups ? `\n${describeGroupCounts(p.counts.groups)}` : '';
  return `${head}\n${describeCounts(p.counts)}${groups}${p.note ? `\n${p.note}` : ''}`;
}
