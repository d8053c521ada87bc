/**
 * deleteRuleWorkflow: removes a deleted rule's footprint, on the guarded-run driver. With
 * `deprovisionOnRuleDeletion` it plans every user the rule owns (Duo users for an outbound rule,
 * store users for an inbound one), passes the deletion guard like any other deprovision, applies
 * exactly the approved set, and then deletes the rule's Duo groups. Without it, it only releases
 * ownership (markers removed; users and groups stay, unmanaged). The rule must already be gone from
 * the connection: the entity's deleteRule update removes it and starts this run; started by hand it
 * re-runs the cleanup of a rule deleted earlier.
 */
import { continueAsNew, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { DeleteRuleInputSchema, type DeleteRuleInput, type DeleteRuleResult, type RunProgress } from '../contract';
import { describeCounts, mergeSummary } from '../domain/summary';
import { pageActivities } from './activity-options';
import { parseInput } from './failures';
import { ClaimSchema, driveGuardedRun, registerRunHandlers, freshGuardedRunState, GuardedRunStateSchema } from './guarded-run';
import { asRun, claimFromEntity } from './run-support';

const CarriedSchema = GuardedRunStateSchema.extend({ offset: z.number().int().min(0), cursor: z.string().nullable(), claim: ClaimSchema });
type Carried = z.infer<typeof CarriedSchema>;

export async function deleteRuleWorkflow(rawInput: DeleteRuleInput): Promise<DeleteRuleResult> {
  const input = parseInput(DeleteRuleInputSchema, 'deleteRuleWorkflow', rawInput);
  registerRunHandlers();
  return asRun({ connectionId: input.connectionId, kind: 'deleteRule', dryRun: false }, () => deleteRule(input), (r) => r);
}

async function deleteRule(input: z.output<typeof DeleteRuleInputSchema>): Promise<DeleteRuleResult> {
  const carried = input.carried === undefined ? undefined : parseInput(CarriedSchema, 'delete-rule carried state', input.carried);
  const claim = carried?.claim ?? (await claimFromEntity(input.connectionId, { kind: 'deleteRule', dryRun: false, ruleId: input.ruleId }));
  const s: Carried = carried ?? { ...freshGuardedRunState(), offset: 0, cursor: null, claim };
  const config = claim.config;
  const deprovision = config.userActions.deprovisionOnRuleDeletion;
  // A rule the entity no longer remembers (a cleanup re-run) is cleaned up in Duo, as outbound rules are.
  const inbound = claim.deletedRule?.direction === 'inbound' ? claim.deletedRule : undefined;
  const base = { connectionId: input.connectionId, config };
  const verb = deprovision ? 'deprovisioning' : 'releasing';

  const end = await driveGuardedRun({
    connectionId: input.connectionId,
    dryRun: false,
    pagesPerRun: input.pagesPerRun,
    claim,
    state: s,
    describe: (p) => describe(p, input.ruleId, verb),
    continueAsNew: () => continueAsNew<typeof deleteRuleWorkflow>({ ...input, carried: s }),
    // Releasing is not destructive: it is the upsert pass of a run that plans no deletions.
    ...(deprovision
      ? {}
      : {
          async upsertPage() {
            if (inbound) {
              const page = await pageActivities.deleteInboundRulePage({ ...base, rule: inbound, deprovision: false, cursor: s.cursor, pageSize: input.storePageSize });
              s.summary = mergeSummary(s.summary, page.summary);
              s.cursor = page.nextCursor;
              return page.done;
            }
            const page = await pageActivities.releaseRulePage({ ...base, ruleId: input.ruleId, offset: s.offset, limit: input.duoPageSize });
            s.summary = mergeSummary(s.summary, page.summary);
            s.offset = page.nextOffset ?? 0;
            return page.nextOffset === null;
          },
        }),
    planGate: () => (deprovision ? null : `deprovisionOnRuleDeletion is off: ownership released, users and groups left as they are`),
    async planPage() {
      if (inbound) {
        const page = await pageActivities.planInboundRuleDeletionPage({ ...base, rule: inbound, cursor: s.cursor, pageSize: input.storePageSize });
        s.cursor = page.nextCursor;
        return { owned: page.ownedCount, candidates: page.candidates, done: page.nextCursor === null };
      }
      const page = await pageActivities.planRuleDeletionPage({ ...base, ruleId: input.ruleId, offset: s.offset, limit: input.duoPageSize });
      s.offset = page.nextOffset ?? 0;
      return { owned: page.ownedCount, candidates: page.candidates, done: page.nextOffset === null };
    },
    applyBatch: (candidates) =>
      inbound
        ? pageActivities.applyInboundRuleDeletionBatch({ ...base, rule: inbound, candidates, dryRun: false })
        : pageActivities.applyDeprovisionBatch({ ...base, candidates, dryRun: false, ruleDeleted: input.ruleId }),
  });

  let summary = end.summary;
  const notes = [...end.notes];
  // The rule's Duo groups go (or are released) once its users did; withheld deletions leave them too.
  if (!inbound && (end.deletions === 'applied' || !deprovision)) {
    setCurrentDetails(`rule ${input.ruleId}: ${deprovision ? 'deleting' : 'releasing'} its Duo groups`);
    summary = mergeSummary(summary, await pageActivities.deleteRuleGroups({ ...base, ruleId: input.ruleId, deprovision }));
  } else if (!inbound) {
    notes.push(`the rule's Duo groups were left as they are because its users' deprovisioning did not go ahead`);
  }
  return {
    connectionId: input.connectionId,
    workflowId: workflowInfo().workflowId,
    ruleId: input.ruleId,
    dryRun: false,
    outcome: summary.failed > 0 ? 'partial' : 'succeeded',
    summary,
    notes,
    deletions: end.deletions,
    deprovisioned: deprovision,
  };
}

function describe(p: RunProgress, ruleId: string, verb: string): string {
  return `rule ${ruleId}: ${verb} its users, phase ${p.phase}, ${p.pagesDone} pages\n${describeCounts(p.counts)}${p.note ? `\n${p.note}` : ''}`;
}
