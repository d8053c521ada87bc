/**
 * How a full sync's pages read the Duo users they compare the store with: `username_list` lookups
 * (one get-page call per 100 store users), or one listing of every Duo user (one get-page call per
 * 300 Duo users) kept for the rule's later pages as a snapshot. The cheaper one is chosen per rule
 * on its first page, from Duo's user count and the rule's in-scope count at its last good run
 * (docs/duo.md, "Which read a full sync uses").
 *
 * The snapshot is worker memory, keyed by the run's workflow id and rule: a page on a worker that
 * does not hold it, a retried page, or a snapshot older than SNAPSHOT_TTL_MS uses lookups. It is
 * taken after the rule's renames (which it reflects); users this run creates are never in it, and a
 * page creating a name some other page created meets Duo's conflict, handled as any create conflict.
 */
import type { DuoUser } from '../duo';
import { DUO_KNOWN_LIMITS_PER_MINUTE } from '../duo/rate-categories';
import { usernameKey } from '../domain/mapping';
import { usernameLookupFrom, type UsernameLookup } from './duo-ops';

/** Duo's largest user page: a listing of every Duo user costs one call per this many users. */
export const DUO_USERS_PAGE = 300;
/** Names per `username_list` lookup. */
export const DUO_LOOKUP_BATCH = 100;
/**
 * A snapshot larger than this is not kept (worker memory, about 1 KB per user): its rule uses
 * lookups. Sized so a 100k-user account is read once per full sync.
 */
export const SNAPSHOT_MAX_USERS = 150_000;
/** Users all snapshots of a worker may hold together (about 200 MB); the oldest go first. */
const SNAPSHOTS_MAX_TOTAL_USERS = 200_000;
/** A snapshot older than this is stale for the pages still to come: they use lookups. */
export const SNAPSHOT_TTL_MS = 30 * 60_000;

export type UserRead = 'list' | 'lookup';

export interface UserReadChoice {
  read: UserRead;
  /** Rate-limit-weighted cost of each read, in minutes of its category's limit at Duo's known limits. */
  cost: Record<UserRead, number>;
}

/**
 * The cheaper read for one rule's pages. Both reads are in Duo's get-page category, so each call
 * weighs 1/limit(getPage) minutes: listing ceil(T/300) calls (none when the rename pass listed
 * every user already), lookups ceil(S/100) calls. S unknown (no good run yet) counts as 0, so a
 * listing still to be made loses to lookups; a listing already made costs nothing and is used
 * whatever S is. Otherwise a tie goes to lookups (fresher), and so does an account above
 * SNAPSHOT_MAX_USERS.
 */
export function chooseUserRead(input: { totalDuoUsers: number; inScope: number | undefined; listingDone: boolean }): UserReadChoice {
  const perCall = 1 / DUO_KNOWN_LIMITS_PER_MINUTE.getPage;
  const cost = {
    list: (input.listingDone ? 0 : Math.ceil(input.totalDuoUsers / DUO_USERS_PAGE)) * perCall,
    lookup: Math.ceil((input.inScope ?? 0) / DUO_LOOKUP_BATCH) * perCall,
  };
  const cheaper = input.listingDone || cost.list < cost.lookup;
  const read: UserRead = input.totalDuoUsers <= SNAPSHOT_MAX_USERS && cheaper ? 'list' : 'lookup';
  return { read, cost };
}

/**
 * Every Duo user of an account at one moment, looked up the way `username_list` is. Users are kept
 * as their JSON text (about 0.9 KB each, against about 2.4 KB parsed) and parsed when a lookup or
 * the deprovision plan needs them; the text is this worker's own serialisation of users the
 * client's schema already checked.
 */
export class DuoUserSnapshot {
  private texts: string[] = [];
  /** Username or alias key → positions in `texts` (a number for the usual single holder). */
  private readonly byName = new Map<string, number | number[]>();
  /** Users added, kept or not. */
  size = 0;
  /** More than SNAPSHOT_MAX_USERS were added: nothing is kept (the rule uses lookups). */
  overflowed = false;

  constructor(
    /** In Duo's listing order. */
    users: readonly DuoUser[],
    readonly takenAt: number,
  ) {
    this.add(users);
  }

  /** Appends the next users of the listing (a page at a time, so the parsed listing is never held whole). */
  add(users: readonly DuoUser[]): void {
    this.size += users.length;
    if (this.overflowed) return;
    if (this.size > SNAPSHOT_MAX_USERS) {
      this.overflowed = true;
      this.texts = [];
      this.byName.clear();
      return;
    }
    for (const user of users) {
      const at = this.texts.push(JSON.stringify(user)) - 1;
      this.index(user.username, at);
      for (const alias of [user.alias1, user.alias2, user.alias3, user.alias4, ...Object.values(user.aliases)]) this.index(alias, at);
    }
  }

  /** Records that `from` now has the username `to` (the rename pass renamed it after listing it). */
  renamed(from: DuoUser, to: string): void {
    if (this.overflowed) return;
    for (const at of this.positionsOf(from.username)) {
      if (this.userAt(at).user_id !== from.user_id) continue;
      this.texts[at] = JSON.stringify({ ...from, username: to });
      // The old name's entry stays: lookups match names against the users they parse.
      this.index(to, at);
    }
  }

  /** What lookUpUsersByUsername would answer for these names, without a call. */
  lookup(usernames: readonly string[]): UsernameLookup {
    const hits = new Set<number>();
    for (const name of usernames) for (const at of this.positionsOf(name)) hits.add(at);
    return usernameLookupFrom([...hits].sort((a, b) => a - b).map((at) => this.userAt(at)), usernames);
  }

  /** The users at positions [from, to) of the listing. */
  usersAt(from: number, to: number): DuoUser[] {
    return this.texts.slice(from, to).map((text) => JSON.parse(text) as DuoUser);
  }

  private positionsOf(name: string): readonly number[] {
    const at = this.byName.get(usernameKey(name));
    return typeof at === 'number' ? [at] : (at ?? []);
  }

  private index(name: string | null | undefined, at: number): void {
    if (!name) return;
    const key = usernameKey(name);
    const seen = this.byName.get(key);
    if (seen === undefined) this.byName.set(key, at);
    else if (typeof seen === 'number') this.byName.set(key, seen === at ? at : [seen, at]);
    else if (!seen.includes(at)) seen.push(at);
  }

  private userAt(at: number): DuoUser {
    return JSON.parse(this.texts[at] as string) as DuoUser;
  }
}

/** The worker's snapshots, by `workflowId/ruleId`. */
const snapshots = new Map<string, DuoUserSnapshot>();

export function keepSnapshot(key: string, snapshot: DuoUserSnapshot): void {
  snapshots.delete(key);
  snapshots.set(key, snapshot);
  let total = [...snapshots.values()].reduce((n, s) => n + s.size, 0);
  for (const [k, s] of snapshots) {
    if (total <= SNAPSHOTS_MAX_TOTAL_USERS) break;
    snapshots.delete(k);
    total -= s.size;
  }
}

/**
 * The newest fresh snapshot any rule of this run (workflow id) took: each lists every Duo user of the
 * account, and the newest reflects every rule's renames.
 */
export function newestSnapshotOfRun(run: string, now: number): DuoUserSnapshot | undefined {
  let newest: DuoUserSnapshot | undefined;
  for (const [key, snapshot] of snapshots) {
    if (!key.startsWith(`${run}/`) || now - snapshot.takenAt > SNAPSHOT_TTL_MS) continue;
    if (!newest || snapshot.takenAt >= newest.takenAt) newest = snapshot;
  }
  return newest;
}

/** The snapshot kept for `key`, unless it is stale. */
export function snapshotFor(key: string, now: number): DuoUserSnapshot | undefined {
  const snapshot = snapshots.get(key);
  if (snapshot && now - snapshot.takenAt > SNAPSHOT_TTL_MS) snapshots.delete(key);
  return snapshots.get(key);
}
