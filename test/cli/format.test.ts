import assert from 'node:assert/strict';
import { fullSyncResultLines, summaryLines } from '../../src/cli/format';
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

  it('shows administrator changes apart (a dry run of a role change shows it)', () => {
    const text = summaryLines({ ...emptySummary(), updated: 1, admins: { created: 0, updated: 0, roleChanged: 1, disabled: 0, deleted: 0, forgotten: 0 } }).join('\n');
    assert.match(text, /administrators: created 0, updated 0, role changed 1, disabled 0, deleted 0, forgotten 0/);
    assert.doesNotMatch(summaryLines(emptySummary()).join('\n'), /administrators/);
  });
});
