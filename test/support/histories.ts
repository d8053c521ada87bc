/**
 * Saving workflow histories as replay fixtures. Tests call `saveHistory` after a representative
 * run; with DUO_SYNC_RECORD_HISTORIES=1 the history is (re)written to test/fixtures/histories, and
 * test/replay replays every saved file against the current workflow bundle on every run, so a
 * non-deterministic change to workflow code fails the build. Histories are exported with the
 * pinned Temporal CLI (`workflow show --output json`), the format SREs also download.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { findTemporalCli } from '../../src/temporal/dev-server';
import { testTemporal } from './temporal';

const run = promisify(execFile);
export const HISTORY_DIR = resolve(__dirname, '../fixtures/histories');
/** Replays need the original workflow id (connectionWorkflow checks its own), kept beside the files. */
export const WORKFLOW_IDS_FILE = resolve(HISTORY_DIR, 'workflow-ids.json');

export function recordedWorkflowIds(): Record<string, string> {
  return existsSync(WORKFLOW_IDS_FILE) ? (JSON.parse(readFileSync(WORKFLOW_IDS_FILE, 'utf8')) as Record<string, string>) : {};
}

export async function saveHistory(name: string, workflowId: string, runId?: string): Promise<void> {
  if (process.env.DUO_SYNC_RECORD_HISTORIES !== '1') return;
  const { server } = testTemporal();
  const args = ['workflow', 'show', '--address', server.address, '--namespace', server.namespace, '--workflow-id', workflowId, '--output', 'json'];
  if (runId) args.push('--run-id', runId);
  const { stdout } = await run(await findTemporalCli(), args, { maxBuffer: 64 << 20 });
  mkdirSync(HISTORY_DIR, { recursive: true });
  writeFileSync(resolve(HISTORY_DIR, `${name}.json`), stdout);
  writeFileSync(WORKFLOW_IDS_FILE, `${JSON.stringify({ ...recordedWorkflowIds(), [name]: workflowId }, null, 2)}\n`);
}
