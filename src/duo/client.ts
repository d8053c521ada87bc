/**
 * The one Duo Admin API client of duo-sync (used only by activities): signs every request, parses
 * every reply with zod, and turns every failure into a DuoError of the small taxonomy in errors.ts.
 * It never retries (Temporal activity retry policies do) and never logs secrets.
 */
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosError, type AxiosInstance, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { DuoError, DuoTransportError, type DuoErrorDetails, type DuoErrorKind, type DuoPermission } from './errors';
import { duoSyncVersion, resolveDuoEndpoint, type DuoEndpoint } from './endpoint';
import type { RequestPacer } from './pacer';
import {
  DuoAdminSchema,
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
  /** Paces every request (retries included) through this bucket; shared by one account's clients. */
  pacer?: RequestPacer;
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

  constructor(options: DuoClientOptions) {
    this.endpoint = resolveDuoEndpoint(options.apiHost);
    if (!options.integrationKey.trim()) throw new DuoClientInputError('Duo integration key is empty; set it in the connection settings');
    if (!options.secretKey) throw new DuoClientInputError('Duo secret key is empty; check the secret reference of the connection');
    this.ikey = options.integrationKey.trim();
    this.skey = options.secretKey;
    this.version = options.signatureVersion ?? 5;
    this.now = options.now ?? (() => new Date());
    this.pacer = options.pacer;
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
    const unique = [...new Set(usernames)];
    const found: DuoUser[] = [];
    for (let i = 0; i < unique.length; i += DUO_LIST_PARAM_MAX) {
      const batch = unique.slice(i, i + DUO_LIST_PARAM_MAX);
      const { data } = await this.call(`look up ${batch.length} users by username`, 'GET', '/admin/v1/users', { username_list: JSON.stringify(batch) }, z.array(DuoUserSchema));
      found.push(...data);
    }
    return found;
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

  /** Test connection (DESIGN §1): reachability, credentials, read, write, optionally admins. */
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
    // Before signing: the signed Date must be fresh when the request leaves.
    await this.pacer?.take();
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
