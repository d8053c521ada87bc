/**
 * reconcileUserWorkflow: brings one Duo user in line with the store after a change signal or a
 * syncUser update. The entity serialises runs per user, so changes to one user apply in order;
 * the activity reads the store's *current* state, so a burst of changes costs one run.
 */
import { setCurrentDetails } from '@temporalio/workflow';
import { ReconcileUserInputSchema, type ReconcileUserInput, type ReconcileUserResult } from '../contract';
import { shortActivities } from './activity-options';
import { parseInput } from './failures';
import { asRun, claimFromEntity } from './run-support';

export async function reconcileUserWorkflow(rawInput: ReconcileUserInput): Promise<ReconcileUserResult> {
  const input = parseInput(ReconcileUserInputSchema, 'reconcileUserWorkflow', rawInput);
  return asRun(
    { connectionId: input.connectionId, kind: 'reconcileUser', dryRun: input.dryRun },
    async () => {
      setCurrentDetails(`reconciling ${input.username}${input.dryRun ? ' (dry run)' : ''}`);
      const { config } = await claimFromEntity(input.connectionId, { kind: 'reconcileUser', dryRun: input.dryRun });
      const summary = await shortActivities.reconcileUser({ connectionId: input.connectionId, config, username: input.username, dryRun: input.dryRun, ...(input.previousUsername ? { previousUsername: input.previousUsername } : {}), ...(input.ruleId ? { ruleId: input.ruleId } : {}) });
      return { connectionId: input.connectionId, summary };
    },
    (r) => ({ outcome: r.summary.failed > 0 ? 'partial' : 'succeeded', summary: r.summary }),
  );
}
