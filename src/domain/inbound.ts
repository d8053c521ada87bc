/**
 * Inbound sync (Duo users → identity store), pure and workflow-safe: the default mapping of a Duo
 * user to the store user it should be, the store-side ownership marker, and the per-user plan
 * (create / update with clearing / disable / delete / skip) honouring the connection's
 * `userActions`. Activities apply the ops; summaries use src/domain/summary.ts.
 *
 * Decisions:
 * - Loop prevention: a Duo user carrying this connection's outbound marker came from the store, so
 *   it is skipped; outbound sync in turn skips store users carrying the inbound marker.
 * - Ownership lives in the store record: the rule's owner attribute (file: `duoSyncOwner`, LDAP:
 *   `description`, which inetOrgPerson allows; SCIM: must be configured) holds
 *   `[duo-sync-inbound:c=<connection>;r=<rule>]`. Only store users with that value are updated,
 *   disabled or deleted. Existing store users are never adopted by username: the store is the
 *   source of truth for people (HR, outbound rules), and letting a Duo admin overwrite or delete
 *   such a record through a same-named Duo user would invert that.
 * - Status: Duo `active` → enabled, `disabled` → disabled; `bypass` and `locked out` are Duo's
 *   own states and leave `enabled` alone. Users `pending deletion` (Duo's Trash) are not touched.
 * - Phones: every numbered Duo phone, compared as a set of normalised numbers.
 */
import { z } from 'zod';
import type { Rule, UserActions } from './connection';
import { clean, phoneKey, type StoreUser } from './mapping';
import { isOwnedBy, type Owner } from './ownership';
import type { DuoUserView } from './plan';

// ---- ownership in the store ---------------------------------------------------------------------

const SLUG = '[a-z0-9][a-z0-9-]{0,62}';
const INBOUND_MARKER_RE = new RegExp(`^\\[duo-sync-inbound:c=(${SLUG});r=(${SLUG})\\]$`);

/** Store attribute holding the inbound marker when the rule names none. Null: the kind has no safe default. */
export function defaultOwnerAttribute(storeKind: string): string | null {
  switch (storeKind) {
    case 'file':
      return 'duoSyncOwner';
    case 'ldap':
      // In inetOrgPerson's schema (via person) and free text, so no schema extension is needed.
      return 'description';
    default:
      return null;
  }
}

/** The rule's owner attribute, or a message saying what to configure. */
export function ownerAttributeOf(rule: Rule, storeKind: string): { ok: true; attribute: string } | { ok: false; message: string } {
  const attribute = rule.ownerAttribute ?? defaultOwnerAttribute(storeKind);
  if (attribute) return { ok: true, attribute };
  return {
    ok: false,
    message: `inbound rule ${rule.id}: a ${storeKind} store has no default attribute to record ownership in; set the rule's ownerAttribute to a writable string attribute of your users`,
  };
}

export function formatInboundMarker(owner: Owner): string {
  return `[duo-sync-inbound:c=${owner.connectionId};r=${owner.ruleId}]`;
}

function attributeValues(user: StoreUser, attribute: string): string[] {
  const wanted = attribute.toLowerCase();
  // LDAP servers may return attribute names in another case than configured.
  const key = Object.keys(user.attributes).find((k) => k.toLowerCase() === wanted);
  const value = key === undefined ? undefined : user.attributes[key];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The inbound owner recorded on a store user, or null. Only a whole value in the exact format counts. */
export function parseInboundOwner(user: StoreUser, attribute: string): Owner | null {
  for (const value of attributeValues(user, attribute)) {
    const m = INBOUND_MARKER_RE.exec(value.trim());
    if (m && m[1] !== undefined && m[2] !== undefined) return { connectionId: m[1], ruleId: m[2] };
  }
  return null;
}

/** Whether a store user was created by an inbound rule of `connectionId` (any rule when `ruleId` is absent). */
export function isInboundOwned(user: StoreUser, attribute: string, connectionId: string, ruleId?: string): boolean {
  const owner = parseInboundOwner(user, attribute);
  return owner !== null && owner.connectionId === connectionId && (ruleId === undefined || owner.ruleId === ruleId);
}

/** Loop prevention: Duo users provisioned by this connection's outbound rules came from the store. */
export function isOutboundOwned(duoUser: Pick<DuoUserView, 'notes'>, connectionId: string): boolean {
  return isOwnedBy(duoUser.notes, connectionId);
}

// ---- mapping Duo → store ------------------------------------------------------------------------

export const DesiredStoreUserSchema = z.object({
  username: z.string().min(1),
  email: z.string().nullable(),
  displayName: z.string().nullable(),
  givenName: z.string().nullable(),
  familyName: z.string().nullable(),
  /** Normalised numbers, sorted; empty = clear. */
  phones: z.array(z.string()),
  /** Undefined: Duo's status (bypass, locked out) says nothing about the account being enabled. */
  enabled: z.boolean().optional(),
});
/** `null` (or an empty phone list) means "clear this field in the store". */
export type DesiredStoreUser = z.infer<typeof DesiredStoreUserSchema>;

/** Default inbound mapping: username→username, email→email, realname→displayName, firstname→givenName, lastname→familyName, phones→phones, status→enabled. */
export function mapDuoUser(duo: DuoUserView): DesiredStoreUser {
  const phones = [...new Set(duo.phones.flatMap((p) => (p.number && p.number.trim() !== '' ? [phoneKey(p.number)] : [])))].sort();
  const enabled = duo.status === 'active' ? true : duo.status === 'disabled' ? false : undefined;
  return {
    username: duo.username.trim(),
    email: clean(duo.email),
    displayName: clean(duo.realname),
    givenName: clean(duo.firstname),
    familyName: clean(duo.lastname),
    phones,
    ...(enabled === undefined ? {} : { enabled }),
  };
}

// ---- plan ---------------------------------------------------------------------------------------

const AttrValue = z.union([z.string(), z.array(z.string())]);

export const InboundOpSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('create'),
    username: z.string().min(1),
    user: z.object({
      username: z.string().min(1),
      email: z.string().optional(),
      phones: z.array(z.string()).optional(),
      givenName: z.string().optional(),
      familyName: z.string().optional(),
      displayName: z.string().optional(),
      enabled: z.boolean().optional(),
      attributes: z.record(z.string(), AttrValue),
    }),
  }),
  z.object({
    op: z.literal('update'),
    username: z.string().min(1),
    patch: z.object({
      email: z.string().nullable().optional(),
      phones: z.array(z.string()).nullable().optional(),
      givenName: z.string().nullable().optional(),
      familyName: z.string().nullable().optional(),
      displayName: z.string().nullable().optional(),
      enabled: z.boolean().optional(),
    }),
  }),
  z.object({ op: z.literal('disable'), username: z.string().min(1) }),
  z.object({ op: z.literal('delete'), username: z.string().min(1) }),
  z.object({ op: z.literal('skip'), username: z.string(), reason: z.string() }),
]);
export type InboundOp = z.infer<typeof InboundOpSchema>;

export interface PlanInboundInput {
  /** null: the user is gone from Duo. */
  desired: DesiredStoreUser | null;
  /** null: no store user with this username. */
  current: StoreUser | null;
  owner: Owner;
  ownerAttribute: string;
  userActions: UserActions;
}

const TEXT_FIELDS = ['email', 'displayName', 'givenName', 'familyName'] as const;

function skip(username: string, reason: string): InboundOp {
  return { op: 'skip', username, reason };
}

function samePhones(desired: readonly string[], current: readonly string[]): boolean {
  const a = [...new Set(desired)].sort();
  const b = [...new Set(current.map(phoneKey))].sort();
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The store writes that bring one store user in line with its Duo user. Unchanged input plans nothing. */
export function planInbound(input: PlanInboundInput): InboundOp[] {
  const { desired, current, owner, ownerAttribute, userActions: a } = input;
  if (!current) return desired ? planCreate(desired, owner, ownerAttribute, a) : [];
  const marker = parseInboundOwner(current, ownerAttribute);
  if (!marker || marker.connectionId !== owner.connectionId) {
    return desired ? [skip(current.username, 'exists in the store and was not created by inbound sync of this connection')] : [];
  }
  if (marker.ruleId !== owner.ruleId) return desired ? [skip(current.username, `created by inbound rule ${marker.ruleId} of this connection, not ${owner.ruleId}`)] : [];
  if (!desired) return planInboundDeprovision({ current, owner, ownerAttribute, userActions: a });
  return planUpdate(desired, current, a);
}

function planCreate(desired: DesiredStoreUser, owner: Owner, ownerAttribute: string, a: UserActions): InboundOp[] {
  if (!a.create) return [skip(desired.username, 'not in the store and userActions.create is off')];
  if (desired.enabled === false) return [skip(desired.username, 'disabled in Duo, so not created in the store')];
  const user: Extract<InboundOp, { op: 'create' }>['user'] = { username: desired.username, attributes: { [ownerAttribute]: formatInboundMarker(owner) } };
  for (const f of TEXT_FIELDS) {
    const v = desired[f];
    if (v !== null) user[f] = v;
  }
  if (desired.phones.length > 0) user.phones = [...desired.phones];
  return [{ op: 'create', username: desired.username, user }];
}

function planUpdate(desired: DesiredStoreUser, current: StoreUser, a: UserActions): InboundOp[] {
  if (!a.update) return [];
  const patch: Extract<InboundOp, { op: 'update' }>['patch'] = {};
  for (const f of TEXT_FIELDS) {
    const want = desired[f];
    const have = clean(current[f]);
    const same = f === 'email' ? want?.toLowerCase() === have?.toLowerCase() : want === have;
    if (!same) patch[f] = want;
  }
  if (!samePhones(desired.phones, current.phones)) patch.phones = desired.phones.length > 0 ? [...desired.phones] : null;
  let disable = false;
  if (a.disable && desired.enabled !== undefined) {
    if (desired.enabled === false && current.enabled) disable = true;
    else if (desired.enabled && !current.enabled) patch.enabled = true;
  }
  const ops: InboundOp[] = [];
  if (Object.keys(patch).length > 0) ops.push({ op: 'update', username: current.username, patch });
  if (disable) ops.push({ op: 'disable', username: current.username });
  return ops;
}

/** Deprovisioning one store user inbound sync owns, per `removeAction` (needs `deprovision`). */
export function planInboundDeprovision(input: Omit<PlanInboundInput, 'desired'> & { current: StoreUser }): InboundOp[] {
  const { current, owner, ownerAttribute, userActions: a } = input;
  // Never trust the caller's filtering alone: only this rule's own users are deprovisioned.
  if (!isInboundOwned(current, ownerAttribute, owner.connectionId, owner.ruleId)) return [];
  if (!a.deprovision) return [skip(current.username, 'gone from Duo, and userActions.deprovision is off')];
  switch (a.removeAction) {
    case 'delete':
      return [{ op: 'delete', username: current.username }];
    // Stores have no Trash: the recoverable action there is disabling the entry.
    case 'trash':
    case 'disable':
      return current.enabled ? [{ op: 'disable', username: current.username }] : [];
    case undefined:
      return [skip(current.username, 'userActions.removeAction is not set, so nothing is deprovisioned')];
  }
}
