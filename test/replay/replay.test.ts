/**
 * Replay: every recorded history (every run of each continue-as-new chain) against the current
 * workflow bundle, so a non-deterministic change fails the build; and the same histories against a
 * deliberately changed bundle, so this test is known to catch one. Record anew with
 * DUO_SYNC_RECORD_HISTORIES=1 (docs/architecture.md says when).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { PATCHES } from '../../src/workflows/patches';
import { HISTORY_DIR, recordedWorkflowIds, recordingOf } from '../support/histories';
import { workflowBundle } from '../support/temporal';

const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json').sort();
const ids = recordedWorkflowIds();

function histories(filter: (file: string) => boolean) {
  return files.filter(filter).map((file) => ({
    workflowId: ids[recordingOf(file)] ?? recordingOf(file),
    history: historyFromJSON(JSON.parse(readFileSync(resolve(HISTORY_DIR, file), 'utf8'))),
  }));
}

async function replayFailures(bundle: WorkflowBundleWithSourceMap, filter: (file: string) => boolean): Promise<string[]> {
  const failures: string[] = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories(filter))) {
    if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
  }
  return failures;
}

describe('replay: recorded histories against the current workflow code', function () {
  this.timeout(120_000);

  it('has recordings of every workflow kind, with whole continue-as-new chains', () => {
    const recordings = new Set(files.map(recordingOf));
    for (const name of ['full-sync-initial', 'inbound-sync-initial', 'connection-configure-sync', 'connection-schedule', 'delete-rule-deprovision', 'full-sync-approval-timeout', 'full-sync-skip']) {
      assert.ok(recordings.has(name), `missing recording ${name}; record with DUO_SYNC_RECORD_HISTORIES=1 npm test`);
    }
    assert.ok(files.some((f) => f.endsWith('.run2.json')), 'at least one recording holds a continue-as-new chain');
  });

  it('replays every recorded history without non-determinism', async () => {
    assert.deepEqual(await replayFailures(await workflowBundle(), () => true), []);
  });

  it('fails on a workflow changed without a patch (the check above can fail)', async () => {
    const changed = await bundleWorkflowCode({ workflowsPath: require.resolve('./changed-workflows'), logger: new DefaultLogger('WARN') });
    const failures = await replayFailures(changed, (f) => f.startsWith('full-sync-'));
    const fullSyncs = histories((f) => f.startsWith('full-sync-')).length;
    assert.ok(fullSyncs > 0);
    assert.equal(failures.length, fullSyncs, failures.join('\n'));
    for (const failure of failures) assert.match(failure, /[Nn]ondeterminism|[Dd]eterminism/);
  });

  it('every patched() id in the workflows is in the patch registry, and every registered id is used', () => {
    const dir = resolve(__dirname, '../../src/workflows');
    const used = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'patches.ts')) {
      const text = readFileSync(resolve(dir, file), 'utf8');
      const literal = [...text.matchAll(/\b(?:patched|deprecatePatch)\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] as string);
      const calls = [...text.matchAll(/\b(?:patched|deprecatePatch)\(/g)].length;
      assert.equal(calls, literal.length, `${file}: write patch ids as string literals so they can be checked against the registry`);
      for (const id of literal) used.add(id);
    }
    const registered = new Set(Object.values(PATCHES).map((p) => p.id));
    assert.deepEqual([...used].filter((id) => !registered.has(id)), [], 'patched() ids missing from src/workflows/patches.ts');
    assert.deepEqual([...registered].filter((id) => !used.has(id)), [], 'registered patches no workflow uses any more: remove them from src/workflows/patches.ts');
  });
});
