/** The full sync's choice of Duo read and the worker's snapshot of every Duo user (src/activities/user-reads.ts). */
import assert from 'node:assert/strict';
import { chooseUserRead, DuoUserSnapshot, SNAPSHOT_MAX_USERS } from '../../src/activities/user-reads';
import type { DuoUser } from '../../src/duo';
import { DuoUserSchema } from '../../src/duo/schemas';
import { gc } from '../stores/contract';

const group = (n: number) => ({ group_id: `DG${n}`, name: `group${n}`, desc: '', status: 'active', push_enabled: true, sms_enabled: true, voice_enabled: true, mobile_otp_enabled: true });

function duoUser(i: number, extra: Partial<DuoUser> = {}): DuoUser {
  return {
    user_id: `DU${String(i).padStart(18, '0')}`,
    username: `user${i}`,
    realname: `Given${i} Family${i}`,
    firstname: `Given${i}`,
    lastname: `Family${i}`,
    email: `user${i}@example.org`,
    notes: `duo-sync:c=conn;r=staff;s=user${i}`,
    status: 'active',
    alias1: null,
    alias2: null,
    alias3: null,
    alias4: null,
    aliases: {},
    created: 1_700_000_000,
    last_login: null,
    last_directory_sync: null,
    is_enrolled: false,
    groups: [group(1), group(2)],
    phones: [],
    tokens: [],
    u2ftokens: [],
    webauthncredentials: [],
    desktoptokens: [],
    ...extra,
  } as DuoUser;
}

describe('Duo user reads of a full sync', () => {
  it('uses the listing already made for an account of 100,000 users (the 100k re-sync reads Duo once)', () => {
    assert.equal(chooseUserRead({ totalDuoUsers: 100_000, inScope: 100_000, listingDone: true }).read, 'list');
    assert.equal(chooseUserRead({ totalDuoUsers: 100_000, inScope: undefined, listingDone: true }).read, 'list');
    // A listing still to be made costs 334 calls against 1,000 lookups for 100k in scope, but 334 against 1 for 50.
    assert.equal(chooseUserRead({ totalDuoUsers: 100_000, inScope: 50, listingDone: false }).read, 'lookup');
  });

  it('a snapshot answers lookups by name and alias with the users it was given, and serves them in listing order', () => {
    const users = [duoUser(0), duoUser(1, { alias1: 'one', aliases: { alias1: 'one' } }), duoUser(2), duoUser(3, { username: 'USER1b' })];
    const snapshot = new DuoUserSnapshot(users, 0);
    const found = snapshot.lookup(['user0', 'ONE', 'user1b', 'nobody']);
    assert.deepEqual(found.users.get('user0'), users[0]);
    assert.deepEqual(found.users.get('user1b'), users[3]);
    assert.deepEqual(found.aliasHolders.get('one'), users[1]);
    assert.equal(found.users.has('nobody'), false);
    assert.equal(snapshot.size, 4);
    assert.deepEqual(snapshot.usersAt(1, 3), [users[1], users[2]]);
    assert.deepEqual(snapshot.usersAt(3, 10), [users[3]]);
  });

  it('a snapshot built page by page shows a user renamed after it was listed under the new name, and keeps nothing beyond its size limit', () => {
    const snapshot = new DuoUserSnapshot([], 0);
    snapshot.add([duoUser(0), duoUser(1)]);
    snapshot.add([duoUser(2)]);
    snapshot.renamed(duoUser(1), 'user1-renamed');
    const found = snapshot.lookup(['user1', 'user1-renamed']);
    assert.equal(found.users.has('user1'), false, 'the old name is free');
    assert.equal(found.users.get('user1-renamed')?.user_id, duoUser(1).user_id);
    assert.deepEqual(snapshot.usersAt(0, 3).map((u) => u.username), ['user0', 'user1-renamed', 'user2']);

    const big = new DuoUserSnapshot([], 0);
    const page = Array.from({ length: 300 }, (_, i) => duoUser(i));
    for (let added = 0; added <= SNAPSHOT_MAX_USERS; added += page.length) big.add(page);
    assert.equal(big.overflowed, true);
    assert.ok(big.size > SNAPSHOT_MAX_USERS, 'still counts the users it saw, for the choice of read');
    assert.deepEqual(big.usersAt(0, 10), [], 'holds none of them');
  });

  it('a snapshot keeps about 1 KB per user, not the parsed users (about 2.4 KB each)', () => {
    const total = 20_000;
    // As the client hands them over: each user parsed from Duo's JSON by the client's schema.
    const parsed = (i: number): DuoUser => DuoUserSchema.parse(JSON.parse(JSON.stringify(duoUser(i))));
    gc();
    const before = process.memoryUsage().heapUsed;
    const snapshot = new DuoUserSnapshot(Array.from({ length: total }, (_, i) => parsed(i)), 0);
    gc();
    const perUser = (process.memoryUsage().heapUsed - before) / total;
    assert.equal(snapshot.size, total);
    assert.ok(perUser < 1300, `${perUser.toFixed(0)} bytes per user`);
  });
});
