/**
 * reconcileGroupWorkflow: brings one store group's Duo group in line after a `groupChanged` or
 * `groupDeleted` signal: create, rename or delete it (in every rule that includes or owns it), then
 * page through its store members (adding those the rule owns in Duo) and its Duo members (removing
 * owned users no longer in the store group). Only cursors and counters live here; it continues-as-new
 * every K pages and a retried page changes nothing twice.
 */
import { continueAsNew, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema } from '../domain/connection';
import { mergeSummary, RunSummarySchema, type RunSummary } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import { GroupRefSchema, type RunOutcome } from './definitions';
import { invalidInput } from './failures';
import { configFromEntity, markRunStarted, recordingOutcome } from './run-support';

const CarriedSchema = z.object({
  targets: z.array(z.object({ ruleId: z.string(), externalId: z.string(), groupId: z.string() })),
  targetIndex: z.number().int().min(0),
  phase: z.enum(['add', 'remove']),
  cursor: z.string().nullable(),
  offset: z.number().int().min(0),
  pagesDone: z.number().int().min(0),
  summary: RunSummarySchema,
});
type Carried = z.infer<typeof CarriedSchema>;

export const ReconcileGroupInputSchema = z
  .object({
    connectionId: z.string().min(1),
    config: ConnectionConfigSchema.optional(),
    group: GroupRefSchema,
    ruleId: z.string().optional(),
    dryRun: z.boolean().default(false),
    pageSize: z.number().int().min(1).max(100).default(100),
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: CarriedSchema.optional(),
  })
  .strict();
export type ReconcileGroupInput = z.input<typeof ReconcileGroupInputSchema>;

export interface ReconcileGroupResult {
  connectionId: string;
  group: string;
  outcome: RunOutcome;
  /** Groups whose memberships were synced (one per rule that includes the group). */
  groupsSynced: number;
  summary: RunSummary;
}

export async function reconcileGroupWorkflow(rawInput: ReconcileGroupInput): Promise<ReconcileGroupResult> {
  return recordingOutcome(() => reconcileGroup(rawInput));
}

async function reconcileGroup(rawInput: ReconcileGroupInput): Promise<ReconcileGroupResult> {
  const parsed = ReconcileGroupInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('reconcileGroupWorkflow', parsed.error);
  const input = parsed.data;
  markRunStarted(input.connectionId, 'reconcileGroup');
  const config = input.config ?? (await configFromEntity(input.connectionId, { kind: 'reconcileGroup', dryRun: input.dryRun }));
  let c: Carried;
  if (input.carried) {
    c = input.carried;
  } else {
    setCurrentDetails(`group ${input.group}: provisioning the Duo group`);
    const step = await pageActivities.reconcileGroup({ connectionId: input.connectionId, config, group: input.group, dryRun: input.dryRun, ...(input.ruleId ? { ruleId: input.ruleId } : {}) });
    c = { targets: step.targets, targetIndex: 0, phase: 'add', cursor: null, offset: 0, pagesDone: 0, summary: step.summary };
  }
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
      await continueAsNew<typeof reconcileGroupWorkflow>({ ...input, config, carried: c });
    }
  }
  const outcome: RunOutcome = c.summary.failed > 0 ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  return { connectionId: input.connectionId, group: input.group, outcome, groupsSynced: c.targets.length, summary: c.summary };
}
