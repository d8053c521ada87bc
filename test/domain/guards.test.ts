import assert from 'node:assert/strict';
import { combineHashes, deletionSetHash, EMPTY_HASH, evaluateDeletionGuard, evaluateSourceHealth, fnv1a64, isDeletionSetHash } from '../../src/domain/guards';

describe('domain/guards', () => {
  describe('deletion guard', () => {
    const guard = (ownedCount: number, plannedDeletions: number, maxFraction = 0.1, maxCount = 500) => evaluateDeletionGuard({ ownedCount, plannedDeletions, maxFraction, maxCount });

    it('allows nothing planned, even with no owned users', () => {
      assert.deepEqual(guard(0, 0), { allowed: true });
    });

    it('allows exactly the fraction limit and trips one above it, naming the numbers', () => {
      assert.deepEqual(guard(1000, 100), { allowed: true });
      assert.deepEqual(guard(1000, 101), { allowed: false, reason: 'planned deprovisions: 101 of 1000 owned users (10.1%) is more than the limit of 10% (100 users)' });
    });

    it('allows exactly the count limit and trips one above it', () => {
      assert.deepEqual(guard(100_000, 500), { allowed: true });
      assert.deepEqual(guard(100_000, 501), { allowed: false, reason: 'planned deprovisions: 501 is more than the limit of 500 deprovisions per run' });
    });

    it('names both limits when both trip', () => {
      const result = guard(1000, 600, 0.1, 500);
      assert.equal(result.allowed, false);
      assert.match(result.allowed ? '' : result.reason, /600 of 1000 owned users \(60%\).*; 600 is more than the limit of 500/);
    });

    it('is exact at boundaries that floating point gets wrong', () => {
      assert.deepEqual(guard(100, 29, 0.29), { allowed: true });
      assert.equal(guard(100, 30, 0.29).allowed, false);
    });

    it('judges adoptions by the same limits and names them', () => {
      const guard = evaluateDeletionGuard({ ownedCount: 0, plannedDeletions: 3, maxFraction: 0.1, maxCount: 500, what: 'adoptions' });
      assert.ok(!guard.allowed);
      assert.match(guard.reason, /^planned adoptions: 3 of 0 owned users/);
      assert.ok(evaluateDeletionGuard({ ownedCount: 100, plannedDeletions: 10, maxFraction: 0.1, maxCount: 500, what: 'adoptions' }).allowed);
    });

    it('trips when deletions are planned but no owned users were counted', () => {
      assert.equal(guard(0, 1).allowed, false);
    });

    it('a zero fraction or count forbids any deletion without approval', () => {
      assert.equal(guard(1000, 1, 0).allowed, false);
      assert.equal(guard(1000, 1, 1, 0).allowed, false);
    });
  });

  describe('source health', () => {
    const health = (inScopeCount: number, lastGoodInScopeCount: number | undefined, readComplete = true, maxDropFraction = 0.5) =>
      evaluateSourceHealth({ inScopeCount, lastGoodInScopeCount, readComplete, maxDropFraction });

    it('an incomplete read is unhealthy whatever the counts', () => {
      assert.deepEqual(health(1000, 1000, false), { healthy: false, reason: 'the store read failed or was incomplete' });
    });

    it('zero in scope after a non-empty good run is unhealthy', () => {
      assert.deepEqual(health(0, 250), { healthy: false, reason: 'the store returned no users in scope (last good run: 250)' });
    });

    it('zero in scope with no baseline is unhealthy; with a baseline of zero it is normal', () => {
      assert.equal(health(0, undefined).healthy, false);
      assert.deepEqual(health(0, 0), { healthy: true });
    });

    it('a drop exactly at the limit is healthy; just beyond it is not', () => {
      assert.deepEqual(health(500, 1000), { healthy: true });
      assert.deepEqual(health(499, 1000), { healthy: false, reason: 'users in scope fell from 1000 to 499 (50.1% drop, more than the allowed 50%)' });
    });

    it('growth and first runs are healthy', () => {
      assert.deepEqual(health(2000, 1000), { healthy: true });
      assert.deepEqual(health(10, undefined), { healthy: true });
    });
  });

  describe('deletion-set hash', () => {
    it('matches the FNV-1a 64 reference vectors', () => {
      assert.equal(fnv1a64(''), 'cbf29ce484222325');
      assert.equal(fnv1a64('a'), 'af63dc4c8601ec8c');
      assert.equal(fnv1a64('foobar'), '85944171f73967e8');
    });

    it('is stable and 16 hex digits', () => {
      const h = deletionSetHash(['ada', 'grace']);
      assert.ok(isDeletionSetHash(h));
      assert.equal(deletionSetHash(['ada', 'grace']), h);
    });

    it('ignores order, duplicates and letter case', () => {
      assert.equal(deletionSetHash(['grace', 'ADA', 'ada']), deletionSetHash(['ada', 'grace']));
    });

    it('differs when the set differs', () => {
      const hashes = new Set([deletionSetHash([]), deletionSetHash(['ada']), deletionSetHash(['grace']), deletionSetHash(['ada', 'grace']), deletionSetHash(['ada', 'grace', 'linus'])]);
      assert.equal(hashes.size, 5);
    });

    it('the empty set hashes to EMPTY_HASH, the identity of combineHashes', () => {
      assert.equal(deletionSetHash([]), EMPTY_HASH);
      assert.equal(combineHashes(EMPTY_HASH, deletionSetHash(['ada'])), deletionSetHash(['ada']));
    });

    it('per-page hashes combine into the hash of the whole set, however it was paged', () => {
      const all = Array.from({ length: 250 }, (_, i) => `user${i}@example.com`);
      const whole = deletionSetHash(all);
      for (const size of [1, 7, 100, 300]) {
        let acc = EMPTY_HASH;
        for (let i = 0; i < all.length; i += size) acc = combineHashes(acc, deletionSetHash(all.slice(i, i + size)));
        assert.equal(acc, whole, `page size ${size}`);
      }
    });

    it('hashes non-ASCII usernames by their UTF-8 bytes', () => {
      assert.equal(fnv1a64('é'), fnv1a64('\u00e9'));
      assert.notEqual(deletionSetHash(['josé']), deletionSetHash(['jose']));
      assert.notEqual(deletionSetHash(['😀']), deletionSetHash(['😁']));
    });

    it('rejects values that are not hashes', () => {
      assert.throws(() => combineHashes('xyz', EMPTY_HASH), /not a deletion-set hash/);
    });
  });
});
