/**
 * Adoption (a rule's `adopt`, docs/ownership.md): which existing Duo users no marker claims a rule's
 * store users would take over, and why others are refused. Evaluated the same way when a full sync
 * plans (every upsert page lists its adoptions instead of applying them) and when the approved list
 * is applied (each adoption is evaluated again and applied only if it still names the same Duo user).
 *
 * Costs: nothing for rules with `adopt: never`; otherwise one administrator listing per call, and in
 * `email` mode one Duo lookup by email per store user that has no owned Duo user yet.
 */
import { isDuoError, type DuoClient, type DuoUser } from '../duo';
import type { Rule, UserActions } from '../domain/connection';
import { clean, type MappingResult } from '../domain/mapping';
import { isOwnedBy, MAX_STORE_ID_LENGTH, type Owner } from '../domain/ownership';
import { planAdoption, type PlanOp } from '../domain/plan';
import type { StoreUser } from '../stores';
import { describeDuoUser, toUserView, withTransientRetry } from './duo-ops';

/** Prefix of adoption ids in a run's planned change list (beside Duo user ids and `group:` ids). */
export const ADOPT_PREFIX = 'adopt:';

/** A store user mapped for one rule, and what Duo has under its Duo username (sync.ts builds these). */
export interface AdoptionSubject {
  user: StoreUser;
  mapped: MappingResult;
  /** The Duo user whose username (not an alias) is the mapped username. */
  current: DuoUser | undefined;
  /** The Duo user that has the mapped username as an alias. */
  aliasHolder: DuoUser | undefined;
  /** Other store users of the same read that map to the same Duo username. */
  sameUsername: readonly StoreUser[];
  /**
   * The store user was renamed: this rule's Duo user recording its store id, under its old
   * username. `current` is then that user as it will be after the rename (its new username).
   */
  renamedFrom?: DuoUser;
}

export type AdoptionVerdict =
  /** Not an adoption: reconcile as usual (owned, to be created, or a conflict the reconcile reports). */
  | { kind: 'none' }
  | { kind: 'adopt'; target: DuoUser; ops: PlanOp[]; planned: { id: string; label: string } }
  | { kind: 'refused'; username: string; reason: string };

/** The planned-change id of one adoption: rule, Duo user and store user, so the approval names exactly this pairing. */
export function adoptionId(ruleId: string, duoUserId: string, storeId: string): string {
  return `${ADOPT_PREFIX}${ruleId}:${duoUserId}:${encodeURIComponent(storeId)}`;
}

export function parseAdoptionId(id: string): { ruleId: string; duoUserId: string; storeId: string } | null {
  if (!id.startsWith(ADOPT_PREFIX)) return null;
  const [ruleId, duoUserId, storeId, ...rest] = id.slice(ADOPT_PREFIX.length).split(':');
  if (!ruleId || !duoUserId || storeId === undefined || rest.length > 0) return null;
  try {
    return { ruleId, duoUserId, storeId: decodeURIComponent(storeId) };
  } catch {
    return null;
  }
}

export function isAdoptionId(id: string): boolean {
  return id.startsWith(ADOPT_PREFIX);
}

/**
 * Every Duo administrator's id by lower-cased email, or undefined when they cannot be read (the
 * integration lacks "Grant administrators"): then no user is adopted, since an administrator's
 * linked user cannot be told apart.
 */
export async function adminEmails(duo: DuoClient): Promise<Map<string, string> | undefined> {
  const emails = new Map<string, string>();
  try {
    for await (const page of duo.iterateAdmins()) for (const a of page.items) emails.set(a.email.toLowerCase(), a.admin_id);
  } catch (err) {
    if (isDuoError(err, 'permission')) return undefined;
    throw err;
  }
  return emails;
}

export interface AdoptionContext {
  duo: DuoClient;
  connectionId: string;
  rule: Rule;
  userActions: UserActions;
  admins: Map<string, string> | undefined;
}

/** Whether the rule adopts at all (`adopt` set to something other than `never`). */
export function adopts(rule: Rule): boolean {
  return rule.adopt !== undefined && rule.adopt !== 'never';
}

/**
 * The verdict for each subject (same order). Two store users that would adopt the same Duo user
 * (by email) are both refused: the account cannot be told to belong to either.
 */
export async function evaluateAdoptions(ctx: AdoptionContext, subjects: readonly AdoptionSubject[]): Promise<AdoptionVerdict[]> {
  const verdicts: AdoptionVerdict[] = [];
  for (const subject of subjects) verdicts.push(await evaluateOne(ctx, subject));
  const claims = new Map<string, number[]>();
  verdicts.forEach((v, i) => {
    if (v.kind === 'adopt') claims.set(v.target.user_id, [...(claims.get(v.target.user_id) ?? []), i]);
  });
  for (const indexes of claims.values()) {
    if (indexes.length < 2) continue;
    const names = indexes.map((i) => `"${(subjects[i] as AdoptionSubject).user.username}"`).join(' and ');
    for (const i of indexes) {
      const v = verdicts[i] as Extract<AdoptionVerdict, { kind: 'adopt' }>;
      verdicts[i] = { kind: 'refused', username: v.ops[0]?.username ?? v.target.username, reason: `Duo user ${describeDuoUser(v.target)} matches store users ${names}; it is adopted for none of them: give them distinct emails` };
    }
  }
  return verdicts;
}

async function evaluateOne(ctx: AdoptionContext, subject: AdoptionSubject): Promise<AdoptionVerdict> {
  const { rule, duo } = ctx;
  const mode = rule.adopt ?? 'never';
  const { user, mapped, current, aliasHolder } = subject;
  if (mode === 'never' || !mapped.ok || subject.sameUsername.length > 0 || subject.renamedFrom || user.externalId.length > MAX_STORE_ID_LENGTH) return { kind: 'none' };
  const owner: Owner = { connectionId: ctx.connectionId, ruleId: rule.id };
  if (current && isOwnedBy(current.notes, owner.connectionId, owner.ruleId)) return { kind: 'none' };
  const desired = mapped.user;
  let target = current;
  if (mode === 'email') {
    const email = clean(desired.email);
    const hits = email === null ? [] : await withTransientRetry(() => duo.findUsersByEmail(email));
    if (hits.length > 1) {
      return { kind: 'refused', username: desired.username, reason: `email ${email} belongs to ${hits.length} Duo users (${hits.map(describeDuoUser).join(', ')}); adopting by email needs exactly one: give them distinct emails in Duo` };
    }
    const hit = hits[0];
    if (hit && current && hit.user_id !== current.user_id) {
      return { kind: 'refused', username: desired.username, reason: `Duo username "${desired.username}" is Duo user ${describeDuoUser(current)}, but the store user's email ${email} is Duo user ${describeDuoUser(hit)}; neither is adopted: rename or delete one of them in Duo` };
    }
    if (hit && !current && aliasHolder && aliasHolder.user_id !== hit.user_id) {
      return { kind: 'refused', username: desired.username, reason: `Duo username "${desired.username}" is an alias of Duo user ${describeDuoUser(aliasHolder)}, so Duo user ${describeDuoUser(hit)} (email ${email}) cannot be renamed to it; remove the alias in Duo` };
    }
    target = hit ?? current;
  }
  if (!target) return { kind: 'none' };
  const emails = [target.email, desired.email].flatMap((e) => (e ? [e.toLowerCase()] : []));
  const adminId = emails.map((e) => ctx.admins?.get(e)).find((id) => id !== undefined);
  const isAdmin = ctx.admins === undefined ? undefined : adminId !== undefined;
  const adoption = planAdoption({
    desired,
    current: toUserView(target),
    owner,
    mode,
    storeId: user.externalId,
    userActions: ctx.userActions,
    ...(isAdmin === undefined ? {} : { isAdmin }),
    ...(rule.administrators ? { managesAdministrators: true } : {}),
    ...(adminId === undefined ? {} : { adminId }),
  });
  if (!adoption.adopt) return { kind: 'refused', username: target.username, reason: `Duo user ${describeDuoUser(target)} ${adoption.reason}` };
  const renamed = target.username !== desired.username ? ` (renamed to "${desired.username}")` : '';
  return {
    kind: 'adopt',
    target,
    ops: adoption.ops,
    planned: { id: adoptionId(rule.id, target.user_id, user.externalId), label: `${describeDuoUser(target)} for store user "${user.username}" (store id ${user.externalId})${renamed}` },
  };
}
