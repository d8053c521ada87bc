/**
 * deleteRuleWorkflow: removes a rule's footprint. For an outbound rule, with `deprovisionOnRuleDeletion`
 * it deprovisions (per removeAction) every Duo user the rule owns and deletes its Duo groups; without
 * it, it only releases ownership (removes the markers) so users and groups stay but duo-sync no
 * longer manages them. For an inbound rule the same applies to the store users it created.
 * Page by page over Duo users; resumable through continue-as-new; re-running a page is a no-op.
 * Started by hand (Web UI) with `{"connectionId","ruleId"}` it re-runs the cleanup of a rule that
 * is already gone from the connection (e.g. after a failed run), reading the saved configuration.
 */
import { ApplicationFailure, continueAsNew, patched, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, RuleSchema, SlugSchema } from '../domain/connection';
import { emptySummary, mergeSummary, RunSummarySchema, type RunSummary } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { pageActivities } from './activity-options';
import type { RunOutcome } from './definitions';
import { invalidInput } from './failures';
import { configFromEntity, recordingOutcome, runSearchAttributes } from './run-support';

export const DeleteRuleInputSchema = z
  .object({
    connectionId: z.string().min(1),
    /** Both absent when started by hand: then `ruleId` names the deleted rule and config is read from the entity. */
    config: ConnectionConfigSchema.optional(),
    rule: RuleSchema.optional(),
    ruleId: SlugSchema.optional(),
    duoPageSize: z.number().int().min(1).max(300).default(300),
    /** Inbound rules: store users per page. */
    storePageSize: z.number().int().min(1).max(1000).default(100),
    pagesPerRun: z.number().int().min(1).max(1000).default(50),
    carried: z
      .object({ offset: z.number().int().min(0), pagesDone: z.number().int().min(0), summary: RunSummarySchema, cursor: z.string().nullable().optional() })
      .optional(),
  })
  .strict()
  .refine((i) => i.rule || i.ruleId, { message: 'ruleId is required', path: ['ruleId'] });
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
  return recordingOutcome(() => deleteRule(rawInput));
}

async function deleteRule(rawInput: DeleteRuleInput): Promise<DeleteRuleResult> {
  const parsed = DeleteRuleInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('deleteRuleWorkflow', parsed.error);
  const input = parsed.data;
  upsertSearchAttributes(runSearchAttributes(input.connectionId, 'deleteRule'));
  const ruleId = input.rule?.id ?? (input.ruleId as string);
  const config = input.config ?? (await configFromEntity(input.connectionId, { kind: 'deleteRule', dryRun: false }));
  if (!input.rule && config.rules.some((r) => r.id === ruleId)) {
    // Cleaning up a rule the entity still provisions would fight it: the update removes the rule first.
    throw ApplicationFailure.nonRetryable(
      `rule ${ruleId} is still configured on ${input.connectionId}: send the deleteRule update {"ruleId":"${ruleId}"} to connection/${input.connectionId} instead`,
      'RuleStillConfigured',
    );
  }
  const deprovision = config.userActions.deprovisionOnRuleDeletion;
  let { offset, pagesDone, summary } = input.carried ?? { offset: 0, pagesDone: 0, summary: emptySummary() };
  let pagesThisRun = 0;
  // An inbound rule's users live in the store, not in Duo (a rule started by hand with only its id is
  // gone from the config, so its direction is unknown: it is cleaned up in Duo, as outbound rules are).
  // Patched: deletions of inbound rules recorded before this paged Duo.
  const inboundRule = input.rule?.direction === 'inbound' ? input.rule : undefined;
  if (inboundRule && patched('inbound-delete-rule')) {
    let cursor = input.carried?.cursor ?? null;
    for (;;) {
      const page = await pageActivities.deleteInboundRulePage({ connectionId: input.connectionId, config, rule: inboundRule, deprovision, cursor, pageSize: input.storePageSize });
      summary = mergeSummary(summary, page.summary);
      pagesDone += 1;
      pagesThisRun += 1;
      setCurrentDetails(`inbound rule ${ruleId}: ${pagesDone} pages of store users, ${deprovision ? 'deprovisioning' : 'releasing ownership'}`);
      if (page.done) break;
      cursor = page.nextCursor;
      if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
        await continueAsNew<typeof deleteRuleWorkflow>({ ...input, config, carried: { offset, pagesDone, summary, cursor } });
      }
    }
    return finish(input.connectionId, ruleId, deprovision, summary, 'users left in the store');
  }
  setCurrentDetails(`rule ${ruleId}: starting, ${deprovision ? 'deprovisioning' : 'releasing ownership of'} its Duo users`);
  for (;;) {
    const page = await pageActivities.deleteRulePage({
      connectionId: input.connectionId,
      config,
      ruleId,
      deprovision,
      offset,
      limit: input.duoPageSize,
    });
    summary = mergeSummary(summary, page.summary);
    pagesDone += 1;
    pagesThisRun += 1;
    setCurrentDetails(`rule ${ruleId}: ${pagesDone} pages of Duo users, ${deprovision ? 'deprovisioning' : 'releasing ownership'}`);
    if (page.nextOffset === null) break;
    offset = page.nextOffset;
    if (pagesThisRun >= input.pagesPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof deleteRuleWorkflow>({ ...input, config, carried: { offset, pagesDone, summary } });
    }
  }
  // The rule's groups, whether or not it still lists `groups` (the key may have been removed earlier).
  // Histories recorded before groups existed have no marker here and replay without this step.
  if (patched('delete-rule-groups')) {
    setCurrentDetails(`rule ${ruleId}: ${deprovision ? 'deleting' : 'releasing'} its Duo groups`);
    summary = mergeSummary(summary, await pageActivities.deleteRuleGroups({ connectionId: input.connectionId, config, ruleId, deprovision }));
  }
  return finish(input.connectionId, ruleId, deprovision, summary, 'users and groups left in Duo');
}

function finish(connectionId: string, ruleId: string, deprovision: boolean, summary: RunSummary, left: string): DeleteRuleResult {
  const outcome: RunOutcome = summary.failed > 0 ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  return {
    connectionId,
    ruleId,
    outcome,
    deprovisioned: deprovision,
    summary,
    notes: deprovision ? [] : [`deprovisionOnRuleDeletion is off: ownership released, ${left}`],
  };
}
