/**
 * Outbound attribute mapping: turns one normalised store user into the Duo user it should be
 * (`DesiredDuoUser`), using the default mappings (README, "Configuring a connection"), optionally overridden per rule.
 * Owns the store-user shape shared with src/stores, the source-expression language of
 * `attributeMappings`, and value normalisation (usernames, emails, phone numbers, cleared values).
 * Pure and deterministic: imported by workflow code as well as activities.
 */
import { z } from 'zod';
import { emailProblem, normalizeUsername, usernameProblem } from './duo-rules';
import { PhoneTypeSchema, readPhone } from './phones';
import type { Failure } from './summary';

export { normalizeUsername, usernameKey } from './duo-rules';

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
 * The default mappings. `notes` has no default: unmapped, the human part of a Duo user's notes is
 * left as it is (only the ownership marker is managed). `phone` has none either: unmapped, the
 * phone comes from the rule's `phoneSources` (DEFAULT_PHONE_SOURCES). `userType` has none: everyone
 * is a plain user unless a rule maps it explicitly (with an administrator role), because a default
 * would read whatever the store calls `userType` (SCIM's core attribute says "Admin" for IdP admins)
 * and make Duo administrators of them.
 */
export const DEFAULT_MAPPINGS: Readonly<Omit<Required<AttributeMappings>, 'notes' | 'phone' | 'userType'>> = {
  username: { from: 'username' },
  email: { from: 'email' },
  realname: { firstOf: [{ from: 'displayName' }, { template: '${givenName} ${familyName}' }] },
  firstname: { from: 'givenName' },
  lastname: { from: 'familyName' },
  status: { from: 'enabled' },
};

// ---- phone sources ----------------------------------------------------------------------------

/**
 * One place a user's Duo phone may come from: `attr:<name>` (a raw store attribute, matched
 * case-insensitively; its first non-empty value) or `phones` (the store's phone list, first
 * non-empty value), and the Duo phone type it gets.
 */
export const PhoneSourceSchema = z
  .object({
    from: z.string().refine((v) => v === 'phones' || (v.startsWith('attr:') && ATTRIBUTE_NAME_RE.test(v.slice('attr:'.length))), {
      error: 'must be "phones" (the store\'s phone list) or attr:<name>',
    }),
    type: PhoneTypeSchema,
  })
  .strict();
export type PhoneSource = z.infer<typeof PhoneSourceSchema>;

/** Priority order; the first source with a value is the user's phone. */
export const PhoneSourcesSchema = z.array(PhoneSourceSchema).min(1).max(10);

/**
 * Default phone sources: a mobile first (Duo Push and SMS need one), then the desk number as a
 * landline, then whatever phone the store lists (stores without phone attributes: file, SCIM).
 */
export const DEFAULT_PHONE_SOURCES: readonly PhoneSource[] = [
  { from: 'attr:mobile', type: 'mobile' },
  { from: 'attr:telephoneNumber', type: 'landline' },
  { from: 'phones', type: 'mobile' },
];

/** A rule's phone settings (`Rule` carries them; absent: numbers must be international, default sources). */
export interface MappingOptions {
  phoneRegion?: string | undefined;
  phoneSources?: readonly PhoneSource[] | undefined;
}

// ---- desired Duo user -------------------------------------------------------------------------

/** The user's phone as Duo should have it: E.164 number, optional extension, and the type it is created with. */
export const DesiredPhoneSchema = z.object({
  number: z.string().min(1),
  extension: z.string().min(1).optional(),
  type: PhoneTypeSchema,
});
export type DesiredPhone = z.infer<typeof DesiredPhoneSchema>;

export const DesiredDuoUserSchema = z.object({
  username: z.string().min(1),
  email: z.string().nullable(),
  realname: z.string().nullable(),
  firstname: z.string().nullable(),
  lastname: z.string().nullable(),
  status: z.enum(['active', 'disabled']),
  /** null: no phone; absent: leave the user's Duo phones as they are (its store phone could not be read). */
  phone: DesiredPhoneSchema.nullable().optional(),
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

/**
 * `problems`: failures of one field that do not stop the user (a phone that cannot be read), for
 * the run summary; the user is provisioned without that value.
 */
export type MappingResult = { ok: true; user: DesiredDuoUser; problems: Failure[] } | { ok: false; error: MappingError };

// ---- normalisation ----------------------------------------------------------------------------

/** Empty or whitespace-only values mean "cleared". */
export function clean(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

/**
 * A phone number in E.164 for comparisons (inbound sync compares Duo's numbers with the store's),
 * or the trimmed text when it is not an international number libphonenumber can read.
 */
export function phoneKey(raw: string): string {
  const reading = readPhone(raw);
  return reading.ok ? reading.number : raw.trim();
}

// ---- evaluation -------------------------------------------------------------------------------

function firstNonEmpty(values: readonly string[]): string | undefined {
  return values.find((v) => v.trim() !== '');
}

/** Reads one source; multi-valued attributes yield their first non-empty value. */
export function readSource(user: StoreUser, name: string): string | undefined {
  if (name.startsWith('attr:')) {
    const attr = name.slice('attr:'.length);
    // Own attributes only: `attr:toString` must not read Object.prototype.toString.
    const value = Object.hasOwn(user.attributes, attr) ? user.attributes[attr] : undefined;
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

/** The values of a raw store attribute, its name matched case-insensitively (directories differ in case). */
function attributeValues(user: StoreUser, name: string): string[] {
  const exact = user.attributes[name];
  const value = exact ?? Object.entries(user.attributes).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

interface PhoneCandidate {
  value: string;
  /** Where the value came from, for messages: the attribute name, `phone` or `the mapped phone`. */
  label: string;
  type: DesiredPhone['type'];
}

/** The value that is the user's phone: an `attributeMappings.phone` override, else the first phone source with a value. */
function phoneCandidate(user: StoreUser, override: SourceExpr | undefined, sources: readonly PhoneSource[]): PhoneCandidate | null {
  if (override) {
    const value = evaluateSource(override, user);
    return value === null ? null : { value, label: 'the mapped phone', type: 'mobile' };
  }
  for (const source of sources) {
    const values = source.from === 'phones' ? user.phones : attributeValues(user, source.from.slice('attr:'.length));
    const value = values.map(clean).find((v): v is string => v !== null);
    if (value !== undefined) return { value, label: source.from === 'phones' ? 'phone' : source.from.slice('attr:'.length), type: source.type };
  }
  return null;
}

/**
 * Maps one store user to the Duo user it should be. Failures are per user (the run goes on) and
 * name the user, the Duo field and the offending value; a phone that cannot be read is a problem
 * of that phone only (see `MappingResult`). Whether the user is active or disabled is decided
 * before, and independently of, the quality of its other values: a disabled user is disabled
 * even when its phone or email is broken (those are then not reported, and not sent).
 */
export function mapStoreUser(user: StoreUser, overrides?: AttributeMappings, options: MappingOptions = {}): MappingResult {
  const m = resolveMappings(overrides);
  const who = clean(user.username) ?? `with external id ${user.externalId}`;
  try {
    const mappedUsername = evaluateSource(m.username, user);
    if (mappedUsername === null) throw new FieldError('username', `user ${who}: the username mapping gave an empty value`);
    const username = normalizeUsername(mappedUsername);
    const usernameIssue = usernameProblem(username);
    if (usernameIssue !== null) throw new FieldError('username', `user ${who}: username ${JSON.stringify(username)} ${usernameIssue}; Duo would refuse it: fix it in the directory`);
    const status = toStatus(evaluateSource(m.status, user), who);
    const active = status === 'active';

    let email = evaluateSource(m.email, user);
    const emailIssue = email === null ? null : emailProblem(email);
    if (emailIssue !== null) {
      if (active) throw new FieldError('email', `user ${who}: email ${JSON.stringify(email)} ${emailIssue}; Duo would refuse it: fix it in the directory`);
      email = null;
    }

    const problems: Failure[] = [];
    let phone: DesiredPhone | null | undefined = null;
    const candidate = phoneCandidate(user, overrides?.phone, options.phoneSources ?? DEFAULT_PHONE_SOURCES);
    if (candidate) {
      const reading = readPhone(candidate.value, options.phoneRegion);
      if (reading.ok) {
        phone = { number: reading.number, ...(reading.extension !== undefined ? { extension: reading.extension } : {}), type: candidate.type };
      } else {
        phone = undefined;
        if (active) {
          problems.push({
            username,
            operation: 'phone',
            code: 'InvalidPhone',
            message: `user ${who}: ${candidate.label} "${candidate.value}" ${reading.reason}; provisioned without this phone (its Duo phones are left as they are): fix the number in the directory`,
          });
        }
      }
    }

    const desired: DesiredDuoUser = {
      username,
      email,
      realname: evaluateSource(m.realname, user),
      firstname: evaluateSource(m.firstname, user),
      lastname: evaluateSource(m.lastname, user),
      status,
      ...(phone !== undefined ? { phone } : {}),
      userType: toUserType(m.userType ? evaluateSource(m.userType, user) : null, who),
    };
    if (m.notes) desired.notes = evaluateSource(m.notes, user);
    // Duo requires an email (and a name) to create an administrator.
    if (desired.userType === 'admin' && desired.email === null) {
      throw new FieldError('userType', `user ${who}: userType "admin" needs an email address, and the email mapping gave none`);
    }
    return { ok: true, user: desired, problems };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, error: { username: who, field: err.field, message: err.message } };
    throw err;
  }
}
