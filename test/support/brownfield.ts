/**
 * A brownfield Duo account: duo-sync rolled out on a tenant people have used for years. The
 * sandbox is seeded directly (no HTTP) with `size` existing users, none carrying a duo-sync marker
 * except some of another connection, and a store that overlaps it. By index i:
 *   - i % 20 == 2: synced by Duo's own directory sync;  i % 20 == 7: an administrator's linked user;
 *   - i % 20 == 12: owned by another connection;        i % 20 == 17: in the Trash (pending deletion);
 *   - i % 3 == 0: a phone the person enrolled (same number as the store's when i % 6 == 0);
 *   - i % 10 == 1: an alias;  i % 4 == 0: member of a hand-made Duo group `vpn-users`;
 *   - every user: its own notes and a realname that differs from the store's.
 * The store holds the first 90% of them (same username, store id `id-<username>`) and 10% new
 * people. Used by test/workflows/adoption.test.ts at 50 users and by `npm run soak:brownfield` at 1,000.
 */
import type { DuoStore } from '../../src/sandbox/store';
import type { FileUser } from './sync-fixture';

export type ConflictKind = 'directorySynced' | 'adminLinked' | 'otherConnection' | 'trashed';

export interface Brownfield {
  storeUsers: FileUser[];
  /** Duo usernames the rule should adopt (in the store, no reason to refuse). */
  adoptable: string[];
  /** Duo usernames in the store that must be refused, and why. */
  conflicts: Map<string, ConflictKind>;
  /** Store users with no Duo user: created. */
  created: string[];
  /** Phones people enrolled themselves: phone id → the Duo user id it was attached to. */
  enrolledPhones: Map<string, string>;
  /** Membership in the hand-made group: Duo user ids. */
  vpnGroupId: string;
}

const pad = (i: number): string => String(i).padStart(7, '0');
export const bfName = (i: number): string => `bf${i}`;

function conflictOf(i: number): ConflictKind | undefined {
  switch (i % 20) {
    case 2:
      return 'directorySynced';
    case 7:
      return 'adminLinked';
    case 12:
      return 'otherConnection';
    case 17:
      return 'trashed';
    default:
      return undefined;
  }
}

export function seedBrownfield(duo: DuoStore, size: number): Brownfield {
  const p = (entries: Record<string, string>) => new Map(Object.entries(entries));
  const vpn = duo.createGroup(p({ name: 'vpn-users', desc: 'made by hand' }));
  const inStore = Math.floor(size * 0.9);
  const result: Brownfield = { storeUsers: [], adoptable: [], conflicts: new Map(), created: [], enrolledPhones: new Map(), vpnGroupId: vpn.group_id };
  for (let i = 0; i < size; i++) {
    const username = bfName(i);
    const conflict = conflictOf(i);
    const notes = conflict === 'otherConnection' ? `old account\n[duo-sync:c=other-tenant;r=staff;s=id-${username}]` : 'added by hand';
    const user = duo.createUser(p({ username, email: `${username}@example.org`, realname: `Hand Made ${i}`, firstname: `Given${i}`, lastname: `Family${i}`, notes }));
    if (i % 10 === 1) duo.modifyUser(user.user_id, p({ alias1: `${username}-alias` }));
    if (i % 3 === 0) {
      const phone = duo.createPhone(p({ number: i % 6 === 0 ? `+1555${pad(i)}` : `+1666${pad(i)}`, type: 'mobile', platform: 'apple ios', name: i % 2 === 0 ? 'iPhone' : '' }));
      duo.associatePhone(user.user_id, phone.phone_id);
      result.enrolledPhones.set(phone.phone_id, user.user_id);
    }
    if (i % 4 === 0) duo.addUserToGroup(user.user_id, vpn.group_id);
    if (conflict === 'directorySynced') duo.markDirectorySynced(user.user_id, `azure-${i}`);
    if (conflict === 'adminLinked') duo.createAdmin(p({ email: `${username}@example.org`, name: `Admin ${i}`, role: 'Help Desk' }));
    if (conflict === 'trashed') duo.sendToTrash(user.user_id);
    if (i >= inStore) continue;
    result.storeUsers.push({ id: `id-${username}`, username, email: `${username}@example.org`, phones: [`+1555${pad(i)}`], givenName: `Given${i}`, familyName: `Family${i}`, enabled: true, groups: ['staff'] });
    if (conflict) result.conflicts.set(username, conflict);
    else result.adoptable.push(username);
  }
  for (let j = 0; j < size - inStore; j++) {
    const username = `nw${j}`;
    result.storeUsers.push({ id: `id-${username}`, username, email: `${username}@example.org`, phones: [`+1777${pad(j)}`], givenName: `New${j}`, familyName: `Person${j}`, enabled: true, groups: ['staff'] });
    result.created.push(username);
  }
  return result;
}

/** Phones people enrolled that are still attached to the same user and still exist. */
export function enrolledPhonesKept(duo: DuoStore, bf: Brownfield): number {
  let kept = 0;
  for (const [phoneId, userId] of bf.enrolledPhones) {
    if (duo.phones.get(phoneId)?.userIds.has(userId)) kept += 1;
  }
  return kept;
}
