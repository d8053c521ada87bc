import assert from 'node:assert/strict';
import type { ConnectionStatus } from '../../src/contract';
import { describeConnection, fullSyncSummary } from '../../src/contract/ui-text';

const base: ConnectionStatus = {
  connectionId: 'acme',
  configured: true,
  enabled: true,
  paused: false,
  rules: [{ id: 'staff', direction: 'outbound' }],
  syncQueued: false,
  lastRuns: [],
  pendingChanges: 0,
  reconcilesInFlight: 0,
  recentEvents: [],
  runsInFlight: [],
  lastGoodInScopeByRule: {},
};

describe('ui-text: what the Web UI shows about a connection', () => {
  it('says what blocks provisioning, what runs and how the newest finished run ended', () => {
    const text = describeConnection({
      ...base,
      paused: true,
      pauseReason: 'change freeze',
      connectionTest: { ok: true, testedAt: '2026-11-23T10:00:00Z', checks: [] },
      currentRun: { workflowId: 'full-sync/acme/3', phase: 'awaitingApproval', pagesDone: 4, usersSeen: 350, counts: { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0 }, awaitingApproval: { plannedDeletions: 90, ownedCount: 400, deletionSetHash: 'h', reason: 'r' } },
      lastRuns: [
        { kind: 'fullSync', workflowId: 'full-sync/acme/1', startedAt: '2026-11-23T08:00:00Z', finishedAt: '2026-11-23T08:01:00Z', outcome: 'failed' },
        { kind: 'fullSync', workflowId: 'full-sync/acme/2', startedAt: '2026-11-23T09:00:00Z', finishedAt: '2026-11-23T09:02:30Z', outcome: 'succeeded' },
        { kind: 'fullSync', workflowId: 'full-sync/acme/3', startedAt: '2026-11-23T10:00:00Z', outcome: 'running' },
      ],
    });
    assert.deepEqual(text.split('\n\n'), [
      'PAUSED (change freeze), connection test passed, 1 rules',
      'running full-sync/acme/3: awaitingApproval, 4 pages, 350 users in scope',
      'awaiting deletion approval: 90 of 400 owned users',
      'last run full-sync/acme/2: succeeded at 2026-11-23 09:02Z',
    ]);
  });

  it('tells an unconfigured connection what to send, and names dry runs and rules in summaries', () => {
    assert.match(describeConnection({ ...base, configured: false }), /send the configure update/);
    assert.equal(fullSyncSummary('acme', { dryRun: true, ruleId: 'staff' }), 'Dry-run full sync of acme, rule staff');
  });
});
