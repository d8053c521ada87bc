/**
 * Saving workflow histories as replay fixtures. Tests call `saveHistory` after a representative
 * run; with DUO_SYNC_RECORD_HISTORIES=1 the history is (re)written to test/fixtures/histories, and
 * test/replay replays every saved file against the current workflow bundle on every run, so a
 * non-deterministic change to workflow code fails the build.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { testTemporal } from './temporal';

export const HISTORY_DIR = resolve(__dirname, '../fixtures/histories');

export async function saveHistory(name: string, workflowId: string, runId?: string): Promise<void> {
  if (process.env.DUO_SYNC_RECORD_HISTORIES !== '1') return;
  const history = await testTemporal().client.workflow.getHandle(workflowId, runId).fetchHistory();
  mkdirSync(HISTORY_DIR, { recursive: true });
  writeFileSync(resolve(HISTORY_DIR, `${name}.json`), historyToJSON(history));
}
