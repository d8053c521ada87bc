/**
 * The identity-store contract that activities use: normalised user and group records, paged reads
 * with opaque cursors, batched lookups by username, and writes for inbound rules. Adapters (file,
 * LDAP, SCIM) implement `IdentityStore`; nothing outside `src/stores` knows which one it talks to.
 */
import { z } from 'zod';
import type { Scope } from './filter';

export const StoreKindSchema = z.enum(['file', 'ldap', 'scim']);
export type StoreKind = z.infer<typeof StoreKindSchema>;

const AttributeValueSchema = z.union([z.string(), z.array(z.string())]);

// One definition of the normalised user, shared with the pure mapping code that consumes it.
import type { StoreUser } from '../domain/mapping';
export { StoreUserSchema, type StoreUser } from '../domain/mapping';

export const StoreGroupSchema = z.object({
  externalId: z.string().min(1),
  name: z.string().min(1),
  description: z.string().optional(),
  /** externalIds of the groups this group is a direct member of (nested groups); absent where the store reports none. */
  groupIds: z.array(z.string()).optional(),
});
export type StoreGroup = z.infer<typeof StoreGroupSchema>;

/** A new user for inbound rules. Raw `attributes` are written as store attributes verbatim. */
export const NewUserSchema = z
  .object({
    username: z.string().min(1).max(256),
    email: z.string().min(1).optional(),
    phones: z.array(z.string().min(1)).optional(),
    givenName: z.string().min(1).optional(),
    familyName: z.string().min(1).optional(),
    displayName: z.string().min(1).optional(),
    enabled: z.boolean().optional(),
    attributes: z.record(z.string(), AttributeValueSchema).optional(),
  })
  .strict();
export type NewUser = z.infer<typeof NewUserSchema>;

/** An update: absent fields stay as they are, `null` clears the field in the store. */
export const UserPatchSchema = z
  .object({
    email: z.string().min(1).nullable().optional(),
    phones: z.array(z.string().min(1)).nullable().optional(),
    givenName: z.string().min(1).nullable().optional(),
    familyName: z.string().min(1).nullable().optional(),
    displayName: z.string().min(1).nullable().optional(),
    enabled: z.boolean().optional(),
    attributes: z.record(z.string(), z.union([AttributeValueSchema, z.null()])).optional(),
  })
  .strict();
export type UserPatch = z.infer<typeof UserPatchSchema>;

export interface PageRequest {
  /** `nextCursor` of the previous page; absent or null for the first page. */
  cursor?: string | null;
  /** Items per page, 1..1000 (default 100). */
  pageSize?: number;
}

/** A store entry that could not be read as a user: `ref` names it (a DN, an id), `reason` says what is wrong. */
export interface InvalidEntry {
  ref: string;
  reason: string;
}

export interface Page<T> {
  items: T[];
  /** Opaque, secret-free, JSON-safe; null when this was the last page. */
  nextCursor: string | null;
  /**
   * Entries of this page that could not be read (left out of `items`); the rest of the page is
   * read. Absent when there were none. Lookups never leave an entry out: they fail instead.
   */
  invalid?: InvalidEntry[];
}

export interface StoreCapabilities {
  /** Creates, updates and deletes users (inbound rules need this). */
  write: boolean;
  /** Can mark a user disabled (needs a disabled-account convention). */
  disable: boolean;
}

export interface IdentityStore {
  readonly kind: StoreKind;
  /** Where the store is, for messages and logs (host, path); never credentials. */
  readonly location: string;
  readonly capabilities: StoreCapabilities;

  /** Throws StoreError('read_only') when this store's configuration cannot write (config-time check). */
  assertWritable(): void;
  /** Reaches the store, authenticates and reads one user: for "test connection". */
  check(): Promise<void>;

  /** In-scope users, one page at a time, in a stable order. */
  listUsers(scope: Scope, page?: PageRequest): Promise<Page<StoreUser>>;
  listGroups(page?: PageRequest): Promise<Page<StoreGroup>>;
  /** Direct members of one group (by externalId). */
  listGroupMembers(groupExternalId: string, page?: PageRequest): Promise<Page<StoreUser>>;
  /**
   * Batch lookup by username (case-insensitive): returns the users found that are also in
   * `scope` (default all); missing or out-of-scope usernames are simply absent. A short answer, or
   * an entry found but unreadable, throws StoreError('incomplete'): absent must mean absent.
   */
  lookupUsers(usernames: readonly string[], scope?: Scope): Promise<StoreUser[]>;
  getUser(username: string): Promise<StoreUser | null>;
  /**
   * Batch lookup by store id (`externalId`: LDAP entryUUID/objectGUID, SCIM id, file id), same
   * rules as `lookupUsers`. Finds a user renamed in the store under its new username.
   */
  lookupUsersByExternalId(externalIds: readonly string[], scope?: Scope): Promise<StoreUser[]>;

  createUser(user: NewUser): Promise<StoreUser>;
  updateUser(username: string, patch: UserPatch): Promise<StoreUser>;
  disableUser(username: string): Promise<StoreUser>;
  /** Deletes a user; resolves false when there was no such user (deletes are idempotent). */
  deleteUser(username: string): Promise<boolean>;

  close(): Promise<void>;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
export const MAX_LOOKUP_BATCH = 1000;
