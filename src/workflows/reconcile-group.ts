/**
 * reconcileGroupWorkflow: brings one store group's Duo group in line after a `groupChanged` or
 * `groupDeleted` signal: create, rename or delete it (in every rule that includes or owns it), then
 * page through its store members (adding those the rule owns in Duo) and its Duo members (removing
 * owned users no longer in the store group). Only cursors and counters live here; it continues-as-new
 * every K pages and a retried page changes nothing twice.
 */
import { continueAsNew, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ReconcileGroupInputSchema, type ReconcileGroupInput, type ReconcileGroupResult } from '../contract';
import { mergeSummary, RunSummarySchema } from '../domain/summary';
import { pageActivities } from './activity-options';
import { parseInput } from './failures';
import { ClaimSchema } from './guarded-run';
import { asRun, claimFromEntity } from './run-support';

const CarriedSchema = z.object({
  targets: z.array(z.object({ ruleId: z.string(), externalId: z.string(), groupId: z.string() })),
  targetIndex: z.number().int().min(0),
  phase: z.enum(['add', 'remove']),
  cursor: z.string().nullable(),
  offset: z.number().int().min(0),
  pagesDone: z.number().int().min(0),
  summary: RunSummarySchema,
  claim: ClaimSchema,
});
type Carried = z.infer<typeof CarriedSchema>;

export async function reconcileGroupWorkflow(rawInput: ReconcileGroupInput): Promise<ReconcileGroupResult> {
  const input = parseInput(ReconcileGroupInputSchema, 'reconcileGroupWorkflow', rawInput);
  return asRun({ connectionId: input.connectionId, kind: 'reconcileGroup', dryRun: input.dryRun }, () => reconcileGroup(input), (r) => r);
}

async function reconcileGroup(input: z.output<typeof ReconcileGroupInputSchema>): Promise<ReconcileGroupResult> {
  let c: Carried;
  if (input.carried !== undefined) {
    c = parseInput(CarriedSchema, 'reconcile-group carried state', input.carried);
  } else {
    const claim = await claimFromEntity(input.connectionId, { kind: 'reconcileGroup', dryRun: input.dryRun });
    const config = claim.config;
    setCurrentDetails(`group ${input.group}: provisioning the Duo group`);
    const step = await pageActivities.reconcileGroup({ connectionId: input.connectionId, config, group: input.group, dryRun: input.dryRun, ...(input.ruleId ? { ruleId: input.ruleId } : {}) });
    c = { targets: step.targets, targetIndex: 0, phase: 'add', cursor: null, offset: 0, pagesDone: 0, summary: step.summary, claim };
  }
  const config = c.claim.config;
  let pagesThisRun = 0;
  for (let target = c.targets[c.targetIndex]; target; target = c.targets[c.targetIndex]) {
    const page = await pageActivities.syncGroupMembersPage({
      connectionId: input.connectionId,
      config,
      ...target,
      phase: c.phase,
      cursor: c.cursor,
      offset: c.offset,
      pageSize: input.pageSize,
      dryRun: input.dryRun,
    });
    c.summary = mergeSummary(c.summary, page.summary);
    c.pagesDone += 1;
    if (c.phase === 'add') {
      c.cursor = page.nextCursor;
      if (c.cursor === null) c.phase = 'remove';
    } else if (page.nextOffset === null) {
      c = { ...c, targetIndex: c.targetIndex + 1, phase: 'add', cursor: null, offset: 0 };
    } else {
      c.offset = page.nextOffset;
    }
    const m = c.summary.groups;
    setCurrentDetails(`group ${input.group} (rule ${target.ruleId}): ${c.pagesDone} member pages, memberships +${m?.membershipsAdded ?? 0} -${m?.membershipsRemoved ?? 0}, failed ${c.summary.failed}`);
    pagesThisRun += 1;
    if (c.targetIndex < c.targets.length && (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested)) {
      await continueAsNew<typeof reconcileGroupWorkflow>({ ...input, carried: c });
    }
  }
  const outcome = c.summary.failed > 0 ? 'partial' : 'succeeded';
  return { connectionId: input.connectionId, group: input.group, outcome, groupsSynced: c.targets.length, summary: c.summary };
}
