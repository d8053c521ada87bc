/**
 * reconcileUserWorkflow: brings one Duo user in line with the store after a change signal or a
 * syncUser update. The parent serialises runs per user, so changes to one user apply in order;
 * the activity reads the store's *current* state, so a burst of changes costs one run.
 */
import { setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema } from '../domain/connection';
import type { RunSummary } from '../domain/summary';
import { DuoSyncOutcome } from '../shared/search-attributes';
import { shortActivities } from './activity-options';
import { UsernameSchema } from './definitions';
import { invalidInput } from './failures';
import { configFromEntity, markRunStarted, recordingOutcome } from './run-support';

export const ReconcileUserInputSchema = z
  .object({
    connectionId: z.string().min(1),
    config: ConnectionConfigSchema.optional(),
    username: UsernameSchema,
    ruleId: z.string().optional(),
    dryRun: z.boolean().default(false),
  })
  .strict();
export type ReconcileUserInput = z.input<typeof ReconcileUserInputSchema>;

export interface ReconcileUserResult {
  connectionId: string;
  summary: RunSummary;
}

export async function reconcileUserWorkflow(rawInput: ReconcileUserInput): Promise<ReconcileUserResult> {
  return recordingOutcome(() => reconcileUser(rawInput));
}

async function reconcileUser(rawInput: ReconcileUserInput): Promise<ReconcileUserResult> {
  const parsed = ReconcileUserInputSchema.safeParse(rawInput);
  if (!parsed.success) throw invalidInput('reconcileUserWorkflow', parsed.error);
  const input = parsed.data;
  markRunStarted(input.connectionId, 'reconcileUser');
  setCurrentDetails(`reconciling ${input.username}${input.dryRun ? ' (dry run)' : ''}`);
  const config = input.config ?? (await configFromEntity(input.connectionId, { kind: 'reconcileUser', dryRun: input.dryRun }));
  const summary = await shortActivities.reconcileUser({
    connectionId: input.connectionId,
    config,
    username: input.username,
    dryRun: input.dryRun,
    ...(input.ruleId ? { ruleId: input.ruleId } : {}),
  });
  const outcome = summary.failed > 0 ? 'partial' : 'succeeded';
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
  return { connectionId: input.connectionId, summary };
}
