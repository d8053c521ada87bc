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

/** The file of run `index` (1 = first) of a recorded chain: `<name>.run<index>.json`. */
export function historyFileName(name: string, index: number): string {
  return `${name}.run${index}.json`;
}

/** The recording's name from a history file name. */
export function recordingOf(file: string): string {
  return file.replace(/\.run\d+\.json$/, '').replace(/\.json$/, '');
}

/**
 * Saves every run of the workflow's continue-as-new chain, oldest first, so replay covers the code
 * paths of the later runs too (a resumed page, an approval wait, the apply pass).
 */
export async function saveHistory(name: string, workflowId: string): Promise<void> {
  if (process.env.DUO_SYNC_RECORD_HISTORIES !== '1') return;
  const { server, client } = testTemporal();
  const runIds: { runId: string; start: number }[] = [];
  for await (const execution of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runIds.push({ runId: execution.runId, start: execution.startTime.getTime() });
  }
  runIds.sort((a, b) => a.start - b.start);
  mkdirSync(HISTORY_DIR, { recursive: true });
  for (const [i, { runId }] of runIds.entries()) {
    const args = ['workflow', 'show', '--address', server.address, '--namespace', server.namespace, '--workflow-id', workflowId, '--run-id', runId, '--output', 'json'];
    const { stdout } = await run(await findTemporalCli(), args, { maxBuffer: 64 << 20 });
    writeFileSync(resolve(HISTORY_DIR, historyFileName(name, i + 1)), stdout);
  }
  writeFileSync(WORKFLOW_IDS_FILE, `${JSON.stringify({ ...recordedWorkflowIds(), [name]: workflowId }, null, 2)}\n`);
}
