import assert from 'node:assert/strict';
import { countsOf, describeCounts, describeGroupCounts, emptyGroupCounts, emptySummary, MAX_FAILURES, mergeSummary, recordAdopted, recordAdoptionConflict, recordFailure, recordOutcome, RunSummarySchema, type RunSummary } from '../../src/domain/summary';

function withFailures(n: number, prefix: string): RunSummary {
  let s = emptySummary();
  for (let i = 0; i < n; i++) s = recordFailure(s, { username: `${prefix}${i}`, operation: 'create', code: '40002', message: 'Invalid request parameters' });
  return s;
}

describe('domain/summary', () => {
  it('describes the counters in one line each, for logs, the CLI and the Web UI', () => {
    const summary = { ...recordOutcome(recordOutcome(emptySummary(), 'created', 3), 'skipped'), groups: { ...emptyGroupCounts(), created: 2, membershipsAdded: 37 } };
    assert.equal(describeCounts(summary), 'created 3, updated 0, disabled 0, deleted 0, unchanged 0, skipped 1, failed 0');
    assert.equal(describeGroupCounts(summary.groups), 'groups: created 2, updated 0, deleted 0, unchanged 0; memberships added 37, removed 0');
  });

  it('lists adoptions and refused adoptions per user, merges them, and keeps them out of the counters runs report', () => {
    const a = recordAdopted(recordOutcome(emptySummary(), 'updated'), { id: 'adopt:staff:DU1:id-ada', label: 'ada' });
    const b = recordAdoptionConflict(emptySummary(), { username: 'bob', reason: 'is managed by Duo’s own directory sync' });
    const merged = mergeSummary(a, b);
    assert.deepEqual(merged.adopted, [{ id: 'adopt:staff:DU1:id-ada', label: 'ada' }]);
    assert.deepEqual(merged.adoptionConflicts, [{ username: 'bob', reason: 'is managed by Duo’s own directory sync' }]);
    assert.deepEqual([merged.updated, merged.skipped], [1, 1], 'a refusal counts as skipped');
    assert.ok(RunSummarySchema.safeParse(merged).success);
    assert.ok(!('adopted' in countsOf(merged)) && !('adoptionConflicts' in countsOf(merged)));
  });

  it('starts at zero and validates', () => {
    const s = emptySummary();
    assert.deepEqual(s, { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 0, skipped: 0, failed: 0, failures: [], failuresTruncated: 0 });
    assert.deepEqual(RunSummarySchema.parse(s), s);
  });

  it('fills missing fields with zeros when parsing (older payloads)', () => {
    assert.deepEqual(RunSummarySchema.parse({ created: 2 }), { ...emptySummary(), created: 2 });
  });

  it('counts outcomes without mutating the input', () => {
    const s0 = emptySummary();
    const s1 = recordOutcome(recordOutcome(s0, 'created'), 'unchanged', 5);
    assert.equal(s0.created, 0);
    assert.equal(s1.created, 1);
    assert.equal(s1.unchanged, 5);
  });

  it('merges counters and failures in order', () => {
    const a = recordFailure(recordOutcome(emptySummary(), 'updated', 3), { username: 'ada', operation: 'update', message: 'boom' });
    const b = recordFailure(recordOutcome(emptySummary(), 'deleted', 2), { username: 'grace', operation: 'delete', code: '50001', message: 'limit' });
    const m = mergeSummary(a, b);
    assert.equal(m.updated, 3);
    assert.equal(m.deleted, 2);
    assert.equal(m.failed, 2);
    assert.deepEqual(m.failures.map((f) => f.username), ['ada', 'grace']);
    assert.deepEqual(mergeSummary(emptySummary(), m), m);
  });

  it(`keeps at most ${MAX_FAILURES} failure details and counts the rest`, () => {
    const s = withFailures(MAX_FAILURES + 5, 'u');
    assert.equal(s.failed, MAX_FAILURES + 5);
    assert.equal(s.failures.length, MAX_FAILURES);
    assert.equal(s.failuresTruncated, 5);
    assert.equal(s.failures.at(-1)?.username, `u${MAX_FAILURES - 1}`);
    assert.ok(RunSummarySchema.safeParse(s).success);
  });

  it('caps failures when merging, keeping the earliest and adding up truncation', () => {
    const a = withFailures(150, 'a');
    const b = withFailures(MAX_FAILURES + 10, 'b');
    const m = mergeSummary(a, b);
    assert.equal(m.failed, 150 + MAX_FAILURES + 10);
    assert.equal(m.failures.length, MAX_FAILURES);
    assert.equal(m.failures[0]?.username, 'a0');
    assert.equal(m.failures[150]?.username, 'b0');
    assert.equal(m.failuresTruncated, 10 + (150 + MAX_FAILURES - MAX_FAILURES));
    assert.equal(m.failed, m.failures.length + m.failuresTruncated);
  });

  it('shortens very long failure texts so summaries stay small', () => {
    const s = recordFailure(emptySummary(), { username: 'ada', operation: 'update', message: 'x'.repeat(10_000) });
    assert.ok((s.failures[0]?.message.length ?? 0) <= 500);
  });

  it('rejects negative or fractional counters', () => {
    assert.equal(RunSummarySchema.safeParse({ ...emptySummary(), created: -1 }).success, false);
    assert.equal(RunSummarySchema.safeParse({ ...emptySummary(), created: 1.5 }).success, false);
  });
});
