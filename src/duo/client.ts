/**
 * The one Duo Admin API client of duo-sync (used only by activities): signs every request, paces it
 * per Duo rate category (adaptive, see pacer.ts), parses every reply with zod, and turns every
 * failure into a DuoError of the small taxonomy in errors.ts. Bulk methods batch users and
 * operations through Duo's bulk endpoints and report each item's outcome. It never retries a failed
 * request (Temporal activity retry policies do) and never logs secrets.
 */
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { DuoError, DuoTransportError, type DuoErrorDetails, type DuoErrorKind, type DuoPermission } from './errors';
import { duoSyncVersion, resolveDuoEndpoint, type DuoEndpoint } from './endpoint';
import { sharedAccountPacer, type AccountPacer, type PacedTicket, type RequestPacer } from './pacer';
import { classifyDuoRequest, type DuoRateCategory } from './rate-categories';
import {
  DuoAdminSchema,
  DuoBulkResponseSchema,
  DuoEmptyResponseSchema,
  DuoEnvelopeSchema,
  DuoGroupSchema,
  DuoInfoSummarySchema,
  DuoPhoneSchema,
  DuoUserSchema,
  DuoUserSummarySchema,
  type DuoAdmin,
  type DuoAdminChanges,
  type DuoAdminCreate,
  type DuoBulkItem,
  type DuoBulkOperation,
  type DuoBulkUserCreate,
  type DuoGroup,
  type DuoGroupChanges,
  type DuoGroupCreate,
  type DuoInfoSummary,
  type DuoPhone,
  type DuoPhoneCreate,
  type DuoUser,
  type DuoUserChanges,
  type DuoUserCreate,
  type DuoUserFields,
  type DuoUserSummary,
} from './schemas';
import { authorizationHeader, canonicalizeParams, duoDate, SigningInputError, type SignatureVersion } from './signing';

export interface DuoClientOptions {
  /** e.g. `api-xxxxxxxx.duosecurity.com`; `127.0.0.1:PORT` for the sandbox (plain http on loopback only). */
  apiHost: string;
  integrationKey: string;
  secretKey: string;
  /** 5 (default: SHA-512, JSON bodies) or 2 (SHA-512, form bodies). */
  signatureVersion?: SignatureVersion;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
  /** Default `duo-sync/<version>`. */
  userAgent?: string;
  /** PEM CA bundle to trust instead of the system store (e.g. a TLS-inspecting proxy). */
  caCertificates?: string;
  /** Clock for the signed Date header (tests). */
  now?: () => Date;
  /**
   * Caps every request at this bucket's rate (the optional `duo.requestsPerSecond` setting); shared by
   * one account's clients. Applies on top of `pacing`.
   */
  pacer?: RequestPacer;
  /**
   * Adaptive pacing per Duo rate category. Default for real Duo: the pacer this process shares for
   * the account (sharedAccountPacer), starting from Duo's known limits. Default for a loopback sandbox:
   * none, because a sandbox's limits and injected 429s are test settings, not an account's limits;
   * pass an AccountPacer (e.g. `{ limits: 'duo', timeScale: k }` for a time-scaled sandbox) to pace it.
   * false: no adaptive pacing.
   */
  pacing?: AccountPacer | false;
  /** Bulk endpoint settings (batch sizes, on/off). */
  bulk?: Partial<DuoBulkSettings>;
  /** Told about every request and pacing wait (metrics, src/metrics); never sees parameters or credentials. */
  observer?: DuoRequestObserver;
  /**
   * Called every `everyMs` while a request waits for its turn at a pacer, in the caller's async
   * context: an activity heartbeats there, so minutes of pacing on a shared account do not look
   * like a dead worker to Temporal.
   */
  whileWaiting?: { everyMs: number; tick: () => void };
}

/** What the client reports for metrics: the path as sent (ids included: the observer templates it). */
export interface DuoRequestObserver {
  requestFinished(request: { category: DuoRateCategory; method: string; path: string; status: number | DuoErrorKind; seconds: number }): void;
  pacingWaited(wait: { pacer: 'cap' | 'adaptive'; category: DuoRateCategory; seconds: number }): void;
}

/** Documented (or, for Trash, assumed) maxima per bulk request. */
export const DUO_BULK_LIMITS = { createUsers: 100, operations: 50, trashUserIds: 100 } as const;

const DuoBulkSettingsSchema = z
  .object({
    /** false: bulk methods make one single call per item instead (Trash needs the bulk endpoints and fails). */
    enabled: z.boolean().default(true),
    createUsersBatchSize: z.number().int().min(1).max(DUO_BULK_LIMITS.createUsers).default(DUO_BULK_LIMITS.createUsers),
    operationsBatchSize: z.number().int().min(1).max(DUO_BULK_LIMITS.operations).default(DUO_BULK_LIMITS.operations),
    trashBatchSize: z.number().int().min(1).max(DUO_BULK_LIMITS.trashUserIds).default(DUO_BULK_LIMITS.trashUserIds),
  })
  .strict();
export type DuoBulkSettings = z.output<typeof DuoBulkSettingsSchema>;

/** One item's outcome in a bulk method, in the order the items were given. */
export type DuoItemResult<T> = { ok: true; value: T } | { ok: false; error: DuoError };

interface BulkSpec<I, T> {
  /** e.g. `create users`; each item's error names its own operation. */
  label: string;
  path: string;
  listParam: 'users' | 'operations' | 'user_id_list';
  batchSize: keyof Omit<DuoBulkSettings, 'enabled'>;
  encode: (item: I) => unknown;
  parse: (item: I, envelope: DuoBulkItem) => DuoItemResult<T>;
  /** The single call doing the same; undefined when there is none (Trash). */
  single: ((item: I) => Promise<T>) | undefined;
}

export interface DuoPage<T> {
  items: T[];
  offset: number;
  /** Offset of the next page; undefined on the last page. */
  nextOffset: number | undefined;
  totalObjects: number | undefined;
}

export interface PageRequest {
  limit?: number;
  offset?: number;
}

export interface DuoCheck {
  ok: boolean;
  /** Why the check failed, ready to show to an operator. */
  message?: string;
  errorKind?: DuoErrorKind;
}

export interface DuoConnectionReport {
  /** Every check passed that a provisioning connection needs (admin checks are reported separately). */
  ok: boolean;
  reachable: DuoCheck;
  credentials: DuoCheck;
  read: DuoCheck;
  write: DuoCheck;
  /** Only checked when asked (needed for `userType: admin`). */
  administrators?: DuoCheck;
  userCount?: number;
}

type Method = 'GET' | 'POST' | 'DELETE';
type Params = Record<string, string>;
type Metadata = { total_objects?: number | null; next_offset?: number | null };

/** Documented maximum page sizes (larger values are clamped by Duo). */
export const DUO_PAGE_LIMITS = {
  users: 300,
  userGroups: 500,
  userPhones: 500,
  phones: 500,
  groups: 100,
  groupMembers: 500,
  admins: 100,
} as const;

/** Duo accepts at most 100 entries in `username_list` / `user_id_list`. */
export const DUO_LIST_PARAM_MAX = 100;

/** An id that no Duo object can have, used to probe write permission without changing anything. */
const WRITE_PROBE_USER_ID = 'DUSYNCPROBE000000000';

export class DuoClient {
  readonly endpoint: DuoEndpoint;
  private readonly http: AxiosInstance;
  private readonly ikey: string;
  private readonly skey: string;
  private readonly version: SignatureVersion;
  private readonly now: () => Date;
  private readonly pacer: RequestPacer | undefined;
  private readonly pacing: AccountPacer | undefined;
  private readonly whileWaiting: DuoClientOptions['whileWaiting'];
  private readonly observer: DuoRequestObserver | undefined;
  private readonly bulkSettings: DuoBulkSettings;
  /** Bulk paths this account answered 404 for; this client uses single calls for them from then on. */
  private readonly missingBulkPaths = new Set<string>();

  constructor(options: DuoClientOptions) {
    this.endpoint = resolveDuoEndpoint(options.apiHost);
    if (!options.integrationKey.trim()) throw new DuoClientInputError('Duo integration key is empty; set it in the connection settings');
    if (!options.secretKey) throw new DuoClientInputError('Duo secret key is empty; check the secret reference of the connection');
    this.ikey = options.integrationKey.trim();
    this.skey = options.secretKey;
    this.version = options.signatureVersion ?? 5;
    this.now = options.now ?? (() => new Date());
    this.pacer = options.pacer;
    this.observer = options.observer;
    this.whileWaiting = options.whileWaiting;
    this.pacing = options.pacing === false ? undefined : (options.pacing ?? (this.endpoint.loopback ? undefined : sharedAccountPacer(this.endpoint.signedHost, this.ikey)));
    const bulk = DuoBulkSettingsSchema.safeParse(options.bulk ?? {});
    if (!bulk.success) {
      throw new DuoClientInputError(`invalid Duo bulk settings: ${bulk.error.issues.map((i) => `${i.path.join('.') || 'bulk'}: ${i.message}`).join('; ')}`);
    }
    this.bulkSettings = bulk.data;
    this.http = axios.create({
      baseURL: this.endpoint.baseUrl,
      timeout: options.timeoutMs ?? 30_000,
      maxRedirects: 0,
      // Status codes and bodies are interpreted here, never by axios.
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
      // The signed body must be sent byte for byte.
      transformRequest: [(data: unknown) => data],
      headers: { 'User-Agent': options.userAgent ?? `duo-sync/${duoSyncVersion()}`, Accept: 'application/json' },
      ...(this.endpoint.loopback ? { proxy: false as const } : {}),
      ...(options.caCertificates ? { httpsAgent: new HttpsAgent({ ca: options.caCertificates, keepAlive: true }) } : {}),
    });
  }

  /* ---------------- users ---------------- */

  /** One page of users (`limit` up to 300). */
  listUsers(page: PageRequest = {}): Promise<DuoPage<DuoUser>> {
    return this.page('list users', '/admin/v1/users', {}, DuoUserSchema, page, DUO_PAGE_LIMITS.users);
  }

  /** Every user, page by page (for streaming; never collects the whole directory). */
  iterateUsers(pageSize: number = DUO_PAGE_LIMITS.users): AsyncGenerator<DuoPage<DuoUser>> {
    return this.pages('list users', '/admin/v1/users', {}, DuoUserSchema, pageSize, DUO_PAGE_LIMITS.users);
  }

  /**
   * Looks up users by username in batches of 100 (`username_list`); missing names are simply
   * absent from the result.
   */
  async getUsersByUsernames(usernames: readonly string[]): Promise<DuoUser[]> {
    return this.getUsersByList('username_list', 'username', usernames);
  }

  /**
   * Looks users up by id in batches of 100 (`user_id_list`, Duo's get-page category): one call
   * instead of one get-object call per user. Unknown ids are simply absent from the result.
   */
  async getUsersByIds(userIds: readonly string[]): Promise<DuoUser[]> {
    return this.getUsersByList('user_id_list', 'id', userIds);
  }

  /** `GET /admin/v1/users` with `param` = a JSON list of at most DUO_LIST_PARAM_MAX distinct values, batch after batch. */
  private async getUsersByList(param: 'username_list' | 'user_id_list', by: string, values: readonly string[]): Promise<DuoUser[]> {
    const unique = [...new Set(values)];
    const found: DuoUser[] = [];
    for (let i = 0; i < unique.length; i += DUO_LIST_PARAM_MAX) {
      const batch = unique.slice(i, i + DUO_LIST_PARAM_MAX);
      const { data } = await this.call(`look up ${batch.length} users by ${by}`, 'GET', '/admin/v1/users', { [param]: JSON.stringify(batch) }, z.array(DuoUserSchema));
      found.push(...data);
    }
    return found;
  }

  /**
   * Users whose email is `email` (Duo compares without regard to case). Duo lets several users share
   * an email, so this is a list; callers decide what more than one hit means.
   */
  async findUsersByEmail(email: string): Promise<DuoUser[]> {
    return (await this.call(`find users with email "${email}"`, 'GET', '/admin/v1/users', { email }, z.array(DuoUserSchema))).data;
  }

  /** The user whose username or alias matches (Duo returns a list of 0 or 1), or undefined. */
  async findUserByUsername(username: string): Promise<DuoUser | undefined> {
    const { data } = await this.call(`find user "${username}"`, 'GET', '/admin/v1/users', { username }, z.array(DuoUserSchema));
    return data[0];
  }

  async getUser(userId: string): Promise<DuoUser> {
    return (await this.call(`get user ${userId}`, 'GET', `/admin/v1/users/${enc(userId)}`, {}, DuoUserSchema)).data;
  }

  /**
   * Creates a user. A duplicate username or alias fails with kind `conflict` carrying the existing
   * user's id: Duo answers a duplicate with a 400 whose code is not documented, so any 400 is
   * followed by one lookup to tell a duplicate from a bad value.
   */
  async createUser(input: DuoUserCreate): Promise<DuoUser> {
    const op = `create user "${input.username}"`;
    try {
      return (await this.call(op, 'POST', '/admin/v1/users', { username: input.username, ...userFieldParams(input, false) }, DuoUserSchema)).data;
    } catch (err) {
      if (!(err instanceof DuoError) || (err.kind !== 'invalidRequest' && err.kind !== 'conflict')) throw err;
      const candidates = [input.username, input.alias1, input.alias2, input.alias3, input.alias4].filter((v): v is string => !!v);
      for (const name of candidates) {
        const existing = await this.findUserByUsername(name);
        if (existing) throw rebuild(err, { kind: 'conflict', existingId: existing.user_id, operation: `${op} (name "${name}" is used by user "${existing.username}")` });
      }
      throw err;
    }
  }

  /** Changes a user; a field set to null is cleared in Duo, undefined fields are left alone. */
  async modifyUser(userId: string, changes: DuoUserChanges): Promise<DuoUser> {
    const params = userFieldParams(changes, true);
    if (changes.username !== undefined) params['username'] = changes.username;
    return (await this.call(`modify user ${userId}`, 'POST', `/admin/v1/users/${enc(userId)}`, params, DuoUserSchema)).data;
  }

  /** Deletes a user immediately and permanently (API deletes skip Duo's trash). Missing users succeed. */
  async deleteUser(userId: string): Promise<void> {
    await this.call(`delete user ${userId}`, 'DELETE', `/admin/v1/users/${enc(userId)}`, {}, DuoEmptyResponseSchema);
  }

  listUserGroups(userId: string, page: PageRequest = {}): Promise<DuoPage<DuoGroup>> {
    return this.page(`list groups of user ${userId}`, `/admin/v1/users/${enc(userId)}/groups`, {}, DuoGroupSchema, page, DUO_PAGE_LIMITS.userGroups);
  }

  iterateUserGroups(userId: string, pageSize: number = DUO_PAGE_LIMITS.userGroups): AsyncGenerator<DuoPage<DuoGroup>> {
    return this.pages(`list groups of user ${userId}`, `/admin/v1/users/${enc(userId)}/groups`, {}, DuoGroupSchema, pageSize, DUO_PAGE_LIMITS.userGroups);
  }

  /** Adds a user to a group (idempotent). At most 100 groups per user (kind `limitExceeded`). */
  async addUserToGroup(userId: string, groupId: string): Promise<void> {
    await this.call(`add user ${userId} to group ${groupId}`, 'POST', `/admin/v1/users/${enc(userId)}/groups`, { group_id: groupId }, DuoEmptyResponseSchema);
  }

  /** Removes a user from a group; succeeds when the user was not a member. */
  async removeUserFromGroup(userId: string, groupId: string): Promise<void> {
    await this.call(`remove user ${userId} from group ${groupId}`, 'DELETE', `/admin/v1/users/${enc(userId)}/groups/${enc(groupId)}`, {}, DuoEmptyResponseSchema);
  }

  listUserPhones(userId: string, page: PageRequest = {}): Promise<DuoPage<DuoPhone>> {
    return this.page(`list phones of user ${userId}`, `/admin/v1/users/${enc(userId)}/phones`, {}, DuoPhoneSchema, page, DUO_PAGE_LIMITS.userPhones);
  }

  /* ---------------- bulk and Trash ---------------- */

  /**
   * Creates users through `bulk_create`, `createUsersBatchSize` per request. Every user gets a result,
   * in order; a duplicate name is a `conflict` naming the existing user, like createUser. Falls back to
   * single createUser calls when bulk is off or the account answers 404 for the endpoint. A failure of
   * a whole request (429, outage, credentials) fails that batch's and every later user's result with it;
   * retryable ones mean "not done, or unknown": retrying a create then meets a conflict to adopt.
   */
  async bulkCreateUsers(users: readonly DuoBulkUserCreate[]): Promise<Array<DuoItemResult<DuoUser>>> {
    const results = await this.bulk<DuoBulkUserCreate, DuoUser>(users, {
      label: 'create users',
      path: '/admin/v1/users/bulk_create',
      listParam: 'users',
      batchSize: 'createUsersBatchSize',
      encode: (u) => ({ username: u.username, ...userFieldParams(u, false) }),
      parse: (u, env) => itemResult(env, `create user "${u.username}"`, 'POST', '/admin/v1/users', DuoUserSchema),
      single: (u) => this.createUser(u),
    });
    return this.withExistingIds(users, results);
  }

  /**
   * Runs create/modify/delete user and add/remove group operations through Duo's bulk endpoint,
   * `operationsBatchSize` per request. Results are in order: the user for creates and modifies,
   * undefined for the rest. Same fallback and failure rules as bulkCreateUsers.
   */
  async bulkOperations(operations: readonly DuoBulkOperation[]): Promise<Array<DuoItemResult<DuoUser | undefined>>> {
    return this.bulk<DuoBulkOperation, DuoUser | undefined>(operations, {
      label: 'bulk operations',
      path: '/admin/v1/bulk',
      listParam: 'operations',
      batchSize: 'operationsBatchSize',
      encode: (op) => bulkOperationWire(op),
      parse: (op, env) => {
        const wire = bulkOperationWire(op);
        const returnsUser = op.kind === 'createUser' || op.kind === 'modifyUser';
        return itemResult(env, bulkOperationLabel(op), wire.method, wire.path, returnsUser ? DuoUserSchema : DuoEmptyResponseSchema.transform(() => undefined));
      },
      single: (op) => this.singleOperation(op),
    });
  }

  /**
   * Sends users to Duo's Trash: their status becomes `pending deletion` until restored, and Duo purges
   * them after 7 days. Results are in order (the trashed user when Duo returns it). Trash exists only
   * as bulk endpoints: with bulk off, or on an account without them, every item fails saying so.
   */
  sendUsersToTrash(userIds: readonly string[]): Promise<Array<DuoItemResult<DuoUser | undefined>>> {
    return this.trashCall(userIds, 'send users to Trash', 'send user %s to Trash', '/admin/v1/users/bulk_send_to_trash');
  }

  /** Restores users from Trash with the status they had. Same rules as sendUsersToTrash. */
  restoreUsersFromTrash(userIds: readonly string[]): Promise<Array<DuoItemResult<DuoUser | undefined>>> {
    return this.trashCall(userIds, 'restore users from Trash', 'restore user %s from Trash', '/admin/v1/users/bulk_restore');
  }

  /** Batch sizes in use (lowered when Duo refused a batch as too large). */
  get bulkBatchSizes(): Readonly<Omit<DuoBulkSettings, 'enabled'>> {
    const { enabled: _enabled, ...sizes } = this.bulkSettings;
    return sizes;
  }

  private trashCall(userIds: readonly string[], label: string, itemLabel: string, path: string): Promise<Array<DuoItemResult<DuoUser | undefined>>> {
    const userOrNothing = z.union([DuoUserSchema, DuoEmptyResponseSchema.transform(() => undefined)]);
    return this.bulk<string, DuoUser | undefined>(userIds, {
      label,
      path,
      listParam: 'user_id_list',
      batchSize: 'trashBatchSize',
      encode: (id) => id,
      parse: (id, env) => itemResult(env, itemLabel.replace('%s', id), 'POST', path, userOrNothing),
      single: undefined,
    });
  }

  private async singleOperation(op: DuoBulkOperation): Promise<DuoUser | undefined> {
    switch (op.kind) {
      case 'createUser':
        return this.createUser(op.user);
      case 'modifyUser':
        return this.modifyUser(op.userId, op.changes);
      case 'deleteUser':
        await this.deleteUser(op.userId);
        return undefined;
      case 'addUserToGroup':
        await this.addUserToGroup(op.userId, op.groupId);
        return undefined;
      case 'removeUserFromGroup':
        await this.removeUserFromGroup(op.userId, op.groupId);
        return undefined;
    }
  }

  private async bulk<I, T>(items: readonly I[], spec: BulkSpec<I, T>): Promise<Array<DuoItemResult<T>>> {
    const results: Array<DuoItemResult<T>> = [];
    let offset = 0;
    while (offset < items.length) {
      const batch = items.slice(offset, offset + this.bulkSettings[spec.batchSize]);
      const outcome = await this.bulkBatch(batch, spec);
      results.push(...outcome.results);
      offset += batch.length;
      if (outcome.stop) {
        // A whole-request failure (429, outage, credentials) applies to everything not yet sent.
        for (const item of items.slice(offset)) results.push({ ok: false, error: rebuild(outcome.stop, { operation: `${spec.label}: not sent after an earlier batch failed (${describeItem(item)})` }) });
        break;
      }
    }
    return results;
  }

  private async bulkBatch<I, T>(batch: readonly I[], spec: BulkSpec<I, T>): Promise<{ results: Array<DuoItemResult<T>>; stop?: DuoError }> {
    const unavailable = !this.bulkSettings.enabled ? 'bulk endpoints are turned off by the `bulk.enabled` setting' : this.missingBulkPaths.has(spec.path) ? `this Duo account answered 404 for ${spec.path}` : undefined;
    if (unavailable !== undefined) return { results: await this.singles(batch, spec, unavailable) };
    try {
      const { data } = await this.call(`${spec.label} (${batch.length})`, 'POST', spec.path, { [spec.listParam]: JSON.stringify(batch.map(spec.encode)) }, DuoBulkResponseSchema);
      if (data.length !== batch.length) {
        throw new DuoError({ kind: 'invalidResponse', operation: `${spec.label} (${batch.length})`, method: 'POST', path: spec.path, httpStatus: 200, duoMessage: `answered ${data.length} results for ${batch.length} items` });
      }
      return { results: batch.map((item, i) => spec.parse(item, data[i] as DuoBulkItem)) };
    } catch (err) {
      if (!(err instanceof DuoError)) throw err;
      if (err.kind === 'notFound' && err.httpStatus === 404) {
        this.missingBulkPaths.add(spec.path);
        return { results: await this.singles(batch, spec, `this Duo account answered 404 for ${spec.path}`) };
      }
      if (err.kind === 'invalidRequest' && batch.length > 1) {
        // Too large a batch, or one bad item refused for all (an all-or-nothing answer): split until the
        // bad items stand alone, and remember a size Duo refused as too large.
        if (namesList(err.messageDetail, spec.listParam)) {
          this.bulkSettings[spec.batchSize] = Math.min(this.bulkSettings[spec.batchSize], Math.ceil(batch.length / 2));
        }
        const half = Math.ceil(batch.length / 2);
        const first = await this.bulkBatch(batch.slice(0, half), spec);
        if (first.stop) return { results: [...first.results, ...batch.slice(half).map((item) => notSent(first.stop as DuoError, spec, item))], stop: first.stop };
        const second = await this.bulkBatch(batch.slice(half), spec);
        return { results: [...first.results, ...second.results], ...(second.stop ? { stop: second.stop } : {}) };
      }
      if (err.kind === 'invalidRequest') {
        // One item refused on its own: the single call says precisely why (e.g. a conflict and with whom).
        return { results: spec.single ? await this.singles(batch, spec, undefined) : batch.map(() => ({ ok: false as const, error: err })) };
      }
      return { results: batch.map(() => ({ ok: false as const, error: err })), stop: err };
    }
  }

  private async singles<I, T>(batch: readonly I[], spec: BulkSpec<I, T>, why: string | undefined): Promise<Array<DuoItemResult<T>>> {
    const single = spec.single;
    if (!single) {
      const error = new DuoError({
        kind: why?.includes('404') ? 'notFound' : 'invalidRequest',
        operation: `${spec.label}: ${why ?? 'no single call does this'}; Duo's Trash is reachable only through its bulk endpoints`,
        method: 'POST',
        path: spec.path,
        ...(why?.includes('404') ? { httpStatus: 404, code: 40401 } : {}),
      });
      return batch.map(() => ({ ok: false as const, error }));
    }
    const results: Array<DuoItemResult<T>> = [];
    for (const item of batch) {
      try {
        results.push({ ok: true, value: await single(item) });
      } catch (err) {
        if (!(err instanceof DuoError)) throw err;
        results.push({ ok: false, error: err });
      }
    }
    return results;
  }

  /** Bulk creates refused because a name is taken get the holder's id, as createUser gives it. */
  private async withExistingIds(users: readonly DuoBulkUserCreate[], results: Array<DuoItemResult<DuoUser>>): Promise<Array<DuoItemResult<DuoUser>>> {
    const refused = results.flatMap((r, i) => (!r.ok && (r.error.kind === 'conflict' || r.error.kind === 'invalidRequest') && r.error.existingId === undefined ? [i] : []));
    if (refused.length === 0) return results;
    let holders: DuoUser[];
    try {
      holders = await this.getUsersByUsernames(refused.map((i) => (users[i] as DuoBulkUserCreate).username));
    } catch (err) {
      if (err instanceof DuoError) return results;
      throw err;
    }
    const byName = new Map<string, DuoUser>();
    for (const h of holders) {
      byName.set(h.username.toLowerCase(), h);
      for (const alias of [h.alias1, h.alias2, h.alias3, h.alias4, ...Object.values(h.aliases)]) if (alias) byName.set(alias.toLowerCase(), h);
    }
    return results.map((r, i) => {
      if (r.ok || !refused.includes(i)) return r;
      const name = (users[i] as DuoBulkUserCreate).username;
      const holder = byName.get(name.toLowerCase());
      return holder ? { ok: false, error: rebuild(r.error, { kind: 'conflict', existingId: holder.user_id, operation: `${r.error.operation} (name "${name}" is used by user "${holder.username}")` }) } : r;
    });
  }

  /* ---------------- phones ---------------- */

  /** Phones with this number (Duo returns 0 or 1). The number is normalised by Duo (+1 assumed without +). */
  async findPhonesByNumber(number: string, extension?: string): Promise<DuoPhone[]> {
    const params: Params = { number };
    if (extension) params['extension'] = extension;
    return (await this.call(`find phone ${number}`, 'GET', '/admin/v1/phones', params, z.array(DuoPhoneSchema))).data;
  }

  async getPhone(phoneId: string): Promise<DuoPhone> {
    return (await this.call(`get phone ${phoneId}`, 'GET', `/admin/v1/phones/${enc(phoneId)}`, {}, DuoPhoneSchema)).data;
  }

  async createPhone(input: DuoPhoneCreate): Promise<DuoPhone> {
    const params: Params = { number: input.number };
    if (input.name !== undefined) params['name'] = input.name;
    if (input.extension !== undefined) params['extension'] = input.extension;
    if (input.type !== undefined) params['type'] = input.type;
    if (input.platform !== undefined) params['platform'] = input.platform;
    return (await this.call(`create phone ${input.number}`, 'POST', '/admin/v1/phones', params, DuoPhoneSchema)).data;
  }

  /** Deletes a phone; succeeds when it is already gone. */
  async deletePhone(phoneId: string): Promise<void> {
    await this.call(`delete phone ${phoneId}`, 'DELETE', `/admin/v1/phones/${enc(phoneId)}`, {}, DuoEmptyResponseSchema);
  }

  /** Associates a phone with a user (idempotent). 100 phones per user, 100 users per phone. */
  async associatePhone(userId: string, phoneId: string): Promise<void> {
    await this.call(`associate phone ${phoneId} with user ${userId}`, 'POST', `/admin/v1/users/${enc(userId)}/phones`, { phone_id: phoneId }, DuoEmptyResponseSchema);
  }

  /** Disassociates a phone from a user; the phone itself is kept (delete it separately if unused). */
  async disassociatePhone(userId: string, phoneId: string): Promise<void> {
    await this.call(`disassociate phone ${phoneId} from user ${userId}`, 'DELETE', `/admin/v1/users/${enc(userId)}/phones/${enc(phoneId)}`, {}, DuoEmptyResponseSchema);
  }

  /* ---------------- groups ---------------- */

  listGroups(page: PageRequest = {}): Promise<DuoPage<DuoGroup>> {
    return this.page('list groups', '/admin/v1/groups', {}, DuoGroupSchema, page, DUO_PAGE_LIMITS.groups);
  }

  iterateGroups(pageSize: number = DUO_PAGE_LIMITS.groups): AsyncGenerator<DuoPage<DuoGroup>> {
    return this.pages('list groups', '/admin/v1/groups', {}, DuoGroupSchema, pageSize, DUO_PAGE_LIMITS.groups);
  }

  async getGroup(groupId: string): Promise<DuoGroup> {
    return (await this.call(`get group ${groupId}`, 'GET', `/admin/v2/groups/${enc(groupId)}`, {}, DuoGroupSchema)).data;
  }

  async createGroup(input: DuoGroupCreate): Promise<DuoGroup> {
    const params: Params = { name: input.name };
    if (input.desc !== undefined) params['desc'] = input.desc;
    if (input.status !== undefined) params['status'] = input.status;
    return (await this.call(`create group "${input.name}"`, 'POST', '/admin/v1/groups', params, DuoGroupSchema)).data;
  }

  /** Renames or re-describes a group; `desc: null` clears the description. */
  async modifyGroup(groupId: string, changes: DuoGroupChanges): Promise<DuoGroup> {
    const params: Params = {};
    if (changes.name !== undefined) params['name'] = changes.name;
    if (changes.desc !== undefined) params['desc'] = changes.desc ?? '';
    if (changes.status !== undefined) params['status'] = changes.status;
    return (await this.call(`modify group ${groupId}`, 'POST', `/admin/v1/groups/${enc(groupId)}`, params, DuoGroupSchema)).data;
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.call(`delete group ${groupId}`, 'DELETE', `/admin/v1/groups/${enc(groupId)}`, {}, DuoEmptyResponseSchema);
  }

  listGroupMembers(groupId: string, page: PageRequest = {}): Promise<DuoPage<DuoUserSummary>> {
    return this.page(`list members of group ${groupId}`, `/admin/v2/groups/${enc(groupId)}/users`, {}, DuoUserSummarySchema, page, DUO_PAGE_LIMITS.groupMembers);
  }

  iterateGroupMembers(groupId: string, pageSize: number = DUO_PAGE_LIMITS.groupMembers): AsyncGenerator<DuoPage<DuoUserSummary>> {
    return this.pages(`list members of group ${groupId}`, `/admin/v2/groups/${enc(groupId)}/users`, {}, DuoUserSummarySchema, pageSize, DUO_PAGE_LIMITS.groupMembers);
  }

  /* ---------------- administrators (need "Grant administrators") ---------------- */

  listAdmins(page: PageRequest = {}): Promise<DuoPage<DuoAdmin>> {
    return this.page('list administrators', '/admin/v1/admins', {}, DuoAdminSchema, page, DUO_PAGE_LIMITS.admins);
  }

  iterateAdmins(pageSize: number = DUO_PAGE_LIMITS.admins): AsyncGenerator<DuoPage<DuoAdmin>> {
    return this.pages('list administrators', '/admin/v1/admins', {}, DuoAdminSchema, pageSize, DUO_PAGE_LIMITS.admins);
  }

  /** Duo has no e-mail filter for administrators; accounts have few, so this pages through them. */
  async findAdminByEmail(email: string): Promise<DuoAdmin | undefined> {
    const wanted = email.toLowerCase();
    for await (const page of this.iterateAdmins()) {
      const hit = page.items.find((a) => a.email.toLowerCase() === wanted);
      if (hit) return hit;
    }
    return undefined;
  }

  async getAdmin(adminId: string): Promise<DuoAdmin> {
    return (await this.call(`get administrator ${adminId}`, 'GET', `/admin/v1/admins/${enc(adminId)}`, {}, DuoAdminSchema)).data;
  }

  async createAdmin(input: DuoAdminCreate): Promise<DuoAdmin> {
    const params: Params = { email: input.email, name: input.name };
    if (input.phone) params['phone'] = input.phone;
    if (input.role !== undefined) params['role'] = input.role;
    if (input.sendEmail !== undefined) params['send_email'] = input.sendEmail ? '1' : '0';
    return (await this.call(`create administrator "${input.email}"`, 'POST', '/admin/v1/admins', params, DuoAdminSchema)).data;
  }

  async modifyAdmin(adminId: string, changes: DuoAdminChanges): Promise<DuoAdmin> {
    const params: Params = {};
    if (changes.name !== undefined) params['name'] = changes.name;
    if (changes.phone !== undefined) params['phone'] = changes.phone ?? '';
    if (changes.role !== undefined) params['role'] = changes.role;
    if (changes.status !== undefined) params['status'] = changes.status;
    return (await this.call(`modify administrator ${adminId}`, 'POST', `/admin/v1/admins/${enc(adminId)}`, params, DuoAdminSchema)).data;
  }

  async deleteAdmin(adminId: string): Promise<void> {
    await this.call(`delete administrator ${adminId}`, 'DELETE', `/admin/v1/admins/${enc(adminId)}`, {}, DuoEmptyResponseSchema);
  }

  /* ---------------- connection checks ---------------- */

  /** Account summary; needs "Grant read information", which provisioning keys often lack. */
  async getInfoSummary(): Promise<DuoInfoSummary> {
    return (await this.call('read account summary', 'GET', '/admin/v1/info/summary', {}, DuoInfoSummarySchema)).data;
  }

  /**
   * The cheapest call that proves reachability, credentials and "Grant read resource":
   * one user, one request.
   */
  async ping(): Promise<{ userCount: number | undefined }> {
    const page = await this.listUsers({ limit: 1, offset: 0 });
    return { userCount: page.totalObjects };
  }

  /**
   * Whether the key may write, without changing anything: modifies a user id that cannot exist.
   * Duo checks permissions before looking the object up, so 403 means "no write grant" and
   * 404 (or any other answer) means the grant is there.
   */
  async checkWritePermission(): Promise<DuoCheck> {
    try {
      await this.call('check write permission', 'POST', `/admin/v1/users/${WRITE_PROBE_USER_ID}`, {}, z.unknown());
      return { ok: true };
    } catch (err) {
      if (!(err instanceof DuoError)) throw err;
      if (err.kind === 'notFound' || err.kind === 'invalidRequest') return { ok: true };
      return { ok: false, message: err.message, errorKind: err.kind };
    }
  }

  /** Test connection: reachability, credentials, read, write, optionally admins (README, connection test). */
  async testConnection(options: { administrators?: boolean } = {}): Promise<DuoConnectionReport> {
    const skipped: DuoCheck = { ok: false, message: 'not checked because an earlier check failed' };
    const report: DuoConnectionReport = { ok: false, reachable: skipped, credentials: skipped, read: skipped, write: skipped };
    try {
      const { userCount } = await this.ping();
      report.reachable = { ok: true };
      report.credentials = { ok: true };
      report.read = { ok: true };
      if (userCount !== undefined) report.userCount = userCount;
    } catch (err) {
      if (!(err instanceof DuoError)) throw err;
      const failed: DuoCheck = { ok: false, message: err.message, errorKind: err.kind };
      if (err.kind === 'unavailable' || err.kind === 'timeout' || err.kind === 'invalidResponse') {
        report.reachable = failed;
      } else if (err.kind === 'authentication') {
        report.reachable = { ok: true };
        report.credentials = failed;
      } else {
        report.reachable = { ok: true };
        report.credentials = { ok: true };
        report.read = failed;
      }
      return report;
    }
    report.write = await this.checkWritePermission();
    if (options.administrators) {
      try {
        await this.listAdmins({ limit: 1 });
        report.administrators = { ok: true };
      } catch (err) {
        if (!(err instanceof DuoError)) throw err;
        report.administrators = { ok: false, message: err.message, errorKind: err.kind };
      }
    }
    report.ok = report.write.ok && (report.administrators?.ok ?? true);
    return report;
  }

  /* ---------------- transport ---------------- */

  private async page<T>(op: string, path: string, params: Params, item: z.ZodType<T>, page: PageRequest, max: number): Promise<DuoPage<T>> {
    const limit = Math.min(Math.max(1, Math.floor(page.limit ?? 100)), max);
    const offset = Math.max(0, Math.floor(page.offset ?? 0));
    const { data, metadata } = await this.call(op, 'GET', path, { ...params, limit: String(limit), offset: String(offset) }, z.array(item));
    const next = metadata?.next_offset ?? undefined;
    return { items: data, offset, nextOffset: next === undefined || next === null ? undefined : next, totalObjects: metadata?.total_objects ?? undefined };
  }

  private async *pages<T>(op: string, path: string, params: Params, item: z.ZodType<T>, pageSize: number, max: number): AsyncGenerator<DuoPage<T>> {
    let offset: number | undefined = 0;
    while (offset !== undefined) {
      const page: DuoPage<T> = await this.page(op, path, params, item, { limit: Math.min(pageSize, max), offset }, max);
      yield page;
      if (page.nextOffset !== undefined && page.nextOffset <= offset) {
        throw new DuoError({ kind: 'invalidResponse', operation: op, method: 'GET', path, duoMessage: `paging did not advance (next_offset ${page.nextOffset} after offset ${offset})` });
      }
      offset = page.nextOffset;
    }
  }

  private async call<T>(op: string, method: Method, path: string, params: Params, schema: z.ZodType<T>): Promise<{ data: T; metadata: Metadata | undefined }> {
    const category = classifyDuoRequest(method, path, Object.keys(params));
    const observer = this.observer;
    const seconds = (since: number) => (performance.now() - since) / 1000;
    // Before signing: the signed Date must be fresh when the request leaves.
    let waitStart = performance.now();
    const whileWaiting = this.whileWaiting;
    const alive = whileWaiting && (this.pacer || this.pacing) ? setInterval(whileWaiting.tick, whileWaiting.everyMs) : undefined;
    let ticket: PacedTicket | undefined;
    try {
      await this.pacer?.take();
      if (observer && this.pacer) observer.pacingWaited({ pacer: 'cap', category, seconds: seconds(waitStart) });
      waitStart = performance.now();
      ticket = await this.pacing?.take(category);
      if (observer && ticket) observer.pacingWaited({ pacer: 'adaptive', category, seconds: seconds(waitStart) });
    } finally {
      clearInterval(alive);
    }
    const sentAt = performance.now();
    try {
      const result = await this.send(op, method, path, params, schema);
      if (ticket) this.pacing?.record(ticket, 'ok');
      observer?.requestFinished({ category, method, path, status: 200, seconds: seconds(sentAt) });
      return result;
    } catch (err) {
      if (ticket) this.pacing?.record(ticket, isRateLimited(err) ? 'rateLimited' : 'other');
      if (observer) observer.requestFinished({ category, method, path, status: err instanceof DuoError ? (err.httpStatus ?? err.kind) : 'unavailable', seconds: seconds(sentAt) });
      throw err;
    }
  }

  private async send<T>(op: string, method: Method, path: string, params: Params, schema: z.ZodType<T>): Promise<{ data: T; metadata: Metadata | undefined }> {
    const date = duoDate(this.now());
    const headers: Record<string, string> = { Date: date };
    let url = path;
    let body: string | undefined;
    let authorization: string;
    try {
      if (method === 'POST' && this.version === 5) {
        body = JSON.stringify(params);
        headers['Content-Type'] = 'application/json';
        authorization = authorizationHeader(this.ikey, 5, { date, method, host: this.endpoint.signedHost, path, params: {}, body }, this.skey);
      } else {
        const canonical = canonicalizeParams(params);
        if (method === 'POST') {
          body = canonical;
          headers['Content-Type'] = 'application/x-www-form-urlencoded';
        } else if (canonical) {
          url = `${path}?${canonical}`;
        }
        const req = { date, method, host: this.endpoint.signedHost, path, params, body: '' };
        authorization = authorizationHeader(this.ikey, this.version, req, this.skey);
      }
    } catch (err) {
      if (err instanceof SigningInputError) throw new DuoError({ kind: 'invalidRequest', operation: op, method, path, duoMessage: err.message, cause: err });
      throw err;
    }
    headers['Authorization'] = authorization;

    let res: AxiosResponse<unknown>;
    try {
      res = await this.http.request({ method, url, headers, data: body });
    } catch (err) {
      throw transportError(err, op, method, this.endpoint.signedHost, path);
    }
    return interpret(res, op, method, path, schema);
  }
}

export class DuoClientInputError extends Error {
  override readonly name = 'DuoClientInputError';
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function isRateLimited(err: unknown): boolean {
  return err instanceof DuoError && err.kind === 'rateLimited';
}

/** The wire form of one bulk operation: the single call's method, path and parameters. */
function bulkOperationWire(op: DuoBulkOperation): { method: 'POST' | 'DELETE'; path: string; body: Params } {
  switch (op.kind) {
    case 'createUser':
      return { method: 'POST', path: '/admin/v1/users', body: { username: op.user.username, ...userFieldParams(op.user, false) } };
    case 'modifyUser': {
      const body = userFieldParams(op.changes, true);
      if (op.changes.username !== undefined) body['username'] = op.changes.username;
      return { method: 'POST', path: `/admin/v1/users/${enc(op.userId)}`, body };
    }
    case 'deleteUser':
      return { method: 'DELETE', path: `/admin/v1/users/${enc(op.userId)}`, body: {} };
    case 'addUserToGroup':
      return { method: 'POST', path: `/admin/v1/users/${enc(op.userId)}/groups`, body: { group_id: op.groupId } };
    case 'removeUserFromGroup':
      return { method: 'DELETE', path: `/admin/v1/users/${enc(op.userId)}/groups/${enc(op.groupId)}`, body: {} };
  }
}

function bulkOperationLabel(op: DuoBulkOperation): string {
  switch (op.kind) {
    case 'createUser':
      return `create user "${op.user.username}"`;
    case 'modifyUser':
      return `modify user ${op.userId}`;
    case 'deleteUser':
      return `delete user ${op.userId}`;
    case 'addUserToGroup':
      return `add user ${op.userId} to group ${op.groupId}`;
    case 'removeUserFromGroup':
      return `remove user ${op.userId} from group ${op.groupId}`;
  }
}

/** A 400 about the list parameter as a whole (`users`, `users: at most 100 …`), not about one item (`users[3]: …`). */
function namesList(detail: string | undefined, listParam: string): boolean {
  return detail !== undefined && (detail === listParam || detail.startsWith(`${listParam}:`) || detail.startsWith(`${listParam} `));
}

function describeItem(item: unknown): string {
  if (typeof item === 'string') return `user ${item}`;
  if (item && typeof item === 'object') {
    if ('username' in item && typeof item.username === 'string') return `user "${item.username}"`;
    if ('kind' in item) return bulkOperationLabel(item as DuoBulkOperation);
  }
  return 'item';
}

function notSent<I, T>(stop: DuoError, spec: BulkSpec<I, T>, item: I): DuoItemResult<T> {
  return { ok: false, error: rebuild(stop, { operation: `${spec.label}: not sent after an earlier batch failed (${describeItem(item)})` }) };
}

/** One item of a bulk answer as a result: its envelope checked like a single call's reply. */
function itemResult<T>(env: DuoBulkItem, op: string, method: Method, path: string, schema: z.ZodType<T>): DuoItemResult<T> {
  if (env.stat === 'OK') {
    const parsed = schema.safeParse(env.response);
    if (parsed.success) return { ok: true, value: parsed.data };
    const where = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'response'}: ${i.message}`).join('; ');
    return { ok: false, error: new DuoError({ kind: 'invalidResponse', operation: op, method, path, httpStatus: 200, duoMessage: `unexpected bulk item shape (${where})` }) };
  }
  // Duo's HTTP status is the first three digits of its code; an item carries only the code.
  const status = env.code !== undefined && env.code >= 10000 ? Math.floor(env.code / 100) : 400;
  const details: DuoErrorDetails = {
    kind: classify(status, env.code, method, path),
    operation: op,
    method,
    path,
    httpStatus: status,
    ...(env.code === undefined ? {} : { code: env.code }),
    duoMessage: env.message || 'failed',
    ...(env.message_detail ? { messageDetail: env.message_detail } : {}),
  };
  if (details.kind === 'permission') details.missingPermission = requiredPermission(method, path);
  return { ok: false, error: new DuoError(details) };
}

const USER_FIELDS = ['realname', 'firstname', 'lastname', 'email', 'notes', 'status', 'alias1', 'alias2', 'alias3', 'alias4'] as const;

/** Only defined fields are sent; null becomes "" which Duo treats as "clear this field". */
function userFieldParams(fields: DuoUserFields, allowClear: boolean): Params {
  const params: Params = {};
  for (const key of USER_FIELDS) {
    const value = fields[key];
    if (value === undefined) continue;
    if (value === null) {
      if (allowClear) params[key] = '';
      continue;
    }
    params[key] = value;
  }
  return params;
}

function rebuild(err: DuoError, changes: Partial<DuoErrorDetails>): DuoError {
  return new DuoError({
    kind: err.kind,
    operation: err.operation,
    method: err.method,
    path: err.path,
    ...(err.httpStatus === undefined ? {} : { httpStatus: err.httpStatus }),
    ...(err.code === undefined ? {} : { code: err.code }),
    ...(err.duoMessage === undefined ? {} : { duoMessage: err.duoMessage }),
    ...(err.messageDetail === undefined ? {} : { messageDetail: err.messageDetail }),
    ...changes,
    cause: err,
  });
}

function requiredPermission(method: Method, path: string): DuoPermission {
  if (path.startsWith('/admin/v1/admins')) return 'Grant administrators';
  if (path.startsWith('/admin/v1/info')) return 'Grant read information';
  return method === 'GET' ? 'Grant read resource' : 'Grant write resource';
}

const ASSOCIATION_PATH = /^\/admin\/v1\/users\/[^/]+\/(groups|phones)$/;

function transportError(err: unknown, op: string, method: Method, host: string, path: string): DuoError {
  const axiosErr = err instanceof AxiosError ? err : undefined;
  const rawCode: unknown = axiosErr?.code ?? (err instanceof Error ? (err as { code?: unknown }).code : undefined);
  const code = typeof rawCode === 'string' ? rawCode : undefined;
  const message = err instanceof Error ? err.message : String(err);
  // Only these facts survive: the library's error holds the request config and socket, i.e. the signed headers.
  const cause = new DuoTransportError({ message, code, method, host, path, status: axiosErr?.response?.status });
  if (code === AxiosError.ECONNABORTED || code === AxiosError.ETIMEDOUT || code === 'ETIMEDOUT') {
    return new DuoError({ kind: 'timeout', operation: op, method, path, cause });
  }
  const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/i.test(code ?? '') || /certificate/i.test(message);
  return new DuoError({ kind: 'unavailable', operation: op, method, path, cause, ...(tls ? { retryable: false } : {}) });
}

function interpret<T>(res: AxiosResponse<unknown>, op: string, method: Method, path: string, schema: z.ZodType<T>): { data: T; metadata: Metadata | undefined } {
  const status = res.status;
  let json: unknown;
  try {
    json = typeof res.data === 'string' ? JSON.parse(res.data) : res.data;
  } catch {
    // Load balancers answer outages with HTML pages; those heal, other garbage does not.
    const kind: DuoErrorKind = status === 429 ? 'rateLimited' : status >= 500 ? 'unavailable' : 'invalidResponse';
    throw new DuoError({ kind, operation: op, method, path, httpStatus: status, duoMessage: `reply is not JSON (${String(res.headers['content-type'] ?? 'no content type')})` });
  }
  const envelope = DuoEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    const kind: DuoErrorKind = status === 429 ? 'rateLimited' : status >= 500 ? 'unavailable' : 'invalidResponse';
    throw new DuoError({ kind, operation: op, method, path, httpStatus: status, duoMessage: 'reply is not a Duo envelope' });
  }
  const env = envelope.data;
  if (env.stat === 'OK' && status === 200) {
    const parsed = schema.safeParse(env.response);
    if (!parsed.success) {
      const where = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'response'}: ${i.message}`).join('; ');
      throw new DuoError({ kind: 'invalidResponse', operation: op, method, path, httpStatus: status, duoMessage: `unexpected response shape (${where})` });
    }
    const md = env.metadata;
    return { data: parsed.data, metadata: md ? { total_objects: md.total_objects ?? null, next_offset: md.next_offset ?? null } : undefined };
  }
  const fail = env.stat === 'FAIL' ? env : undefined;
  const details: DuoErrorDetails = {
    kind: classify(status, fail?.code, method, path),
    operation: op,
    method,
    path,
    httpStatus: status,
    ...(fail?.code === undefined ? {} : { code: fail.code }),
    duoMessage: fail?.message || `stat ${env.stat} with HTTP ${status}`,
    ...(fail?.message_detail ? { messageDetail: fail.message_detail } : {}),
  };
  if (details.kind === 'permission') details.missingPermission = requiredPermission(method, path);
  throw new DuoError(details);
}

function classify(status: number, code: number | undefined, method: Method, path: string): DuoErrorKind {
  if (status === 429) return 'rateLimited';
  if (status === 401) return 'authentication';
  if (status === 403) return 'permission';
  if (status === 404) return 'notFound';
  if (status === 409 || code === 40003) return 'conflict';
  if (status === 500 && code === 50001 && method === 'POST' && ASSOCIATION_PATH.test(path)) return 'limitExceeded';
  if (status >= 500) return 'unavailable';
  if (status >= 400) return 'invalidRequest';
  return 'invalidResponse';
}
