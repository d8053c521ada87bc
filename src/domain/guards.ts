/**
 * Safety gates of a full sync (docs/architecture.md, "One guarded-run driver"): the deletion guard (too many deprovisions wait for an
 * approval), the source-health gate (a failed, partial, empty or sharply shrunken store read never
 * means "everyone left"), and the deletion-set hash that names exactly what an approval covers.
 * Pure: the full-sync workflow evaluates these between activity calls.
 */
import { usernameKey } from './mapping';

// ---- deletion guard ----------------------------------------------------------------------------

export interface DeletionGuardInput {
  /** Duo users owned by the connection (deprovision candidates included). */
  ownedCount: number;
  plannedDeletions: number;
  /** 0..1; trips when planned > maxFraction × owned. */
  maxFraction: number;
  /** Trips when planned > maxCount. */
  maxCount: number;
  /** What is planned (default deprovisions); adoptions are judged by the same thresholds, counted on their own. */
  what?: 'deprovisions' | 'adoptions';
}

export type DeletionGuardResult = { allowed: true } | { allowed: false; reason: string };

function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(1))}%`;
}

/** Exactly at a threshold is allowed; one more trips it. */
export function evaluateDeletionGuard(input: DeletionGuardInput): DeletionGuardResult {
  const { ownedCount, plannedDeletions: planned, maxFraction, maxCount } = input;
  const what = input.what ?? 'deprovisions';
  if (planned <= 0) return { allowed: true };
  const reasons: string[] = [];
  const fractionLimit = maxFraction * ownedCount;
  // Tolerance: 0.29 × 100 is 28.999999999999996 in floating point, and 29 must not trip it.
  if (planned - fractionLimit > 1e-9 * Math.max(1, ownedCount)) {
    const share = ownedCount > 0 ? ` (${percent(planned / ownedCount)})` : '';
    reasons.push(`${planned} of ${ownedCount} owned users${share} is more than the limit of ${percent(maxFraction)} (${Math.floor(fractionLimit + 1e-9)} users)`);
  }
  if (planned > maxCount) reasons.push(`${planned} is more than the limit of ${maxCount} ${what} per run`);
  return reasons.length === 0 ? { allowed: true } : { allowed: false, reason: `planned ${what}: ${reasons.join('; ')}` };
}

// ---- source health -----------------------------------------------------------------------------

export interface SourceHealthInput {
  /** Users read in scope from the store this run. */
  inScopeCount: number;
  /** In-scope count of the last healthy run; undefined when there is none yet. */
  lastGoodInScopeCount: number | undefined;
  /** False when any page of the store read failed or was cut short. */
  readComplete: boolean;
  /** 0..1; unhealthy when the count fell by more than this fraction of the last good count. */
  maxDropFraction: number;
}

export type SourceHealthResult = { healthy: true } | { healthy: false; reason: string };

/**
 * A zero count is unhealthy unless the last good run also had zero: without a baseline an empty
 * read cannot be told apart from a broken one. A drop exactly at `maxDropFraction` is healthy.
 */
export function evaluateSourceHealth(input: SourceHealthInput): SourceHealthResult {
  const { inScopeCount: count, lastGoodInScopeCount: last, readComplete, maxDropFraction } = input;
  if (!readComplete) return { healthy: false, reason: 'the store read failed or was incomplete' };
  if (count === 0 && last !== 0) {
    return { healthy: false, reason: last === undefined ? 'the store returned no users in scope and there is no earlier good run to compare with' : `the store returned no users in scope (last good run: ${last})` };
  }
  if (last !== undefined && last > 0) {
    const drop = (last - count) / last;
    if (drop - maxDropFraction > 1e-9) {
      return { healthy: false, reason: `users in scope fell from ${last} to ${count} (${percent(drop)} drop, more than the allowed ${percent(maxDropFraction)})` };
    }
  }
  return { healthy: true };
}

// ---- deletion-set hash -------------------------------------------------------------------------

/*
 * The hash of a set of usernames is the sum (mod 2^64) of a per-username hash: FNV-1a 64 over the
 * UTF-8 bytes of the lower-cased username, passed through MurmurHash3's 64-bit finaliser so that
 * similar names spread over all bits. A sum does not depend on order or paging, so per-page hashes
 * combine into the hash of the whole set: deletionSetHash(A ∪ B) = combineHashes(hash(A), hash(B))
 * for disjoint A and B. It names a set for approvals; it is not a cryptographic commitment.
 */

const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const HASH_RE = /^[0-9a-f]{16}$/;

/** The hash of the empty set (the identity of `combineHashes`). */
export const EMPTY_HASH = '0000000000000000';

function utf8Bytes(text: string): number[] {
  const bytes: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80) bytes.push(cp);
    else if (cp < 0x800) bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else bytes.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return bytes;
}

/** FNV-1a 64-bit of a string's UTF-8 bytes, as 16 hex digits. */
export function fnv1a64(text: string): string {
  return toHex(fnv(text));
}

function fnv(text: string): bigint {
  let h = FNV_OFFSET;
  for (const b of utf8Bytes(text)) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h;
}

function fmix64(value: bigint): bigint {
  let k = value;
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & MASK64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & MASK64;
  k ^= k >> 33n;
  return k;
}

function toHex(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

function fromHex(hash: string): bigint {
  if (!HASH_RE.test(hash)) throw new TypeError(`"${hash}" is not a deletion-set hash (16 lower-case hex digits)`);
  return BigInt(`0x${hash}`);
}

/** Stable hash of a set of usernames: order, duplicates and letter case do not matter. */
export function deletionSetHash(usernames: readonly string[]): string {
  let sum = 0n;
  for (const key of new Set(usernames.map(usernameKey))) sum = (sum + fmix64(fnv(key))) & MASK64;
  return toHex(sum);
}

/** Hash of the union of two disjoint sets, from their hashes (per-page hashes → run hash). */
export function combineHashes(a: string, b: string): string {
  return toHex((fromHex(a) + fromHex(b)) & MASK64);
}

export function isDeletionSetHash(value: string): boolean {
  return HASH_RE.test(value);
}
