/**
 * A phone approves logins for every user it is attached to, so one number listed for several
 * people is a conflict of each of them (unless the rule sets `phoneSharing: "allow"`): each sharer
 * is provisioned without that phone and fails it with a message naming the others.
 *
 * Seeing every sharer needs the whole rule's scope, not one page: a full sync reads the rule's
 * store users once (at its first page that needs it) into an index of the numbers that more than
 * one active user lists, kept on the worker for the run (bounded; a page served by a worker
 * without it reads the store again). Run inputs and results stay small: only the index's use is
 * reported, as per-user failures.
 */
import type { Rule } from '../domain/connection';
import { mapStoreUser, usernameKey, type DesiredPhone, type MappingResult } from '../domain/mapping';
import { duoPhoneKey } from '../domain/phones';
import type { IdentityStore } from '../stores';
import { beat } from './heartbeat';

/** Phone key (number and extension) → the usernames of the active store users that list it, when more than one does. */
export type SharedPhoneIndex = ReadonlyMap<string, readonly string[]>;

const READ_PAGE = 500;

export function sharesPhones(rule: Rule): boolean {
  return rule.phoneSharing !== 'allow';
}

function phoneKeyOf(phone: DesiredPhone): string {
  return duoPhoneKey(phone.number, phone.extension);
}

/** Reads the rule's scope once and keeps the numbers more than one active user lists. */
export async function buildSharedPhoneIndex(store: IdentityStore, rule: Rule): Promise<SharedPhoneIndex> {
  const all = new Map<string, Map<string, string>>();
  let cursor: string | null = null;
  do {
    const page = await store.listUsers(rule.scope, { cursor, pageSize: READ_PAGE });
    for (const user of page.items) {
      const mapped = mapStoreUser(user, rule.attributeMappings, rule);
      if (!mapped.ok || mapped.user.status !== 'active' || !mapped.user.phone) continue;
      const key = phoneKeyOf(mapped.user.phone);
      const holders = all.get(key) ?? new Map<string, string>();
      holders.set(user.externalId, mapped.user.username);
      all.set(key, holders);
    }
    cursor = page.nextCursor;
    beat();
  } while (cursor !== null);
  const shared = new Map<string, string[]>();
  for (const [key, holders] of all) if (holders.size > 1) shared.set(key, [...holders.values()].sort());
  return shared;
}

/**
 * The mapping without its phone when another store user lists the same number, with a
 * PhoneConflict for that phone naming the others; otherwise the mapping unchanged. The user is
 * provisioned without the phone, and its Duo phones are left as they are.
 */
export function withoutSharedPhone(mapped: MappingResult, index: SharedPhoneIndex): MappingResult {
  if (!mapped.ok || mapped.user.status !== 'active' || !mapped.user.phone) return mapped;
  const phone = mapped.user.phone;
  const holders = index.get(phoneKeyOf(phone));
  if (!holders) return mapped;
  const me = usernameKey(mapped.user.username);
  const others = holders.filter((h) => usernameKey(h) !== me);
  if (others.length === 0) return mapped;
  const { phone: _dropped, ...rest } = mapped.user;
  const number = phone.extension ? `${phone.number} extension ${phone.extension}` : phone.number;
  const message = `user ${mapped.user.username}: phone ${number} is also the phone of store user${others.length > 1 ? 's' : ''} ${others.map((o) => `"${o}"`).join(', ')}; a phone approves logins for everyone it is attached to, so it was attached to none of them (their Duo phones are left as they are): give each person their own number in the store, or set the rule's phoneSharing to "allow"`;
  return { ok: true, user: rest, problems: [...mapped.problems, { username: mapped.user.username, operation: 'phone', code: 'PhoneConflict', message }] };
}

