/**
 * The ownership marker duo-sync writes on the Duo objects it provisions (docs/ownership.md): users' `notes`
 * end with `[duo-sync:c=<connectionId>;r=<ruleId>;s=<store id, percent-encoded>]`; groups' `desc` end with
 * `[duo-sync:c=<connectionId>;r=<ruleId>;g=<store group externalId, percent-encoded>]`, so a group
 * renamed in the store is found (and renamed) in Duo by its store id, not its name. The text before it is the
 * human part (where a mapped `notes` value goes) and is preserved. Ownership lives on the object
 * itself, so it survives restarts and needs no database.
 *
 * The user marker's store id (`s=`) names the one store user the Duo account belongs to, so two
 * store entries that map to the same Duo username can never take turns with one account. Markers
 * written before it existed (`[duo-sync:c=…;r=…]`) still parse; the id is added on the next update.
 *
 * Phones duo-sync creates carry `duo-sync:<connectionId>` as their Duo `name`; only those are ever
 * attached, detached or deleted by it (phones people enrolled themselves have other names).
 *
 * Only a marker on its own last line, in the exact format with slug ids, counts; a marker typed
 * anywhere else in the notes is just text. Anyone who can edit notes in Duo is already a Duo
 * administrator, so a forged marker at the very end is not treated as a threat beyond that.
 */
import { z } from 'zod';
import { SLUG_RE } from './connection';

/**
 * Duo does not document a maximum for user `notes` or group `desc` (its documentation is silent),
 * so 1024 characters (UTF-16 code units) is assumed. The human part is truncated to fit; the marker never is.
 */
export const DUO_NOTES_MAX_LENGTH = 1024;

export const OwnerSchema = z.object({
  connectionId: z.string().regex(SLUG_RE),
  ruleId: z.string().regex(SLUG_RE),
});
export type Owner = z.infer<typeof OwnerSchema>;

/** A user's owner as its marker records it: the rule, and (new markers) the store user's id. */
export interface UserOwner extends Owner {
  /** The store user's externalId (LDAP entryUUID, SCIM id, file id); absent in markers written before it was recorded. */
  storeId?: string;
  /**
   * The Duo administrator duo-sync created for this user (`a=`): the ownership record of
   * administrators, which have no notes of their own (docs/ownership.md#administrators).
   */
  adminId?: string;
}

/** Duo administrator ids (`DE…`): letters and digits only, so they never need encoding in a marker. */
export const ADMIN_ID_RE = /^[A-Za-z0-9]{1,64}$/;

/** Longest store id (user or group externalId) a marker carries; longer ids are refused before planning. */
export const MAX_STORE_ID_LENGTH = 256;

const SLUG = '[a-z0-9][a-z0-9-]{0,62}';
// encodeURIComponent's output alphabet: no `]`, `;` or newline can end a marker early.
const ENCODED_ID = `[A-Za-z0-9\\-_.!~*'()%]{1,${MAX_STORE_ID_LENGTH * 3}}`;
// Own last line (start of text or after a newline), exact format, only trailing whitespace after it.
const TRAILING_MARKER_RE = new RegExp(`(?:^|\\n)\\[duo-sync:c=(${SLUG});r=(${SLUG})(?:;s=(${ENCODED_ID}))?(?:;a=([A-Za-z0-9]{1,64}))?\\]\\s*$`);
const ELLIPSIS = '…';

export function formatMarker(owner: UserOwner): string {
  if (!SLUG_RE.test(owner.connectionId) || !SLUG_RE.test(owner.ruleId)) {
    throw new RangeError(`ownership marker ids must be slugs, got connection "${owner.connectionId}" and rule "${owner.ruleId}"`);
  }
  if (owner.adminId !== undefined && !ADMIN_ID_RE.test(owner.adminId)) throw new RangeError(`an administrator id in an ownership marker must be letters and digits, got "${owner.adminId}"`);
  const admin = owner.adminId === undefined ? '' : `;a=${owner.adminId}`;
  if (owner.storeId === undefined) return `[duo-sync:c=${owner.connectionId};r=${owner.ruleId}${admin}]`;
  if (owner.storeId === '' || owner.storeId.length > MAX_STORE_ID_LENGTH) {
    throw new RangeError(`a store id in an ownership marker must be 1-${MAX_STORE_ID_LENGTH} characters, got ${owner.storeId.length}`);
  }
  return `[duo-sync:c=${owner.connectionId};r=${owner.ruleId};s=${encodeURIComponent(owner.storeId)}${admin}]`;
}

function matchMarker(notes: string | null | undefined): UserOwner | null {
  if (!notes) return null;
  const m = TRAILING_MARKER_RE.exec(notes);
  if (!m || m[1] === undefined || m[2] === undefined) return null;
  const admin = m[4] === undefined ? {} : { adminId: m[4] };
  if (m[3] === undefined) return { connectionId: m[1], ruleId: m[2], ...admin };
  try {
    return { connectionId: m[1], ruleId: m[2], storeId: decodeURIComponent(m[3]), ...admin };
  } catch {
    return null;
  }
}

/** The owner named by the marker at the very end of `notes`, or null when there is none. */
export function parseMarker(notes: string | null | undefined): Owner | null {
  const owner = matchMarker(notes);
  return owner ? { connectionId: owner.connectionId, ruleId: owner.ruleId } : null;
}

/** The owner and store id recorded by the marker at the very end of `notes`, or null when there is none. */
export function parseUserMarker(notes: string | null | undefined): UserOwner | null {
  return matchMarker(notes);
}

/** Whether two notes end with the same marker: same connection, rule and store id (or both without one). */
export function sameUserMarker(a: string | null | undefined, b: string | null | undefined): boolean {
  const x = matchMarker(a);
  const y = matchMarker(b);
  return x !== null && y !== null && x.connectionId === y.connectionId && x.ruleId === y.ruleId && x.storeId === y.storeId;
}

/**
 * The human part of `notes`: every trailing marker line removed (so releasing ownership can never
 * leave a second, typed-in marker that would still count), trailing whitespace trimmed.
 */
export function stripMarker(notes: string | null | undefined): string {
  let text = notes ?? '';
  for (;;) {
    const m = TRAILING_MARKER_RE.exec(text);
    if (!m) return text.trimEnd();
    text = text.slice(0, m.index);
  }
}

/** Cuts to at most `max` UTF-16 units without splitting a surrogate pair, marking the cut with an ellipsis. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  let end = max - ELLIPSIS.length;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${text.slice(0, Math.max(0, end))}${ELLIPSIS}`;
}

/**
 * Notes for an owned object: the human part (any markers already at its end removed, truncated so
 * the whole fits `maxLength`) followed by our marker on its own line. Idempotent:
 * `withMarker(stripMarker(withMarker(h, o)), o) === withMarker(h, o)`.
 */
export function withMarker(humanNotes: string | null | undefined, owner: UserOwner, maxLength: number = DUO_NOTES_MAX_LENGTH): string {
  const marker = formatMarker(owner);
  if (maxLength < marker.length) throw new RangeError(`maxLength ${maxLength} is shorter than the marker (${marker.length})`);
  const human = stripMarker(humanNotes);
  if (human === '') return marker;
  const fitted = truncate(human, maxLength - marker.length - 1).trimEnd();
  return fitted === '' ? marker : `${fitted}\n${marker}`;
}

/**
 * `notes` with its user marker recording `adminId` (or, with undefined, recording none): how
 * duo-sync takes and forgets ownership of an administrator. Notes without a marker are returned
 * as they are (there is no user of ours to record it on).
 */
export function withAdminId(notes: string | null | undefined, adminId: string | undefined): string | null {
  const owner = matchMarker(notes);
  if (!owner) return notes ?? null;
  const { adminId: _old, ...rest } = owner;
  return withMarker(stripMarker(notes), adminId === undefined ? rest : { ...rest, adminId });
}

/** Whether `notes` carries this connection's marker (and this rule's, when `ruleId` is given). */
export function isOwnedBy(notes: string | null | undefined, connectionId: string, ruleId?: string): boolean {
  const owner = parseMarker(notes);
  return owner !== null && owner.connectionId === connectionId && (ruleId === undefined || owner.ruleId === ruleId);
}

// ---- groups ---------------------------------------------------------------------------------------

export interface GroupOwner extends Owner {
  /** The store group's externalId (stable across renames in the store). */
  externalId: string;
}

/** Longest externalId a group marker carries (encoded); longer ids are refused when planning. */
export const MAX_GROUP_EXTERNAL_ID_LENGTH = MAX_STORE_ID_LENGTH;
const TRAILING_GROUP_MARKER_RE = new RegExp(`(?:^|\\n)\\[duo-sync:c=(${SLUG});r=(${SLUG});g=(${ENCODED_ID})\\]\\s*$`);

export function formatGroupMarker(owner: GroupOwner): string {
  const base = formatMarker({ connectionId: owner.connectionId, ruleId: owner.ruleId });
  return `${base.slice(0, -1)};g=${encodeURIComponent(owner.externalId)}]`;
}

/** The owner named by the group marker at the very end of a group's `desc`, or null. */
export function parseGroupMarker(desc: string | null | undefined): GroupOwner | null {
  if (!desc) return null;
  const m = TRAILING_GROUP_MARKER_RE.exec(desc);
  if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) return null;
  let externalId: string;
  try {
    externalId = decodeURIComponent(m[3]);
  } catch {
    return null;
  }
  return { connectionId: m[1], ruleId: m[2], externalId };
}

/** A group's human description: trailing group (and user-style) markers removed. */
export function stripGroupMarker(desc: string | null | undefined): string {
  let text = stripMarker(desc);
  for (;;) {
    const m = TRAILING_GROUP_MARKER_RE.exec(text);
    if (!m) return stripMarker(text);
    text = stripMarker(text.slice(0, m.index));
  }
}

/** `desc` for an owned group: the human part (truncated to fit) and the group marker on its own last line. */
export function withGroupMarker(humanDesc: string | null | undefined, owner: GroupOwner, maxLength: number = DUO_NOTES_MAX_LENGTH): string {
  const marker = formatGroupMarker(owner);
  if (maxLength < marker.length) throw new RangeError(`maxLength ${maxLength} is shorter than the group marker (${marker.length})`);
  const human = stripGroupMarker(humanDesc);
  if (human === '') return marker;
  const fitted = truncate(human, maxLength - marker.length - 1).trimEnd();
  return fitted === '' ? marker : `${fitted}\n${marker}`;
}

// ---- phones ---------------------------------------------------------------------------------------

/** The Duo phone `name` duo-sync gives the phones it creates for a connection. */
export function phoneMarker(connectionId: string): string {
  if (!SLUG_RE.test(connectionId)) throw new RangeError(`phone marker ids must be slugs, got connection "${connectionId}"`);
  return `duo-sync:${connectionId}`;
}

/** Whether a Duo phone with this `name` is one this connection created (and so may attach, detach and delete). */
export function isOwnedPhone(name: string | null | undefined, connectionId: string): boolean {
  return name === `duo-sync:${connectionId}`;
}
