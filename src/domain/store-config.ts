/**
 * Store connection settings, validated with zod: one discriminated union on `kind`. Credentials
 * appear only as secret references ({ env } / { file }), resolved inside the adapter just before
 * use, so a config object can be logged or kept in workflow history without leaking anything.
 */
import { z } from 'zod';
import { SecretRefSchema } from './secret-ref';

const LdapAttr = z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'must be an LDAP attribute name');
/** A trusted, operator-written LDAP filter; must be parenthesised so it composes with `&`. */
const LdapFilterText = z.string().regex(/^\(.*\)$/s, 'must be an LDAP filter in parentheses, e.g. (objectClass=inetOrgPerson)');
/** True when a URL names no user or password (`scheme://user:password@host`): secrets go in secret references, never in URLs. */
function hasNoUserInfo(url: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url);
}
const noUserInfo = (where: string) => ({
  message: `must not contain user info (user:password@): URLs are repeated in every error and log line; ${where}`,
});

const Dn = z.string().min(3).regex(/=/, 'must be a DN such as ou=people,dc=example,dc=org');

export const FileStoreConfigSchema = z
  .object({
    kind: z.literal('file'),
    /** JSON, or YAML when the name ends in .yaml/.yml. */
    path: z.string().min(1),
    readOnly: z.boolean().default(false),
  })
  .strict();

export const LdapDisabledConventionSchema = z.discriminatedUnion('kind', [
  /** The directory has no notion of disabled accounts: everyone is enabled; disabling is refused. */
  z.object({ kind: z.literal('none') }).strict(),
  /**
   * Disabled when `attribute` holds `value`, compared as LDAP's caseIgnoreMatch does (case, leading
   * and trailing spaces ignored, inner runs of spaces as one). `match` says which values count when
   * the attribute has several: `any` (default: any value) or `first` (only the first value the
   * server returns). Example: employeeType ["contractor", "disabled"] is disabled with `any`, enabled
   * with `first`. Disabling sets the attribute to `value` alone (it may be single-valued); enabling
   * removes only the values that match.
   * The attribute is requested explicitly, so operational attributes work (e.g. pwdAccountLockedTime).
   */
  z
    .object({ kind: z.literal('attribute'), attribute: LdapAttr, value: z.string().min(1), match: z.enum(['any', 'first']).default('any') })
    .strict(),
  /** Active Directory: userAccountControl bit 0x2 (ACCOUNTDISABLE). */
  z.object({ kind: z.literal('userAccountControl') }).strict(),
]);
export type LdapDisabledConvention = z.infer<typeof LdapDisabledConventionSchema>;

export const LdapAttributeMapSchema = z
  .object({
    externalId: LdapAttr,
    username: LdapAttr,
    email: LdapAttr,
    /** Read: all values of all listed attributes; write: the first attribute holds every phone. */
    phones: z.array(LdapAttr).min(1),
    givenName: LdapAttr,
    familyName: LdapAttr,
    displayName: LdapAttr,
    /** On users, listing group DNs (needs the memberof overlay on OpenLDAP; built into AD). */
    memberOf: LdapAttr,
    /** On groups, listing member DNs. */
    member: LdapAttr,
    groupName: LdapAttr,
    groupDescription: LdapAttr,
  })
  .strict();
export type LdapAttributeMap = z.infer<typeof LdapAttributeMapSchema>;

export const LDAP_PRESETS: Record<'openldap' | 'activeDirectory', {
  attributes: LdapAttributeMap;
  userFilter: string;
  groupFilter: string;
  userObjectClasses: string[];
  rdnAttribute: string;
  disabled: LdapDisabledConvention;
}> = {
  openldap: {
    attributes: {
      externalId: 'entryUUID', username: 'uid', email: 'mail', phones: ['telephoneNumber', 'mobile'],
      givenName: 'givenName', familyName: 'sn', displayName: 'displayName', memberOf: 'memberOf',
      member: 'member', groupName: 'cn', groupDescription: 'description',
    },
    userFilter: '(objectClass=inetOrgPerson)',
    groupFilter: '(objectClass=groupOfNames)',
    userObjectClasses: ['inetOrgPerson'],
    rdnAttribute: 'uid',
    disabled: { kind: 'none' },
  },
  activeDirectory: {
    attributes: {
      externalId: 'objectGUID', username: 'sAMAccountName', email: 'mail', phones: ['telephoneNumber', 'mobile'],
      givenName: 'givenName', familyName: 'sn', displayName: 'displayName', memberOf: 'memberOf',
      member: 'member', groupName: 'cn', groupDescription: 'description',
    },
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    groupFilter: '(objectClass=group)',
    userObjectClasses: ['top', 'person', 'organizationalPerson', 'user'],
    rdnAttribute: 'cn',
    disabled: { kind: 'userAccountControl' },
  },
};

export const LdapStoreConfigSchema = z
  .object({
    kind: z.literal('ldap'),
    /** ldap://host:port or ldaps://host:port */
    url: z
      .string()
      .regex(/^ldaps?:\/\/[^/\s]+\/?$/i, 'must be ldap://host[:port] or ldaps://host[:port]')
      .refine(hasNoUserInfo, noUserInfo('put the bind DN in bind.dn and the password in bind.password as a secret reference ({"env": ...} or {"file": ...})')),
    startTls: z.boolean().default(false),
    tls: z
      .object({
        /** PEM file with the CA that signed the server certificate. */
        caFile: z.string().min(1).optional(),
        /** Only for lab setups: accept any certificate. */
        insecureSkipVerify: z.boolean().default(false),
        servername: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Omit for an anonymous bind. */
    bind: z.object({ dn: Dn, password: SecretRefSchema }).strict().optional(),
    usersDn: Dn,
    groupsDn: Dn,
    preset: z.enum(['openldap', 'activeDirectory']).default('openldap'),
    userFilter: LdapFilterText.optional(),
    groupFilter: LdapFilterText.optional(),
    attributes: LdapAttributeMapSchema.partial().optional(),
    /** How to find a user's groups: `memberOf` on the user (fast), or `member` on the groups. */
    membership: z.enum(['memberOf', 'member']).default('memberOf'),
    disabled: LdapDisabledConventionSchema.optional(),
    /** Operational attributes to read as well (a search for `*` returns user attributes only), e.g. for mappings. */
    operationalAttributes: z.array(LdapAttr).max(50).optional(),
    /** Object classes and RDN attribute for users created by inbound rules. */
    userObjectClasses: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/)).min(1).optional(),
    rdnAttribute: LdapAttr.optional(),
    readOnly: z.boolean().default(false),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(5_000),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.startTls && c.url.toLowerCase().startsWith('ldaps:')) {
      ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'startTls is for ldap:// URLs; ldaps:// is already encrypted' });
    }
  });

export const ScimStoreConfigSchema = z
  .object({
    kind: z.literal('scim'),
    /** SCIM base URL, e.g. https://idp.example.com/scim/v2 (no trailing /Users). */
    baseUrl: z
      .string()
      .url()
      .regex(/^https?:\/\//i, 'must be an http(s) URL')
      .refine(hasNoUserInfo, noUserInfo('put credentials in auth (a bearer token or OAuth client credentials, as secret references)')),
    auth: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('bearer'), token: SecretRefSchema }).strict(),
      z
        .object({
          kind: z.literal('oauth'),
          tokenUrl: z.string().url().refine(hasNoUserInfo, noUserInfo('put the client id in clientId and the secret in clientSecret as a secret reference')),
          clientId: z.string().min(1),
          clientSecret: SecretRefSchema,
          scope: z.string().min(1).optional(),
          /** How the client authenticates at the token endpoint (RFC 6749 §2.3.1). */
          clientAuth: z.enum(['basic', 'body']).default('basic'),
        })
        .strict(),
    ]),
    tls: z.object({ caFile: z.string().min(1).optional(), insecureSkipVerify: z.boolean().default(false) }).strict().optional(),
    readOnly: z.boolean().default(false),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    /** Usernames per filter in a batch lookup (servers limit filter length). */
    lookupBatchSize: z.number().int().min(1).max(200).default(50),
  })
  .strict();

export const StoreConfigSchema = z.discriminatedUnion('kind', [FileStoreConfigSchema, LdapStoreConfigSchema, ScimStoreConfigSchema]);
export type StoreConfig = z.input<typeof StoreConfigSchema>;
export type ParsedStoreConfig = z.output<typeof StoreConfigSchema>;
export type FileStoreConfig = z.output<typeof FileStoreConfigSchema>;
export type LdapStoreConfig = z.output<typeof LdapStoreConfigSchema>;
export type ScimStoreConfig = z.output<typeof ScimStoreConfigSchema>;
