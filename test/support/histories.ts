/**
 * Saving workflow histories as replay fixtures. Tests call `saveHistory` after a representative
 * run; with DUO_SYNC_RECORD_HISTORIES=1 the history is (re)written to test/fixtures/histories, and
 * test/replay replays every saved file against the current workflow bundle on every run, so a
 * non-deterministic change to workflow code fails the build. Histories are exported with the
 * pinned Temporal CLI (`workflow show --output json`), the format SREs also download.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { findTemporalCli } from '../../src/temporal/dev-server';
import { testTemporal } from './temporal';

const run = promisify(execFile);
export const HISTORY_DIR = resolve(__dirname, '../fixtures/histories');

export async function saveHistory(name: string, workflowId: string, runId?: string): Promise<void> {
  if (process.env.DUO_SYNC_RECORD_HISTORIES !== '1') return;
  const { server } = testTemporal();
  const args = ['workflow', 'show', '--address', server.address, '--namespace', server.namespace, '--workflow-id', workflowId, '--output', 'json'];
  if (runId) args.push('--run-id', runId);
  const { stdout } = await run(await findTemporalCli(), args, { maxBuffer: 64 << 20 });
  mkdirSync(HISTORY_DIR, { recursive: true });
  writeFileSync(resolve(HISTORY_DIR, `${name}.json`), stdout);
}
