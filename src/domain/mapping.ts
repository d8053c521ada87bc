/**
 * Outbound attribute mapping: turns one normalised store user into the Duo user it should be
 * (`DesiredDuoUser`), using DESIGN §1's default mappings, optionally overridden per rule.
 * Owns the store-user shape shared with src/stores, the source-expression language of
 * `attributeMappings`, and value normalisation (usernames, emails, phone numbers, cleared values).
 * Pure and deterministic: imported by workflow code as well as activities.
 */
import { z } from 'zod';

// ---- store user (what every store adapter emits) ----------------------------------------------

/** A user as every store adapter returns it (src/stores re-exports this). JSON-friendly. */
export const StoreUserSchema = z.object({
  /** Stable id from the store (LDAP entryUUID/objectGUID, SCIM id, file id); survives renames. */
  externalId: z.string().min(1),
  username: z.string().min(1),
  email: z.string().optional(),
  phones: z.array(z.string()),
  givenName: z.string().optional(),
  familyName: z.string().optional(),
  displayName: z.string().optional(),
  enabled: z.boolean(),
  /** externalIds of the store groups the user is a direct member of. */
  groupIds: z.array(z.string()),
  /** Raw store attributes (secrets such as password hashes removed) for attribute mappings. */
  attributes: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
});
export type StoreUser = z.infer<typeof StoreUserSchema>;

// ---- source expressions -----------------------------------------------------------------------

export const ATTRIBUTE_NAME_RE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/** Built-in store-user fields a mapping can read; `attr:<name>` reads `attributes[name]`. */
export const FIELD_SOURCES = ['username', 'email', 'givenName', 'familyName', 'displayName', 'primaryPhone', 'enabled', 'externalId'] as const;
export type FieldSource = (typeof FIELD_SOURCES)[number];

const SOURCE_HINT = `one of ${FIELD_SOURCES.join('|')} or attr:<name>`;

export function isSourceName(name: string): boolean {
  if ((FIELD_SOURCES as readonly string[]).includes(name)) return true;
  return name.startsWith('attr:') && ATTRIBUTE_NAME_RE.test(name.slice('attr:'.length));
}

const PLACEHOLDER_RE = /\$\{([^}]*)\}/g;

function badPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER_RE)].map((m) => m[1] ?? '').filter((name) => !isSourceName(name));
}

const FromSchema = z.object({ from: z.string().refine(isSourceName, { error: `must be ${SOURCE_HINT}` }) }).strict();
const ConstSchema = z.object({ const: z.string().max(1024) }).strict();
const TemplateSchema = z
  .object({ template: z.string().max(1024) })
  .strict()
  .superRefine((v, ctx) => {
    for (const name of badPlaceholders(v.template)) {
      ctx.addIssue({ code: 'custom', path: ['template'], message: `placeholder \${${name}} is not ${SOURCE_HINT}` });
    }
  });

const SimpleSourceExprSchema = z.union([FromSchema, ConstSchema, TemplateSchema], {
  error: 'expected {from}, {const} or {template}',
});

/**
 * Where one Duo field's value comes from. `firstOf` takes the first non-empty alternative
 * (e.g. realname = displayName, else "givenName familyName").
 */
export const SourceExprSchema = z.union(
  [FromSchema, ConstSchema, TemplateSchema, z.object({ firstOf: z.array(SimpleSourceExprSchema).min(1).max(8) }).strict()],
  { error: 'expected {from}, {const}, {template} or {firstOf}' },
);
export type SourceExpr = z.infer<typeof SourceExprSchema>;

/** Duo user fields a rule maps; keys of `attributeMappings`. */
export const DUO_FIELDS = ['username', 'email', 'realname', 'firstname', 'lastname', 'status', 'phone', 'userType', 'notes'] as const;
export type DuoField = (typeof DUO_FIELDS)[number];

/** A rule's partial override of the default mappings (unknown keys are rejected so typos surface). */
export const AttributeMappingsSchema = z
  .object({
    username: SourceExprSchema,
    email: SourceExprSchema,
    realname: SourceExprSchema,
    firstname: SourceExprSchema,
    lastname: SourceExprSchema,
    status: SourceExprSchema,
    phone: SourceExprSchema,
    userType: SourceExprSchema,
    notes: SourceExprSchema,
  })
  .partial()
  .strict();
export type AttributeMappings = z.infer<typeof AttributeMappingsSchema>;

/**
 * DESIGN §1 defaults. `notes` has no default: unmapped, the human part of a Duo user's notes is
 * left as it is (only the ownership marker is managed). `userType` has none either: everyone is a
 * plain user unless a rule maps it explicitly (with an administrator role), because a default would
 * read whatever the store calls `userType` (SCIM's core attribute says "Admin" for IdP admins) and
 * make Duo administrators of them.
 */
export const DEFAULT_MAPPINGS: Readonly<Omit<Required<AttributeMappings>, 'notes' | 'userType'>> = {
  username: { from: 'username' },
  email: { from: 'email' },
  realname: { firstOf: [{ from: 'displayName' }, { template: '${givenName} ${familyName}' }] },
  firstname: { from: 'givenName' },
  lastname: { from: 'familyName' },
  status: { from: 'enabled' },
  phone: { from: 'primaryPhone' },
};

// ---- desired Duo user -------------------------------------------------------------------------

export const DesiredDuoUserSchema = z.object({
  username: z.string().min(1),
  email: z.string().nullable(),
  realname: z.string().nullable(),
  firstname: z.string().nullable(),
  lastname: z.string().nullable(),
  status: z.enum(['active', 'disabled']),
  phone: z.string().nullable(),
  userType: z.enum(['user', 'admin']),
  /** Human part of `notes`: absent = not managed (keep Duo's), null = clear it. */
  notes: z.string().nullable().optional(),
});
/** `null` means "clear this field in Duo". */
export type DesiredDuoUser = z.infer<typeof DesiredDuoUserSchema>;

export interface MappingError {
  /** The store username, or the external id when the username is empty. */
  username: string;
  field: DuoField;
  message: string;
}

export type MappingResult = { ok: true; user: DesiredDuoUser } | { ok: false; error: MappingError };

// ---- normalisation ----------------------------------------------------------------------------

/**
 * Comparison key for usernames. Duo treats usernames as case-insensitive (an assumption, see
 * duo-admin-api.md §6), so case-only differences are neither renames nor duplicates.
 */
export function usernameKey(username: string): string {
  return username.trim().toLowerCase();
}

/** Empty or whitespace-only values mean "cleared". */
export function clean(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * Normalises a phone number to E.164-ish `+<digits>`. Assumptions, mirroring Duo's documented
 * behaviour so our value equals what Duo stores: spaces, dashes, dots and parentheses are ignored;
 * an extension (`x123`, `ext. 123`) is dropped; a leading `00` is the international prefix; a
 * number without `+` is a North-American number and gets `+1` (unless it already is 11 digits
 * starting with 1). Returns null for an empty value; throws a RangeError for anything that is not
 * 7-15 digits after normalisation.
 */
export function normalizePhone(raw: string): string | null {
  const withoutExt = raw.replace(/\s*(?:ext\.?|x|#)\s*\d+\s*$/i, '').trim();
  if (withoutExt === '') return null;
  if (!/^\+?[\d\s().-]+$/.test(withoutExt)) throw new RangeError(`phone number "${raw}" contains characters other than digits, +, spaces, dashes, dots and parentheses`);
  const plus = withoutExt.startsWith('+');
  let digits = withoutExt.replace(/\D/g, '');
  if (!plus) {
    if (digits.startsWith('00')) digits = digits.slice(2);
    else if (!(digits.length === 11 && digits.startsWith('1'))) digits = `1${digits}`;
  }
  if (digits.length < 7 || digits.length > 15) throw new RangeError(`phone number "${raw}" has ${digits.length} digits after normalising to +${digits}; E.164 numbers have 7-15`);
  return `+${digits}`;
}

/** Normalised phone for comparisons, or the raw trimmed text when it cannot be normalised. */
export function phoneKey(raw: string): string {
  try {
    return normalizePhone(raw) ?? '';
  } catch {
    return raw.trim();
  }
}

// ---- evaluation -------------------------------------------------------------------------------

function firstNonEmpty(values: readonly string[]): string | undefined {
  return values.find((v) => v.trim() !== '');
}

/** Reads one source; multi-valued attributes yield their first non-empty value. */
export function readSource(user: StoreUser, name: string): string | undefined {
  if (name.startsWith('attr:')) {
    const value = user.attributes[name.slice('attr:'.length)];
    return Array.isArray(value) ? firstNonEmpty(value) : value;
  }
  switch (name as FieldSource) {
    case 'username':
      return user.username;
    case 'email':
      return user.email;
    case 'givenName':
      return user.givenName;
    case 'familyName':
      return user.familyName;
    case 'displayName':
      return user.displayName;
    case 'primaryPhone':
      return firstNonEmpty(user.phones);
    case 'enabled':
      return user.enabled ? 'true' : 'false';
    case 'externalId':
      return user.externalId;
    default:
      return undefined;
  }
}

/** Evaluates a source expression to a cleaned value (null = empty/absent). */
export function evaluateSource(expr: SourceExpr, user: StoreUser): string | null {
  if ('from' in expr) return clean(readSource(user, expr.from));
  if ('const' in expr) return clean(expr.const);
  if ('template' in expr) {
    const filled = expr.template.replace(PLACEHOLDER_RE, (_m, name: string) => clean(readSource(user, name)) ?? '');
    // Collapse the gaps left by empty placeholders ("Ada  Lovelace" when a middle name is missing).
    return clean(filled.replace(/\s+/g, ' '));
  }
  for (const alternative of expr.firstOf) {
    const value = evaluateSource(alternative, user);
    if (value !== null) return value;
  }
  return null;
}

const TRUE_WORDS = new Set(['true', 'active', 'enabled', 'yes', '1']);
const FALSE_WORDS = new Set(['false', 'disabled', 'inactive', 'no', '0']);

class FieldError extends Error {
  constructor(
    readonly field: DuoField,
    message: string,
  ) {
    super(message);
  }
}

function toStatus(value: string | null, who: string): 'active' | 'disabled' {
  const word = value?.toLowerCase() ?? '';
  if (TRUE_WORDS.has(word)) return 'active';
  if (FALSE_WORDS.has(word)) return 'disabled';
  throw new FieldError('status', `user ${who}: status mapping gave ${value === null ? 'no value' : `"${value}"`}; expected true/false or active/disabled`);
}

function toUserType(value: string | null, who: string): 'user' | 'admin' {
  if (value === null) return 'user';
  const word = value.toLowerCase();
  if (word === 'user' || word === 'admin') return word;
  throw new FieldError('userType', `user ${who}: userType "${value}" is not valid; use "user" or "admin"`);
}

/** The effective mapping of each Duo field for a rule (defaults overlaid with the rule's overrides). */
export function resolveMappings(overrides: AttributeMappings | undefined): AttributeMappings & typeof DEFAULT_MAPPINGS {
  return { ...DEFAULT_MAPPINGS, ...(overrides ?? {}) };
}

/**
 * Maps one store user to the Duo user it should be. Failures are per user (the run goes on) and
 * name the user, the Duo field and the offending value.
 */
export function mapStoreUser(user: StoreUser, overrides?: AttributeMappings): MappingResult {
  const m = resolveMappings(overrides);
  const who = clean(user.username) ?? `with external id ${user.externalId}`;
  try {
    const username = evaluateSource(m.username, user);
    if (username === null) throw new FieldError('username', `user ${who}: the username mapping gave an empty value`);
    if (/[\u0000-\u001f\u007f]/.test(username)) throw new FieldError('username', `user ${who}: username contains control characters`);
    const rawPhone = evaluateSource(m.phone, user);
    let phone: string | null;
    try {
      phone = rawPhone === null ? null : normalizePhone(rawPhone);
    } catch (err) {
      throw new FieldError('phone', `user ${who}: ${(err as Error).message}`);
    }
    const desired: DesiredDuoUser = {
      username,
      email: evaluateSource(m.email, user),
      realname: evaluateSource(m.realname, user),
      firstname: evaluateSource(m.firstname, user),
      lastname: evaluateSource(m.lastname, user),
      status: toStatus(evaluateSource(m.status, user), who),
      phone,
      userType: toUserType(m.userType ? evaluateSource(m.userType, user) : null, who),
    };
    if (m.notes) desired.notes = evaluateSource(m.notes, user);
    // Duo requires an email (and a name) to create an administrator.
    if (desired.userType === 'admin' && desired.email === null) {
      throw new FieldError('userType', `user ${who}: userType "admin" needs an email address, and the email mapping gave none`);
    }
    return { ok: true, user: desired };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: { username: who, field: err.field, message: err.message } };
    throw err;
  }
}
