import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { HISTORY_DIR, recordedWorkflowIds } from '../support/histories';
import { workflowBundle } from '../support/temporal';

describe('replay: recorded histories against the current workflow code', () => {
  const files = readdirSync(HISTORY_DIR).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json').sort();
  const ids = recordedWorkflowIds();

  it('has recorded histories to replay', () => {
    assert.ok(files.length >= 3, `expected recorded histories in ${HISTORY_DIR}; record with DUO_SYNC_RECORD_HISTORIES=1 npm test`);
  });

  it('replays every recorded history without non-determinism', async () => {
    const histories = files.map((file) => ({
      workflowId: ids[file.replace(/\.json$/, '')] ?? file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(resolve(HISTORY_DIR, file), 'utf8'))),
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    assert.deepEqual(failures, []);
  });
});
