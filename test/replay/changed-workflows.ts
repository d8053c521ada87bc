/**
 * The workflow bundle with one change that is *not* replay-safe: fullSyncWorkflow sleeps before it
 * starts. The negative replay test bundles this file and expects recorded full-sync histories to
 * fail with non-determinism, proving the replay test can catch an unguarded change.
 */
import { sleep } from '@temporalio/workflow';
import type { FullSyncInput, FullSyncResult } from '../../src/contract';
import { fullSyncWorkflow as current } from '../../src/workflows/full-sync';

export { connectionWorkflow, deleteRuleWorkflow, healthCheckWorkflow, inboundSyncWorkflow, reconcileGroupWorkflow, reconcileUserWorkflow } from '../../src/workflows';

export async function fullSyncWorkflow(input: FullSyncInput): Promise<FullSyncResult> {
  await sleep(1);
  return current(input);
}
