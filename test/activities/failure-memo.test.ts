/**
 * The per-worker memo of data failures (src/activities/failure-memo.ts): what counts as a data
 * failure (memoised) and what is transient or depends on Duo's state (never memoised), how a memo
 * entry is recalled, replaced and forgotten, and its bound.
 */
import assert from 'node:assert/strict';
import { entryFingerprint, FailureMemo, isDataFailure } from '../../src/activities/failure-memo';
import { RuleSchema } from '../../src/domain/connection';
import { emptySummary, recordFailure, recordOutcome, type Failure } from '../../src/domain/summary';
import type { StoreUser } from '../../src/stores';

const owner = { connectionId: 'acme', ruleId: 'staff' };
const user = (extra: Partial<StoreUser> = {}): StoreUser => ({ externalId: 'u-1', username: 'alice', email: 'alice@example.org', phones: [], enabled: true, groupIds: [], attributes: {}, ...extra });
const failure = (code: string, operation = 'create'): Failure => ({ username: 'alice', operation, code, message: `failed with ${code}` });
const failed = (...failures: Failure[]) => failures.reduce(recordFailure, emptySummary());

describe('data failure memo', () => {
  it('memoises failures caused by the entry’s data, never transient ones or ones that depend on Duo’s state', () => {
    for (const code of ['MappingError', '40002', '40003', 'invalidRequest']) assert.equal(isDataFailure(failure(code)), true, code);
    for (const code of ['UsernameConflict', 'PhoneConflict', 'GroupLimit', '50001', '42901', 'rateLimited', 'unavailable', 'timeout', 'InvalidPhone', undefined]) {
      assert.equal(isDataFailure({ ...failure('x'), code }), false, String(code));
    }
  });

  it('the fingerprint changes with any of the entry’s data and with the rule, not with attribute order', () => {
    const rule = RuleSchema.parse({ id: 'staff', direction: 'outbound', scope: { kind: 'all' } });
    const base = entryFingerprint(rule, user({ attributes: { a: '1', b: '2' } }));
    assert.equal(entryFingerprint(rule, user({ attributes: { b: '2', a: '1' } })), base);
    assert.notEqual(entryFingerprint(rule, user({ attributes: { a: '1', b: '3' } })), base);
    assert.notEqual(entryFingerprint(rule, user({ attributes: { a: '1', b: '2' }, email: 'a@example.org' })), base);
    assert.notEqual(entryFingerprint({ ...rule, phoneRegion: 'GB' }, user({ attributes: { a: '1', b: '2' } })), base);
  });

  it('recalls a data failure for the same fingerprint as "still failing", forgets it on success or on another fingerprint', () => {
    const memo = new FailureMemo();
    memo.record(owner, 'u-1', 'fp1', failed(failure('40002')), 'full-sync/acme/1');
    const again = memo.recall(owner, 'u-1', 'fp1');
    assert.ok(again);
    assert.equal(again.failed, 1);
    assert.equal(again.failures[0]?.message, 'still failing (unchanged since full-sync/acme/1): failed with 40002');
    assert.equal(again.failures[0]?.code, '40002');
    assert.equal(memo.recall(owner, 'u-1', 'fp2'), undefined, 'the entry changed: retried');
    assert.equal(memo.recall({ ...owner, ruleId: 'other' }, 'u-1', 'fp1'), undefined);

    // A retry that fails the same way again keeps the first run; a success forgets it.
    memo.record(owner, 'u-1', 'fp1', failed(failure('40002')), 'full-sync/acme/2');
    assert.match(memo.recall(owner, 'u-1', 'fp1')?.failures[0]?.message ?? '', /since full-sync\/acme\/1\)/);
    memo.record(owner, 'u-1', 'fp1', recordOutcome(emptySummary(), 'created'), 'full-sync/acme/3');
    assert.equal(memo.recall(owner, 'u-1', 'fp1'), undefined);
  });

  it('a transient or Duo-state failure is not memoised (and replaces nothing but forgets the entry)', () => {
    const memo = new FailureMemo();
    memo.record(owner, 'u-1', 'fp1', failed(failure('UsernameConflict', 'match')), 'r1');
    assert.equal(memo.recall(owner, 'u-1', 'fp1'), undefined);
    memo.record(owner, 'u-1', 'fp1', failed(failure('MappingError', 'map')), 'r1');
    memo.record(owner, 'u-1', 'fp1', failed(failure('50001')), 'r2');
    assert.equal(memo.recall(owner, 'u-1', 'fp1'), undefined);
  });

  it('is bounded: the oldest entries go first', () => {
    const memo = new FailureMemo(3);
    for (const id of ['a', 'b', 'c', 'd']) memo.record(owner, id, 'fp', failed(failure('40002')), 'r');
    assert.equal(memo.size, 3);
    assert.equal(memo.recall(owner, 'a', 'fp'), undefined);
    assert.ok(memo.recall(owner, 'd', 'fp'));
  });
});
