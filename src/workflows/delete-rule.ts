/**
 * deleteRuleWorkflow: removes a rule's footprint from Duo. With `deprovisionOnRuleDeletion` it
 * deprovisions (per removeAction) every Duo user the rule owns and deletes its Duo groups; without
 * it, it only releases ownership (removes the markers) so users and groups stay but duo-sync no
 * longer manages them.
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
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: z.object({ offset: z.number().int().min(0), pagesDone: z.number().int().min(0), summary: RunSummarySchema }).optional(),
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
  // The rule's groups, whether or not it still lists `groups` (the key may have been removed earlier).
  // Histories recorded before groups existed have no marker here and replay without this step.
  if (patched('delete-rule-groups')) {
    setCurrentDetails(`rule ${input.rule.id}: ${deprovision ? 'deleting' : 'releasing'} its Duo groups`);
    summary = mergeSummary(summary, await pageActivities.deleteRuleGroups({ connectionId: input.connectionId, config: input.config, ruleId: input.rule.id, deprovision }));
  }
  const outcome: RunOutcome = summary.failed > 0 ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  return {
    connectionId: input.connectionId,
    ruleId: input.rule.id,
    outcome,
    deprovisioned: deprovision,
    summary,
    notes: deprovision ? [] : ['deprovisionOnRuleDeletion is off: ownership released, users and groups left in Duo'],
  };
}
