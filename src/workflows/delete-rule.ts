/**
 * deleteRuleWorkflow: removes a rule's footprint from Duo (for an inbound rule: from the store). With `deprovisionOnRuleDeletion` it
 * deprovisions (per removeAction) every Duo user the rule owns; without it, it only releases
 * ownership (removes the marker) so the users stay but duo-sync no longer manages them.
 * Page by page over Duo users; resumable through continue-as-new; re-running a page is a no-op.
 */
import { continueAsNew, patched, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, RuleSchema } from '../domain/connection';
import { emptySummary, mergeSummary, RunSummarySchema, type RunSummary } from '../domain/summary';
import { DuoSyncConnection, DuoSyncKind, DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import type { RunOutcome } from './definitions';
import { invalidInput } from './failures';

export const DeleteRuleInputSchema = z
  .object({
    connectionId: z.string().min(1),
    config: ConnectionConfigSchema,
    rule: RuleSchema,
    duoPageSize: z.number().int().min(1).max(300).default(300),
    /** Inbound rules: store users per page. */
    storePageSize: z.number().int().min(1).max(1000).default(100),
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: z
      .object({ offset: z.number().int().min(0), pagesDone: z.number().int().min(0), summary: RunSummarySchema, cursor: z.string().nullable().optional() })
      .optional(),
  })
  .strict();
export type DeleteRuleInput = z.input<typeof DeleteRuleInputSchema>;

export interface DeleteRuleResult {
  connectionId: string;
  ruleId: string;
  outcome: RunOutcome;
  deprovisioned: boolean;
  summary: RunSummary;
  notes: string[];
}

export async function deleteRuleWorkflow(rawInput: DeleteRuleInput): Promise<DeleteRuleResult> {
  const parsed = DeleteRuleInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('deleteRuleWorkflow', parsed.error);
  const input = parsed.data;
  const deprovision = input.config.userActions.deprovisionOnRuleDeletion;
  upsertSearchAttributes([
    { key: DuoSyncConnection, value: input.connectionId },
    { key: DuoSyncKind, value: 'deleteRule' },
  ]);
  let { offset, pagesDone, summary } = input.carried ?? { offset: 0, pagesDone: 0, summary: emptySummary() };
  let pagesThisRun = 0;
  // An inbound rule's users live in the store, not in Duo. Patched: deletions of inbound rules recorded before this paged Duo.
  if (input.rule.direction === 'inbound' && patched('inbound-delete-rule')) {
    let cursor = input.carried?.cursor ?? null;
    for (;;) {
      const page = await pageActivities.deleteInboundRulePage({ connectionId: input.connectionId, config: input.config, rule: input.rule, deprovision, cursor, pageSize: input.storePageSize });
      summary = mergeSummary(summary, page.summary);
      pagesDone += 1;
      pagesThisRun += 1;
      setCurrentDetails(`inbound rule ${input.rule.id}: ${pagesDone} pages of store users, ${deprovision ? 'deprovisioning' : 'releasing ownership'}`);
      if (page.done) break;
      cursor = page.nextCursor;
      if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof deleteRuleWorkflow>({ ...input, carried: { offset, pagesDone, summary, cursor } });
      }
    }
    return finish(input, deprovision, summary, 'users left in the store');
  }
  for (;;) {
    const page = await pageActivities.deleteRulePage({
      connectionId: input.connectionId,
      config: input.config,
      ruleId: input.rule.id,
      deprovision,
      offset,
      limit: input.duoPageSize,
    });
    summary = mergeSummary(summary, page.summary);
    pagesDone += 1;
    pagesThisRun += 1;
    setCurrentDetails(`rule ${input.rule.id}: ${pagesDone} pages of Duo users, ${deprovision ? 'deprovisioning' : 'releasing ownership'}`);
    if (page.nextOffset === null) break;
    offset = page.nextOffset;
    if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof deleteRuleWorkflow>({ ...input, carried: { offset, pagesDone, summary } });
    }
  }
  return finish(input, deprovision, summary, 'users left in Duo');
}

function finish(input: z.output<typeof DeleteRuleInputSchema>, deprovision: boolean, summary: RunSummary, left: string): DeleteRuleResult {
  const outcome: RunOutcome = summary.failed > 0 ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  return {
    connectionId: input.connectionId,
    ruleId: input.rule.id,
    outcome,
    deprovisioned: deprovision,
    summary,
    notes: deprovision ? [] : [`deprovisionOnRuleDeletion is off: ownership released, ${left}`],
  };
}
