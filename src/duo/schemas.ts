/**
 * zod schemas for what Duo's Admin API returns (the trust boundary) and the typed inputs the client
 * accepts. Response schemas are deliberately lenient where Duo is (unknown fields pass through,
 * nullable strings normalised) and strict where duo-sync depends on a field.
 */
import { z } from 'zod';

/** Duo returns some optional strings as null, others as ""; provisioning treats both as "empty". */
const optionalText = z
  .string()
  .nullish()
  .transform((v) => v ?? '');

const unixSeconds = z.number().nullish().transform((v) => v ?? null);

/** Error codes sometimes arrive as strings (the Go client tolerates it). */
const duoCode = z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]);

export const DuoFailEnvelopeSchema = z.object({
  stat: z.literal('FAIL'),
  code: duoCode.optional(),
  message: z.string().default(''),
  message_detail: z.string().nullish(),
});

export const DuoMetadataSchema = z
  .object({
    total_objects: z.number().int().nonnegative().nullish(),
    next_offset: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
    prev_offset: z.union([z.number().int(), z.string().regex(/^\d+$/).transform(Number)]).nullish(),
  })
  .loose();

export const DuoOkEnvelopeSchema = z.object({
  stat: z.literal('OK'),
  response: z.unknown(),
  metadata: DuoMetadataSchema.optional(),
});

export const DuoEnvelopeSchema = z.discriminatedUnion('stat', [DuoOkEnvelopeSchema, DuoFailEnvelopeSchema]);

export const UserStatusSchema = z.enum(['active', 'bypass', 'disabled', 'locked out', 'pending deletion']);
export type DuoUserStatus = z.infer<typeof UserStatusSchema>;
/** Statuses an API client may set. */
export type DuoSettableUserStatus = 'active' | 'bypass' | 'disabled';

export const DuoGroupSchema = z
  .object({
    group_id: z.string().min(1),
    name: z.string(),
    desc: optionalText,
    status: z.string().transform((s) => s.toLowerCase()),
  })
  .loose();
export type DuoGroup = z.infer<typeof DuoGroupSchema>;

export const DuoUserSummarySchema = z.object({ user_id: z.string().min(1), username: z.string() }).loose();
export type DuoUserSummary = z.infer<typeof DuoUserSummarySchema>;

export const DuoPhoneSchema = z
  .object({
    phone_id: z.string().min(1),
    number: optionalText,
    extension: optionalText,
    name: optionalText,
    type: optionalText,
    platform: optionalText,
    activated: z.boolean().optional(),
    capabilities: z.array(z.string()).optional(),
    users: z.array(DuoUserSummarySchema).optional(),
  })
  .loose();
export type DuoPhone = z.infer<typeof DuoPhoneSchema>;

export const DuoUserSchema = z
  .object({
    user_id: z.string().min(1),
    username: z.string().min(1),
    realname: optionalText,
    firstname: optionalText,
    lastname: optionalText,
    email: optionalText,
    notes: optionalText,
    // Lenient: a status Duo adds later must not make a whole page unreadable.
    status: z.string().transform((s): DuoUserStatus | (string & {}) => s.toLowerCase()),
    alias1: z.string().nullish(),
    alias2: z.string().nullish(),
    alias3: z.string().nullish(),
    alias4: z.string().nullish(),
    aliases: z.record(z.string(), z.string()).nullish().transform((v) => v ?? {}),
    created: unixSeconds,
    last_login: unixSeconds,
    /** When Duo's own directory sync last updated the user; null for users no directory manages (docs/duo.md). */
    last_directory_sync: unixSeconds,
    /** The directory's id for a directory-synced user. */
    external_id: z.string().nullish(),
    is_enrolled: z.boolean().optional(),
    groups: z.array(DuoGroupSchema).default([]),
    phones: z.array(DuoPhoneSchema).default([]),
  })
  .loose();
export type DuoUser = z.infer<typeof DuoUserSchema>;

export const AdminRoleSchema = z.enum([
  'Owner',
  'Administrator',
  'Application Manager',
  'User Manager',
  'Help Desk',
  'Billing',
  'Phishing Manager',
  'Read-only',
]);
export type DuoAdminRole = z.infer<typeof AdminRoleSchema>;

export const DuoAdminSchema = z
  .object({
    admin_id: z.string().min(1),
    email: z.string(),
    name: optionalText,
    phone: optionalText,
    role: z.string(),
    status: z.string(),
    created: unixSeconds,
    last_login: unixSeconds,
    restricted_by_admin_units: z.boolean().optional(),
  })
  .loose();
export type DuoAdmin = z.infer<typeof DuoAdminSchema>;

export const DuoInfoSummarySchema = z
  .object({ user_count: z.number().int().optional(), admin_count: z.number().int().optional(), integration_count: z.number().int().optional() })
  .loose();
export type DuoInfoSummary = z.infer<typeof DuoInfoSummarySchema>;

/** Deletes and (dis)associations answer with an empty string; tolerate null/{} too. */
export const DuoEmptyResponseSchema = z.union([z.literal(''), z.null(), z.object({}).loose(), z.array(z.unknown())]);

/**
 * One item of a bulk answer: the envelope the single call would have answered. Duo does not
 * document bulk answers; this is the shape the sandbox gives and the client expects (docs/duo.md).
 */
export const DuoBulkItemSchema = z.discriminatedUnion('stat', [z.object({ stat: z.literal('OK'), response: z.unknown() }), DuoFailEnvelopeSchema]);
export const DuoBulkResponseSchema = z.array(DuoBulkItemSchema);
export type DuoBulkItem = z.infer<typeof DuoBulkItemSchema>;

/* ---------- client inputs ---------- */

/**
 * Writable user fields. In `modifyUser`, `null` clears a field (sent as an empty string, which is
 * how Duo clears values); `undefined` leaves it unchanged.
 */
export interface DuoUserFields {
  realname?: string | null;
  firstname?: string | null;
  lastname?: string | null;
  email?: string | null;
  notes?: string | null;
  status?: DuoSettableUserStatus;
  alias1?: string | null;
  alias2?: string | null;
  alias3?: string | null;
  alias4?: string | null;
}

export interface DuoUserCreate extends DuoUserFields {
  username: string;
}

export interface DuoUserChanges extends DuoUserFields {
  /** Renames the user. */
  username?: string;
}

export type DuoSettableGroupStatus = 'active' | 'bypass' | 'disabled';

export interface DuoGroupCreate {
  name: string;
  desc?: string;
  status?: DuoSettableGroupStatus;
}

export interface DuoGroupChanges {
  name?: string;
  /** null clears the description. */
  desc?: string | null;
  status?: DuoSettableGroupStatus;
}

export type DuoPhoneType = 'unknown' | 'mobile' | 'landline';

export interface DuoPhoneCreate {
  /** E.164 recommended; Duo assumes +1 without a leading +. */
  number: string;
  name?: string;
  extension?: string;
  type?: DuoPhoneType;
  platform?: string;
}

export interface DuoAdminCreate {
  email: string;
  name: string;
  phone?: string;
  role?: DuoAdminRole;
  /** Send Duo's activation e-mail. */
  sendEmail?: boolean;
}

export interface DuoAdminChanges {
  name?: string;
  phone?: string | null;
  role?: DuoAdminRole;
  status?: 'Active' | 'Disabled';
}

/** Users for bulk create: Duo's bulk_create takes these fields only (no aliases; create those users singly or by a bulk operation). */
export type DuoBulkUserCreate = Omit<DuoUserCreate, 'alias1' | 'alias2' | 'alias3' | 'alias4'>;

/** The operations Duo's bulk endpoint supports. */
export type DuoBulkOperation =
  | { kind: 'createUser'; user: DuoUserCreate }
  | { kind: 'modifyUser'; userId: string; changes: DuoUserChanges }
  | { kind: 'deleteUser'; userId: string }
  | { kind: 'addUserToGroup'; userId: string; groupId: string }
  | { kind: 'removeUserFromGroup'; userId: string; groupId: string };
