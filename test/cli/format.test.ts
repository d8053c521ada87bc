import assert from 'node:assert/strict';
import { fullSyncResultLines } from '../../src/cli/format';
import { emptySummary } from '../../src/domain/summary';

describe('cli format: sync results', () => {
  it('renders an inbound sync result with its Duo count (and says when the Duo read was incomplete)', () => {
    const base = { connectionId: 'acme', workflowId: 'inbound-sync/acme/3', ruleId: 'duo-users', outcome: 'succeeded' as const, dryRun: false, summary: { ...emptySummary(), created: 4 }, notes: [], deletions: 'applied' as const };
    const text = fullSyncResultLines({ ...base, duoCount: 7 }).join('\n');
    assert.match(text, /Duo users:\s+7/);
    assert.doesNotMatch(text, /undefined/);
    assert.match(fullSyncResultLines({ ...base, duoCount: null }).join('\n'), /unknown \(the Duo read was incomplete\)/);
    assert.match(fullSyncResultLines({ ...base, workflowId: 'full-sync/acme/2', inScopeCount: 12 }).join('\n'), /users in scope:\s+12/);
  });
});
