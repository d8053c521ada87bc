/**
 * The connection and rule configuration: the public, JSON-friendly contract users write (README, "Configuring a connection"),
 * as zod schemas with defaults and cross-field checks, plus `formatIssues` to turn validation
 * errors into readable lines. Parsing is idempotent (parse(parse(x)) equals parse(x)) because
 * the parsed config is carried through workflow history and continue-as-new and parsed again.
 */
import { z } from 'zod';
import { inboundRuleIssues } from './inbound-rules';
import { AttributeMappingsSchema, PhoneSourcesSchema } from './mapping';
import { PhoneRegionSchema } from './phones';
import { AttributeNameSchema, ScopeSchema } from './scope';
import { SecretRefSchema } from './secret-ref';
import { StoreConfigSchema } from './store-config';
import { NotificationsSchema } from './notifications';

export const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const SlugSchema = z.string().regex(SLUG_RE, 'must be a lower-case slug: a-z, 0-9 and -, starting with a letter or digit, at most 63 characters');

const HOSTNAME_RE = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const LOOPBACK_WITH_PORT_RE = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\]):(\d{1,5})$/;

/** True for a DNS host name, or a loopback host with a port (the local Duo sandbox). */
export function isValidApiHost(host: string): boolean {
  if (HOSTNAME_RE.test(host)) return true;
  const m = LOOPBACK_WITH_PORT_RE.exec(host);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535;
}

export const DuoSettingsSchema = z
  .object({
    apiHost: z
      .string()
      .trim()
      .toLowerCase()
      .refine(isValidApiHost, 'must be a host name without scheme or path, e.g. api-xxxxxxxx.duosecurity.com (or 127.0.0.1:PORT for the sandbox)'),
    // Real Duo ikeys are "DI" + 18 characters; the sandbox may issue other ids, so only the alphabet and length are checked.
    integrationKey: z.string().regex(/^[A-Z0-9]{10,40}$/, 'must be 10-40 upper-case letters or digits (Duo integration keys look like DIXXXXXXXXXXXXXXXXXX)'),
    secretKey: SecretRefSchema,
    /**
     * Pace this connection's Duo calls to at most this many per second on each worker. Duo does not
     * publish its Admin API limit; when you know your account's, set this a little under it divided
     * by the number of workers. Absent: no cap; each worker still paces every Duo account adaptively
     * per rate category (one pacer per account, from Duo's known limits), so this is optional.
     */
    requestsPerSecond: z.number().positive().max(10_000).optional(),
    /**
     * Full syncs create new users through Duo's bulk_create (100 per call), and syncs send user
     * modifies, disables, deletes and group adds/removes through Duo's bulk operations (50 per call).
     * Absent: on. false: one call per user or op. Trash (removeAction "trash") always uses its bulk
     * endpoint, its only one.
     */
    bulk: z.boolean().optional(),
    /** Duo's request signature: 5 (SHA-512 over the JSON body and x-duo headers, the default) or 2 (form bodies). */
    signatureVersion: z.union([z.literal(2), z.literal(5)]).optional(),
    /**
     * CA bundle (PEM) to trust instead of the system store, e.g. for a TLS-inspecting proxy: inline
     * (`{"pem": "-----BEGIN CERTIFICATE-----…"}`) or by reference (`{"file": …}`/`{"env": …}`, within the worker's secret allow-list).
     */
    caCertificates: z
      .union([SecretRefSchema, z.object({ pem: z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'must be PEM text with at least one -----BEGIN CERTIFICATE----- block' }) }).strict()])
      .optional(),
  })
  .strict();


export const UserActionsSchema = z
  .object({
    create: z.boolean().default(false),
    update: z.boolean().default(false),
    /** Source-disabled users get Duo status `disabled`; requires `update`. */
    disable: z.boolean().default(false),
    /** Deprovision owned Duo users that left the store or the rule's scope. */
    deprovision: z.boolean().default(false),
    /**
     * How to deprovision. No default: a destructive choice is made explicitly when deprovisioning is on.
     * `trash` is the recommended one: Duo keeps the user restorable for 7 days (`duo-sync restore`).
     */
    removeAction: z.enum(['trash', 'delete', 'disable']).optional(),
    deprovisionOnRuleDeletion: z.boolean().default(false),
    /** Delete phones left without users after a phone change or a user delete. */
    cleanupUnusedPhones: z.boolean().default(true),
  })
  .strict();
export type UserActions = z.infer<typeof UserActionsSchema>;

export const DeletionGuardSchema = z
  .object({
    maxFraction: z.number().min(0).max(1).default(0.1),
    maxCount: z.number().int().min(0).default(500),
    approvalTimeoutMinutes: z.number().int().min(1).max(10_080).default(1440),
    onTimeout: z.literal('skipDeletions').default('skipDeletions'),
  })
  .strict();

export const SourceHealthSchema = z.object({ maxDropFraction: z.number().min(0).max(1).default(0.5) }).strict();

/** Duo's administrator roles (case-sensitive, as the Admin API takes them). */
export const ADMIN_ROLES = ['Owner', 'Administrator', 'Application Manager', 'User Manager', 'Help Desk', 'Billing', 'Phishing Manager', 'Read-only'] as const;
export const AdminRoleSchema = z.enum(ADMIN_ROLES);
export type AdminRole = z.infer<typeof AdminRoleSchema>;

/**
 * A rule that may create Duo administrators (users whose mapped `userType` is `admin`) names the
 * role they get. Duo makes an administrator created without a role an Owner, so a role is always
 * sent, and Owner itself needs `allowOwnerRole`.
 */
export const RuleAdministratorsSchema = z
  .object({
    role: AdminRoleSchema,
    allowOwnerRole: z.boolean().default(false),
  })
  .strict();

export const AdoptModeSchema = z.enum(['never', 'username', 'email']);
export type AdoptMode = z.infer<typeof AdoptModeSchema>;

/** An include list is written by hand; the resulting id map travels in every page's input, so it stays small. */
export const MAX_GROUPS_PER_RULE = 100;

/** Free text for people (shown by status and connection list); never interpreted. */
export const DescriptionSchema = z.string().trim().max(500, 'at most 500 characters').optional();

export const RuleSchema = z
  .object({
    id: SlugSchema,
    description: DescriptionSchema,
    direction: z.enum(['outbound', 'inbound']),
    scope: ScopeSchema,
    attributeMappings: AttributeMappingsSchema.default({}),
    /**
     * Store groups (names or ids) provisioned as Duo groups; absent = no groups. An empty list
     * deletes the groups the rule provisioned earlier (removing the key leaves them as they are).
     */
    groups: z
      .object({ include: z.array(z.string().trim().min(1)).max(MAX_GROUPS_PER_RULE, `at most ${MAX_GROUPS_PER_RULE} groups per rule; split them over several rules`) })
      .strict()
      .optional(),
    /** Inbound rules: the store attribute that records which users inbound sync created (default per store kind). */
    ownerAttribute: AttributeNameSchema.optional(),
    /** Region of phone numbers written without a country code (ISO 3166-1 alpha-2, e.g. "GB"); absent: such numbers fail. */
    phoneRegion: PhoneRegionSchema.optional(),
    /** Where a user's Duo phone comes from, in priority order, with its Duo phone type; absent: DEFAULT_PHONE_SOURCES. */
    phoneSources: PhoneSourcesSchema.optional(),
    /** Outbound rules that map `userType`: the role of the administrators they create. */
    administrators: RuleAdministratorsSchema.optional(),
    /**
     * Whether an existing Duo user without any duo-sync marker is taken over (planAdoption in
     * src/domain/plan.ts): `username` (same username), `email` (same username and same email).
     * Absent means `never`, the only value accepted until runs list adoptions for approval (docs/ownership.md).
     */
    adopt: AdoptModeSchema.optional(),
  })
  .strict()
  .superRefine((rule, ctx) => {
    if (rule.phoneSources && rule.attributeMappings.phone) {
      ctx.addIssue({ code: 'custom', path: ['phoneSources'], message: 'set either phoneSources or attributeMappings.phone, not both (attributeMappings.phone picks one value, typed mobile)' });
    }
    for (const issue of administratorIssues(rule)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    if (rule.adopt !== undefined && rule.adopt !== 'never') {
      // The planning exists; runs do not yet list adoptions for approval, so taking over accounts is refused rather than done unseen.
      ctx.addIssue({ code: 'custom', path: ['adopt'], message: `adopting existing Duo users ("${rule.adopt}") is not available yet: runs cannot list adoptions for approval; keep "never" and rename or delete same-name Duo users by hand (docs/ownership.md)` });
    }
  });
export type Rule = z.infer<typeof RuleSchema>;
export type RuleInput = z.input<typeof RuleSchema>;

const ROLE_LIST = ADMIN_ROLES.filter((r) => r !== 'Owner').join(', ');

/** Administrators are created only by an explicit `userType` mapping together with an explicit role. */
function administratorIssues(rule: Pick<Rule, 'direction' | 'attributeMappings' | 'administrators'>): { path: PropertyKey[]; message: string }[] {
  const admins = rule.administrators;
  if (rule.direction === 'inbound') {
    return admins ? [{ path: ['administrators'], message: 'only outbound rules create Duo administrators: remove administrators from this inbound rule' }] : [];
  }
  const mapsUserType = rule.attributeMappings.userType !== undefined;
  if (mapsUserType && !admins) {
    return [{ path: ['attributeMappings', 'userType'], message: `mapping userType lets this rule create Duo administrators: add "administrators": {"role": …} with one of ${ROLE_LIST} (Owner needs "allowOwnerRole": true), or remove the userType mapping` }];
  }
  if (admins && !mapsUserType) {
    return [{ path: ['administrators'], message: 'administrators has no effect without a userType mapping: map attributeMappings.userType to say which users are administrators, or remove administrators' }];
  }
  if (admins?.role === 'Owner' && !admins.allowOwnerRole) {
    return [{ path: ['administrators', 'role'], message: `Owner is Duo's unrestricted role: set "allowOwnerRole": true to create Owners, or use a narrower role (${ROLE_LIST})` }];
  }
  return [];
}

export const ConnectionConfigSchema = z
  .object({
    connectionId: SlugSchema,
    description: DescriptionSchema,
    enabled: z.boolean().default(true),
    duo: DuoSettingsSchema,
    store: StoreConfigSchema,
    userActions: UserActionsSchema.prefault({}),
    fullSyncIntervalMinutes: z.number().int().min(1).max(10_080).default(30),
    deletionGuard: DeletionGuardSchema.prefault({}),
    sourceHealth: SourceHealthSchema.prefault({}),
    rules: z.array(RuleSchema).max(100).default([]),
    /** Webhooks told when a run fails or ends partial, deletions wait for approval, or the connection test starts or stops failing. */
    notifications: NotificationsSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const a = config.userActions;
    if (a.disable && !a.update) {
      ctx.addIssue({ code: 'custom', path: ['userActions', 'disable'], message: 'disable needs update: set userActions.update to true, or disable to false' });
    }
    if ((a.deprovision || a.deprovisionOnRuleDeletion) && a.removeAction === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['userActions', 'removeAction'],
        message: `required when ${a.deprovision ? 'deprovision' : 'deprovisionOnRuleDeletion'} is on: set it to "trash" (recommended: restorable for 7 days), "delete" or "disable"`,
      });
    }
    if (a.removeAction === 'disable' && !a.disable) {
      ctx.addIssue({ code: 'custom', path: ['userActions', 'removeAction'], message: 'removeAction "disable" needs disable: set userActions.disable (and update) to true, or removeAction to "delete"' });
    }
    for (const issue of inboundRuleIssues(config.rules)) ctx.addIssue({ code: 'custom', path: ['rules', issue.index, issue.path], message: issue.message });
    const seen = new Map<string, number>();
    config.rules.forEach((rule, i) => {
      const first = seen.get(rule.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${rule.id}" (also rules[${first}].id)` });
      else seen.set(rule.id, i);
    });
  });
export type ConnectionConfig = z.infer<typeof ConnectionConfigSchema>;
/** What a user may write: defaults filled in by parsing. */
export type ConnectionConfigInput = z.input<typeof ConnectionConfigSchema>;

export function outboundRules(config: ConnectionConfig): Rule[] {
  return config.rules.filter((r) => r.direction === 'outbound');
}

export function inboundRules(config: ConnectionConfig): Rule[] {
  return config.rules.filter((r) => r.direction === 'inbound');
}

export function findRule(config: ConnectionConfig, ruleId: string): Rule | undefined {
  return config.rules.find((r) => r.id === ruleId);
}

// ---- readable errors --------------------------------------------------------------------------

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

/** `rules[0].scope.kind`; the empty path is `(root)`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

function messageOf(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join('|')}`;
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling)`;
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options)) return `expected one of ${issue.options.map(String).join('|')}`;
      return issue.message;
    default:
      // zod's defaults start with "Invalid input: " — the path already says where.
      return issue.message.replace(/^Invalid (?:input|option): /, '');
  }
}

/** A union branch "fits" when the object had the branch's shape and only a nested value was wrong. */
function fittingBranch(branches: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const fits = branches.filter((b) => b.length > 0 && b.every((i) => i.code !== 'unrecognized_keys' && !(i.code === 'invalid_type' && i.path.length <= 1 && /received undefined$/.test(i.message))));
  return fits.length === 1 ? fits[0] : undefined;
}

function collect(issues: readonly Issue[], base: readonly PathKey[], out: string[]): void {
  for (const issue of issues) {
    const path = [...base, ...issue.path];
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branch = fittingBranch(issue.errors);
      if (branch) {
        collect(branch, path, out);
        continue;
      }
    }
    out.push(`${formatPath(path)}: ${messageOf(issue)}`);
  }
}

/** Readable, de-duplicated lines, e.g. `rules[0].scope.kind: expected one of all|groups|filter`. */
export function formatIssues(error: z.ZodError): string[] {
  const out: string[] = [];
  collect(error.issues, [], out);
  return [...new Set(out)];
}

export type ConfigValidation = { ok: true; config: ConnectionConfig } | { ok: false; errors: string[] };

export function validateConnectionConfig(input: unknown): ConfigValidation {
  const parsed = ConnectionConfigSchema.safeParse(input);
  return parsed.success ? { ok: true, config: parsed.data } : { ok: false, errors: formatIssues(parsed.error) };
}

export type RuleValidation = { ok: true; rule: Rule } | { ok: false; errors: string[] };

export function validateRule(input: unknown): RuleValidation {
  const parsed = RuleSchema.safeParse(input);
  return parsed.success ? { ok: true, rule: parsed.data } : { ok: false, errors: formatIssues(parsed.error) };
}
