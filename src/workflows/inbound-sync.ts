/**
 * inboundSyncWorkflow: one inbound pass (Duo users → identity store) for one connection's inbound
 * rule, on the guarded-run driver. Upsert pass: page through Duo users (list, batched store lookup,
 * plan, apply). Deprovision: plan over the store users inbound sync owns, gated on the health of
 * the Duo read, then guarded, approved and applied by the driver. Groups are not synced inbound.
 */
import { ActivityFailure, ApplicationFailure, continueAsNew, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { InboundSyncInputSchema, type InboundSyncInput, type InboundSyncResult, type RunProgress } from '../contract';
import { inboundRules } from '../domain/connection';
import { evaluateSourceHealth } from '../domain/guards';
import { describeCounts, mergeSummary } from '../domain/summary';
import { pageActivities } from './activity-options';
import { failureMessage, parseInput } from './failures';
import { ClaimSchema, driveGuardedRun, registerRunHandlers, freshGuardedRunState, GuardedRunStateSchema, markReadIncomplete } from './guarded-run';
import { asRun, claimFromEntity } from './run-support';

/** `usersSeen` counts the Duo users inbound covers (not provisioned by this connection's outbound rules). */
const CarriedSchema = GuardedRunStateSchema.extend({ duoOffset: z.number().int().min(0), storeCursor: z.string().nullable(), claim: ClaimSchema });
type Carried = z.infer<typeof CarriedSchema>;

export async function inboundSyncWorkflow(rawInput: InboundSyncInput): Promise<InboundSyncResult> {
  const input = parseInput(InboundSyncInputSchema, 'inboundSyncWorkflow', rawInput);
  registerRunHandlers();
  return asRun({ connectionId: input.connectionId, kind: 'inboundSync', dryRun: input.dryRun }, () => inboundSync(input), (r) => r);
}

async function inboundSync(input: z.output<typeof InboundSyncInputSchema>): Promise<InboundSyncResult> {
  const carried = input.carried === undefined ? undefined : parseInput(CarriedSchema, 'inbound-sync carried state', input.carried);
  const claim = carried?.claim ?? (await claimFromEntity(input.connectionId, { kind: 'inboundSync', dryRun: input.dryRun, ...(input.ruleId ? { ruleId: input.ruleId } : {}) }));
  const s: Carried = carried ?? { ...freshGuardedRunState(), duoOffset: 0, storeCursor: null, claim };
  const config = claim.config;
  const rule = inboundRules(config).find((r) => !input.ruleId || r.id === input.ruleId);
  if (!rule) {
    const what = input.ruleId ? `rule ${input.ruleId} is not an inbound rule of connection ${input.connectionId}` : `connection ${input.connectionId} has no inbound rule`;
    throw ApplicationFailure.nonRetryable(`${what}: add a rule with "direction": "inbound" (upsertRule) first`, 'UnknownRule');
  }
  const ruleInput = { connectionId: input.connectionId, config, ruleId: rule.id };

  const end = await driveGuardedRun({
    connectionId: input.connectionId,
    dryRun: input.dryRun,
    pagesPerRun: input.pagesPerRun,
    claim,
    state: s,
    describe: (p) => describe(p, rule.id, input.dryRun),
    continueAsNew: () => continueAsNew<typeof inboundSyncWorkflow>({ ...input, carried: s }),

    async upsertPage() {
      try {
        const page = await pageActivities.inboundUsersPage({ ...ruleInput, offset: s.duoOffset, limit: input.duoPageSize, dryRun: input.dryRun });
        s.summary = mergeSummary(s.summary, page.summary);
        s.usersSeen += page.eligible;
        s.duoOffset = page.nextOffset ?? 0;
        return page.nextOffset === null;
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
        // A page that failed must never look like "everyone left Duo": stop reading and skip deprovisioning.
        markReadIncomplete(s, `Duo users from offset ${s.duoOffset} could not be synced after retries (${failureMessage(err)}); the rest of this run's Duo read and deprovisioning are skipped`);
        return true;
      }
    },

    planGate() {
      if (!config.userActions.deprovision) return 'deprovisioning is off for this connection';
      if (!s.readComplete) return 'source-health gate: the Duo read failed or was incomplete; deprovisioning skipped';
      return null;
    },
    async planPage() {
      const page = await pageActivities.planInboundDeprovisionPage({ ...ruleInput, cursor: s.storeCursor, pageSize: input.storePageSize });
      s.storeCursor = page.nextCursor;
      if (page.nextCursor !== null) return { owned: page.ownedCount, candidates: page.candidates, done: false };
      // The owned set is the last good picture of Duo: a Duo read far smaller than it is suspect.
      const owned = s.ownedCount + page.ownedCount;
      const health = evaluateSourceHealth({ inScopeCount: s.usersSeen, lastGoodInScopeCount: owned, readComplete: s.readComplete, maxDropFraction: config.sourceHealth.maxDropFraction });
      if (!health.healthy) {
        s.notes = [...s.notes, `source-health gate: ${health.reason.replace('the store', 'Duo')}; deprovisioning skipped`].slice(-20);
        s.planned = [];
        s.plannedBeyondLimit = 0;
        return { owned: page.ownedCount, candidates: [], done: true };
      }
      return { owned: page.ownedCount, candidates: page.candidates, done: true };
    },
    applyBatch: (candidates) => pageActivities.applyInboundDeprovisionBatch({ ...ruleInput, candidates, dryRun: input.dryRun }),
  });

  return {
    connectionId: input.connectionId,
    workflowId: workflowInfo().workflowId,
    ruleId: rule.id,
    dryRun: input.dryRun,
    ...end,
    duoCount: s.readComplete ? s.usersSeen : null,
  };
}

function describe(p: RunProgress, ruleId: string, dryRun: boolean): string {
  const head = `${dryRun ? 'DRY RUN ' : ''}inbound rule ${ruleId}: phase ${p.phase}, ${p.pagesDone} pages, ${p.usersSeen} Duo users`;
  return `${head}\n${describeCounts(p.counts)}${p.note ? `\n${p.note}` : ''}`;
}
