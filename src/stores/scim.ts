/**
 * SCIM 2.0 identity store (RFC 7643 resources, RFC 7644 protocol): /Users and /Groups with
 * startIndex/count paging and filters, PATCH for updates. Auth is a bearer token or OAuth 2.0
 * client credentials (token fetched and refreshed before expiry, at most one refresh in flight).
 * Every response is checked with zod before use; every filter value is a JSON string literal.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosError, type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { z } from 'zod';
import { describeSecretRef } from '../config/secrets';
import type { ScimStoreConfig } from '../domain/store-config';
import { assertLookupBatch, decodeCursor, encodeCursor, pageSizeOf, queryFingerprint } from './cursor';
import { HttpRequestFailure, StoreError, causeText, isNetworkError } from './errors';
import { ALL_USERS, parseScope, quoteScimValue, toScimFilter, FilterTranslationError, type Filter, type Scope } from './filter';
import type { SecretResolver } from './ldap';
import {
  NewUserSchema,
  UserPatchSchema,
  type IdentityStore,
  type NewUser,
  type Page,
  type PageRequest,
  type StoreCapabilities,
  type StoreGroup,
  type StoreUser,
  type UserPatch,
} from './types';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCIM_JSON = 'application/scim+json';
/** Refresh OAuth tokens this long before they expire, so no request races the expiry. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

const MultiValue = z.object({ value: z.string().optional(), primary: z.boolean().optional(), type: z.string().optional(), display: z.string().optional() }).loose();

const ScimUserSchema = z
  .object({
    id: z.string().min(1),
    userName: z.string().min(1),
    externalId: z.string().optional(),
    name: z.object({ givenName: z.string().optional(), familyName: z.string().optional(), formatted: z.string().optional() }).loose().optional(),
    displayName: z.string().optional(),
    active: z.boolean().optional(),
    emails: z.array(MultiValue).optional(),
    phoneNumbers: z.array(MultiValue).optional(),
    groups: z.array(MultiValue).optional(),
  })
  .loose();
type ScimUser = z.infer<typeof ScimUserSchema>;

const ScimGroupSchema = z.object({ id: z.string().min(1), displayName: z.string().min(1), description: z.string().optional() }).loose();

/** A group with its members (RFC 7643 §4.2): each a User or a Group by `type`, which servers may leave out. */
const ScimGroupMembersSchema = z
  .object({
    id: z.string().min(1),
    members: z.array(z.object({ value: z.string().min(1), type: z.string().optional() }).loose()).optional(),
  })
  .loose();

function listResponse<T extends z.ZodType>(item: T) {
  return z
    .object({
      totalResults: z.number().int().min(0),
      startIndex: z.number().int().optional(),
      itemsPerPage: z.number().int().optional(),
      Resources: z.array(item).optional(),
    })
    .loose();
}
const UserList = listResponse(ScimUserSchema);
const GroupList = listResponse(ScimGroupSchema);
const GroupMembersList = listResponse(ScimGroupMembersSchema);

const TokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
});

const ScimErrorSchema = z.object({ detail: z.string().optional(), scimType: z.string().optional(), status: z.union([z.string(), z.number()]).optional() }).loose();

export class ScimStore implements IdentityStore {
  readonly kind = 'scim' as const;
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  private readonly http: AxiosInstance;
  private readonly host: string;
  private token: { value: string; refreshAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;
  private agent: Promise<HttpsAgent | undefined> | undefined;

  constructor(
    private readonly config: ScimStoreConfig,
    private readonly resolveSecret: SecretResolver,
  ) {
    const url = new URL(config.baseUrl);
    this.host = url.host;
    this.location = `SCIM ${url.origin}${url.pathname.replace(/\/$/, '')}`;
    this.capabilities = { write: !config.readOnly, disable: !config.readOnly };
    this.http = axios.create({
      baseURL: config.baseUrl.replace(/\/$/, ''),
      timeout: config.timeoutMs,
      // Every status is handled below; axios must not throw on 4xx.
      validateStatus: () => true,
      maxRedirects: 0,
      headers: { Accept: `${SCIM_JSON}, application/json` },
    });
  }

  assertWritable(): void {
    if (!this.capabilities.write) {
      throw new StoreError('read_only', `${this.location} is configured readOnly; set readOnly: false (and give the client write permission) to use it for inbound rules`);
    }
  }

  async check(): Promise<void> {
    await this.get('/Users', { startIndex: 1, count: 1 }, UserList, 'read users');
  }

  // ---- reads ---------------------------------------------------------------------------------

  async listUsers(requested: Scope, page?: PageRequest): Promise<Page<StoreUser>> {
    const scope = parseScope(requested);
    const size = pageSizeOf(page);
    const q = queryFingerprint(['users', scope]);
    const pos = decodeCursor('scim', q, page?.cursor);
    const startIndex = pos === null ? 1 : Number(pos.i);
    const ast = await this.scopeFilter(scope);
    const filter = ast ? this.render(ast) : undefined;
    const res = await this.listPage('/Users', UserList, { startIndex, count: size, ...(filter ? { filter } : {}) }, 'list users');
    return { items: res.items.map((u) => toStoreUser(u)), nextCursor: res.next === null ? null : encodeCursor('scim', q, { i: res.next }) };
  }

  async listGroups(page?: PageRequest): Promise<Page<StoreGroup>> {
    const size = pageSizeOf(page);
    const q = queryFingerprint(['groups']);
    const pos = decodeCursor('scim', q, page?.cursor);
    const startIndex = pos === null ? 1 : Number(pos.i);
    // Member lists can be huge; they are not part of a group record here.
    const res = await this.listPage('/Groups', GroupList, { startIndex, count: size, excludedAttributes: 'members' }, 'list groups');
    const parents = await this.parentGroups(res.items.map((g) => g.id));
    const items = res.items.map((g) => {
      const groupIds = parents.get(g.id);
      return { externalId: g.id, name: g.displayName, ...(g.description !== undefined ? { description: g.description } : {}), ...(groupIds ? { groupIds } : {}) };
    });
    return { items, nextCursor: res.next === null ? null : encodeCursor('scim', q, { i: res.next }) };
  }

  /**
   * Nested groups: for each of `ids`, the groups whose `members` include it as a Group (RFC 7643
   * §4.2). Asked for by filter, so only groups that contain one of them come back with members;
   * a member without `type` counts when its value is one of these group ids (servers may omit it).
   */
  private async parentGroups(ids: readonly string[]): Promise<Map<string, string[]>> {
    const parents = new Map<string, string[]>();
    const batch = this.config.lookupBatchSize;
    for (let i = 0; i < ids.length; i += batch) {
      const chunk = new Set(ids.slice(i, i + batch));
      const filter = this.render({ or: [...chunk].map((id) => ({ attr: 'members.value', op: 'eq' as const, value: id })) });
      const found = await this.listAll('/Groups', GroupMembersList, { filter, attributes: 'id,members' }, chunk.size, `find the groups that contain ${chunk.size} groups`);
      for (const parent of found) {
        for (const m of parent.members ?? []) {
          if (!chunk.has(m.value) || (m.type !== undefined && m.type.toLowerCase() !== 'group')) continue;
          const list = parents.get(m.value) ?? [];
          if (!list.includes(parent.id)) list.push(parent.id);
          parents.set(m.value, list);
        }
      }
    }
    return parents;
  }

  async listGroupMembers(groupExternalId: string, page?: PageRequest): Promise<Page<StoreUser>> {
    return this.listUsers({ kind: 'groups', groups: [groupExternalId] }, page);
  }

  async lookupUsers(usernames: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    const scope = parseScope(requested);
    assertLookupBatch(usernames);
    const scopePart = await this.scopeFilter(scope);
    const out: StoreUser[] = [];
    if (usernames.length === 0) return out;
    const seen = new Set<string>();
    const batch = this.config.lookupBatchSize;
    for (let i = 0; i < usernames.length; i += batch) {
      const chunk = usernames.slice(i, i + batch);
      const names: Filter = { or: chunk.map((u) => ({ attr: 'userName', op: 'eq' as const, value: u })) };
      const filter = this.render(scopePart ? { and: [names, scopePart] } : names);
      // A server may cap count below the batch (RFC 7644 §3.4.2.4): read every page of the answer.
      for (const u of await this.listAll('/Users', UserList, { filter }, chunk.length, `look up ${chunk.length} users`)) {
        if (seen.has(u.id)) continue;
        seen.add(u.id);
        out.push(toStoreUser(u));
      }
    }
    return out;
  }

  async lookupUsersByExternalId(externalIds: readonly string[], requested: Scope = ALL_USERS): Promise<StoreUser[]> {
    const scope = parseScope(requested);
    assertLookupBatch(externalIds);
    const scopePart = await this.scopeFilter(scope);
    const out: StoreUser[] = [];
    const seen = new Set<string>();
    const batch = this.config.lookupBatchSize;
    for (let i = 0; i < externalIds.length; i += batch) {
      const chunk = externalIds.slice(i, i + batch);
      const ids: Filter = { or: chunk.map((id) => ({ attr: 'id', op: 'eq' as const, value: id })) };
      const filter = this.render(scopePart ? { and: [ids, scopePart] } : ids);
      for (const u of await this.listAll('/Users', UserList, { filter }, chunk.length, `look up ${chunk.length} users by id`)) {
        if (seen.has(u.id) || !chunk.includes(u.id)) continue;
        seen.add(u.id);
        out.push(toStoreUser(u));
      }
    }
    return out;
  }

  async getUser(username: string): Promise<StoreUser | null> {
    const u = await this.findScimUser(username);
    return u ? toStoreUser(u) : null;
  }

  // ---- writes --------------------------------------------------------------------------------

  async createUser(input: NewUser): Promise<StoreUser> {
    this.assertWritable();
    const user = NewUserSchema.parse(input);
    const body: Record<string, unknown> = {
      schemas: [USER_SCHEMA],
      userName: user.username,
      active: user.enabled ?? true,
      ...(user.attributes ?? {}),
    };
    if (user.givenName !== undefined || user.familyName !== undefined) {
      body.name = { ...(user.givenName !== undefined ? { givenName: user.givenName } : {}), ...(user.familyName !== undefined ? { familyName: user.familyName } : {}) };
    }
    if (user.displayName !== undefined) body.displayName = user.displayName;
    if (user.email !== undefined) body.emails = [{ value: user.email, type: 'work', primary: true }];
    if (user.phones && user.phones.length > 0) body.phoneNumbers = phoneValues(user.phones);
    const created = await this.send({ method: 'POST', url: '/Users', data: body }, ScimUserSchema, `create user ${user.username}`);
    return toStoreUser(created);
  }

  async updateUser(username: string, patch: UserPatch): Promise<StoreUser> {
    this.assertWritable();
    const p = UserPatchSchema.parse(patch);
    const current = await this.findScimUser(username);
    if (!current) throw new StoreError('not_found', `user ${username} not found in ${this.location}`);
    const ops: { op: 'replace' | 'remove'; path: string; value?: unknown }[] = [];
    const field = (path: string, v: unknown, present: boolean): void => {
      if (v === undefined) return;
      if (v === null) {
        // Removing an absent attribute is an error on some servers; clearing it is already done.
        if (present) ops.push({ op: 'remove', path });
      } else ops.push({ op: 'replace', path, value: v });
    };
    field('emails', p.email === undefined ? undefined : p.email === null ? null : [{ value: p.email, type: 'work', primary: true }], (current.emails?.length ?? 0) > 0);
    field('phoneNumbers', p.phones === undefined ? undefined : p.phones === null || p.phones.length === 0 ? null : phoneValues(p.phones), (current.phoneNumbers?.length ?? 0) > 0);
    field('name.givenName', p.givenName, current.name?.givenName !== undefined);
    field('name.familyName', p.familyName, current.name?.familyName !== undefined);
    field('displayName', p.displayName, current.displayName !== undefined);
    if (p.enabled !== undefined) ops.push({ op: 'replace', path: 'active', value: p.enabled });
    for (const [k, v] of Object.entries(p.attributes ?? {})) field(k, v, k in current);
    if (ops.length === 0) return toStoreUser(current);
    const res = await this.request({ method: 'PATCH', url: `/Users/${encodeURIComponent(current.id)}`, data: { schemas: [PATCH_SCHEMA], Operations: ops } }, `update user ${username}`);
    // 204 No Content is a valid PATCH answer: read the result back.
    if (res.status === 204 || res.data === '' || res.data === undefined) return this.mustGet(username);
    return toStoreUser(this.parse(ScimUserSchema, res.data, `update user ${username}`));
  }

  async disableUser(username: string): Promise<StoreUser> {
    return this.updateUser(username, { enabled: false });
  }

  async deleteUser(username: string): Promise<boolean> {
    this.assertWritable();
    const current = await this.findScimUser(username);
    if (!current) return false;
    try {
      await this.request({ method: 'DELETE', url: `/Users/${encodeURIComponent(current.id)}` }, `delete user ${username}`);
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'not_found') return false;
      throw err;
    }
    return true;
  }

  async close(): Promise<void> {
    this.token = undefined;
    const agent = await this.agent?.catch(() => undefined);
    agent?.destroy();
  }

  // ---- helpers -------------------------------------------------------------------------------

  private render(filter: Filter): string {
    try {
      return toScimFilter(filter, scimAttr);
    } catch (err) {
      if (err instanceof FilterTranslationError) throw new StoreError('invalid_request', `invalid scope filter for ${this.location}: ${err.message}`);
      throw err;
    }
  }

  /** The scope as a filter tree (null: everyone); group names are resolved to SCIM group ids here. */
  private async scopeFilter(scope: Scope): Promise<Filter | null> {
    switch (scope.kind) {
      case 'all':
        return null;
      case 'filter':
        return scope.filter;
      case 'groups': {
        const ids: string[] = [];
        for (const ref of scope.groups) {
          const filter = `displayName eq ${quoteScimValue(ref)} or id eq ${quoteScimValue(ref)}`;
          const found = await this.listAll('/Groups', GroupList, { filter, excludedAttributes: 'members' }, 10, `find scope group ${ref}`);
          if (found.length === 0) throw new StoreError('not_found', `scope group "${ref}" not found at ${this.location}; fix the rule's scope or add the group`);
          ids.push(...found.map((g) => g.id));
        }
        return { or: ids.map((id) => ({ attr: 'groups.value', op: 'eq' as const, value: id })) };
      }
    }
  }

  private async findScimUser(username: string): Promise<ScimUser | undefined> {
    const res = await this.listPage('/Users', UserList, { filter: `userName eq ${quoteScimValue(username)}`, startIndex: 1, count: 2 }, `look up user ${username}`);
    if (res.total > 1) throw new StoreError('conflict', `username ${username} matches ${res.total} users at ${this.location}`);
    return res.items[0];
  }

  /**
   * One page of a list, checked against what the server says about it: it starts where it was
   * asked to, and unless it reaches totalResults it holds at least one resource (servers may
   * return fewer than `count`, RFC 7644 §3.4.2.4, so the next page starts after what came back).
   * Anything else is StoreError('incomplete'): a short answer must never read as fewer users.
   */
  private async listPage<T extends z.ZodType>(
    url: string,
    schema: ReturnType<typeof listResponse<T>>,
    params: Record<string, string | number> & { startIndex: number; count: number },
    what: string,
  ): Promise<{ items: z.output<T>[]; total: number; next: number | null }> {
    const res = await this.get(url, params, schema, what);
    const items = (res.Resources ?? []).slice(0, params.count);
    if (res.startIndex !== undefined && res.startIndex !== params.startIndex) {
      throw this.incomplete(what, `asked for results from index ${params.startIndex}, the server answered with a page starting at ${res.startIndex}`);
    }
    const end = params.startIndex - 1 + items.length;
    if (end >= res.totalResults) return { items, total: res.totalResults, next: null };
    if (items.length === 0) {
      throw this.incomplete(what, `the server reports ${res.totalResults} results but returned none from index ${params.startIndex}`);
    }
    return { items, total: res.totalResults, next: end + 1 };
  }

  /** Every page of one filtered list (lookups, group names); totalResults must hold still while it is read. */
  private async listAll<T extends z.ZodType>(
    url: string,
    schema: ReturnType<typeof listResponse<T>>,
    params: Record<string, string | number>,
    count: number,
    what: string,
  ): Promise<z.output<T>[]> {
    const out: z.output<T>[] = [];
    let startIndex: number | null = 1;
    let total: number | undefined;
    while (startIndex !== null) {
      const page: { items: z.output<T>[]; total: number; next: number | null } = await this.listPage(url, schema, { ...params, startIndex, count }, what);
      if (total !== undefined && page.total !== total) {
        throw this.incomplete(what, `totalResults changed from ${total} to ${page.total} between pages`);
      }
      total = page.total;
      out.push(...page.items);
      startIndex = page.next;
    }
    return out;
  }

  private incomplete(what: string, detail: string): StoreError {
    return new StoreError('incomplete', `cannot ${what} at ${this.location}: incomplete answer (${detail}); the read counts as failed and is retried, it never counts as fewer users`);
  }

  private async mustGet(username: string): Promise<StoreUser> {
    const u = await this.getUser(username);
    if (!u) throw new StoreError('not_found', `user ${username} was written but cannot be read back from ${this.location}`);
    return u;
  }

  private async get<T extends z.ZodType>(url: string, params: Record<string, string | number>, schema: T, what: string): Promise<z.output<T>> {
    return this.send({ method: 'GET', url, params }, schema, what);
  }

  private async send<T extends z.ZodType>(req: AxiosRequestConfig, schema: T, what: string): Promise<z.output<T>> {
    const res = await this.request(req, what);
    return this.parse(schema, res.data, what);
  }

  private parse<T extends z.ZodType>(schema: T, data: unknown, what: string): z.output<T> {
    const r = schema.safeParse(data);
    if (!r.success) {
      const issue = r.error.issues[0];
      throw new StoreError('invalid_request', `cannot ${what} at ${this.location}: unexpected response (${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}); is baseUrl the SCIM 2.0 base?`);
    }
    return r.data;
  }

  /** One HTTP call with auth; an OAuth 401 gets one retry with a fresh token (it may have been revoked). */
  private async request(req: AxiosRequestConfig, what: string, retried = false): Promise<AxiosResponse> {
    const token = await this.bearer(retried);
    const agent = await this.httpsAgent();
    let res: AxiosResponse;
    try {
      res = await this.http.request({
        ...req,
        ...(agent ? { httpsAgent: agent } : {}),
        headers: { Authorization: `Bearer ${token}`, ...(req.data !== undefined ? { 'Content-Type': SCIM_JSON } : {}) },
      });
    } catch (err) {
      throw this.networkError(err, what, req);
    }
    if (res.status >= 200 && res.status < 300) return res;
    if (res.status === 401 && this.config.auth.kind === 'oauth' && !retried) return this.request(req, what, true);
    throw this.httpError(res, what);
  }

  private httpError(res: AxiosResponse, what: string): StoreError {
    const body = ScimErrorSchema.safeParse(res.data);
    const detail = body.success && body.data.detail ? `: ${body.data.detail}` : '';
    const scimType = body.success && body.data.scimType ? ` (${body.data.scimType})` : '';
    const at = `${this.location}`;
    const s = res.status;
    if (s === 401) {
      const where = this.config.auth.kind === 'bearer' ? `the bearer token in ${describeSecretRef(this.config.auth.token)}` : `client ${this.config.auth.clientId}'s secret in ${describeSecretRef(this.config.auth.clientSecret)}`;
      return new StoreError('auth_failed', `cannot ${what} at ${at}: HTTP 401 unauthorized${detail}; check ${where}`);
    }
    if (s === 403) return new StoreError('auth_failed', `cannot ${what} at ${at}: HTTP 403 forbidden${detail}; grant the client permission for this operation`);
    if (s === 404) return new StoreError('not_found', `cannot ${what} at ${at}: HTTP 404${detail}`);
    if (s === 409) return new StoreError('conflict', `cannot ${what} at ${at}: HTTP 409 conflict${scimType}${detail}`);
    if (s === 429 || s >= 500) return new StoreError('unavailable', `cannot ${what} at ${at}: HTTP ${s}${detail}; will retry`);
    return new StoreError('invalid_request', `cannot ${what} at ${at}: HTTP ${s}${scimType}${detail}`);
  }

  private networkError(err: unknown, what: string, req: AxiosRequestConfig): StoreError {
    if (err instanceof StoreError) return err;
    const code = err instanceof AxiosError ? err.code : undefined;
    const cause = err instanceof AxiosError && err.cause ? causeText(err.cause) : causeText(err);
    const failure = requestFailure(err, req.method ?? 'GET', new URL(`${this.config.baseUrl.replace(/\/$/, '')}${req.url ?? ''}`));
    if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code + cause)) {
      return new StoreError('invalid_config', `cannot ${what} at ${this.location}: TLS certificate of ${this.host} not trusted (${cause}); set tls.caFile`, { cause: failure });
    }
    const reason = isNetworkError(err) || code ? cause : causeText(err);
    return new StoreError('unavailable', `cannot ${what} at ${this.location}: cannot reach ${this.host} (${reason}); check that the server is up and reachable`, { cause: failure });
  }

  private async httpsAgent(): Promise<HttpsAgent | undefined> {
    const tls = this.config.tls;
    if (!tls) return undefined;
    this.agent ??= (async () => {
      let ca: string | undefined;
      if (tls.caFile) {
        try {
          ca = await readFile(tls.caFile, 'utf8');
        } catch (err) {
          throw new StoreError('invalid_config', `cannot read the SCIM CA file ${tls.caFile} (${causeText(err)})`);
        }
      }
      return new HttpsAgent({ keepAlive: true, rejectUnauthorized: !tls.insecureSkipVerify, ...(ca ? { ca } : {}) });
    })();
    return this.agent;
  }

  private async bearer(forceRefresh: boolean): Promise<string> {
    const auth = this.config.auth;
    if (auth.kind === 'bearer') {
      return this.resolveSecret(auth.token).catch((err: unknown) => {
        throw new StoreError('invalid_config', `SCIM bearer token for ${this.host} is unavailable: ${causeText(err)}`);
      });
    }
    if (!forceRefresh && this.token && Date.now() < this.token.refreshAt) return this.token.value;
    if (forceRefresh) this.token = undefined;
    // Concurrent callers share one token request.
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const auth = this.config.auth;
    if (auth.kind !== 'oauth') throw new Error('unreachable: fetchToken without oauth');
    const secret = await this.resolveSecret(auth.clientSecret).catch((err: unknown) => {
      throw new StoreError('invalid_config', `OAuth client secret for ${this.host} is unavailable: ${causeText(err)}`);
    });
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (auth.scope) form.set('scope', auth.scope);
    const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
    if (auth.clientAuth === 'basic') {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
      headers.Authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    } else {
      form.set('client_id', auth.clientId);
      form.set('client_secret', secret);
    }
    const tokenHost = new URL(auth.tokenUrl).host;
    let res: AxiosResponse;
    try {
      const agent = await this.httpsAgent();
      res = await axios.post(auth.tokenUrl, form.toString(), { headers, timeout: this.config.timeoutMs, validateStatus: () => true, maxRedirects: 0, ...(agent ? { httpsAgent: agent } : {}) });
    } catch (err) {
      const cause = err instanceof AxiosError && err.cause ? causeText(err.cause) : causeText(err);
      throw new StoreError('unavailable', `cannot get an OAuth token from ${tokenHost} for ${this.location} (${cause}); check that the token endpoint is up`, {
        cause: requestFailure(err, 'POST', new URL(auth.tokenUrl)),
      });
    }
    if (res.status === 400 || res.status === 401) {
      const e = z.object({ error: z.string().optional(), error_description: z.string().optional() }).loose().safeParse(res.data);
      const why = e.success && e.data.error ? `${e.data.error}${e.data.error_description ? `: ${e.data.error_description}` : ''}` : `HTTP ${res.status}`;
      throw new StoreError('auth_failed', `OAuth token request to ${tokenHost} for client ${auth.clientId} was refused (${why}); check the client id and the secret in ${describeSecretRef(auth.clientSecret)}`);
    }
    if (res.status < 200 || res.status >= 300) {
      throw new StoreError(res.status >= 500 || res.status === 429 ? 'unavailable' : 'invalid_config', `OAuth token request to ${tokenHost} failed with HTTP ${res.status}; check tokenUrl`);
    }
    const parsed = TokenResponseSchema.safeParse(res.data);
    if (!parsed.success) throw new StoreError('invalid_config', `OAuth token endpoint ${tokenHost} returned no access_token; check tokenUrl`);
    const lifetimeMs = (parsed.data.expires_in ?? 3600) * 1000;
    // Short-lived tokens: refresh at half-life rather than a fixed margin longer than the lifetime.
    const margin = Math.min(TOKEN_REFRESH_MARGIN_MS, lifetimeMs / 2);
    this.token = { value: parsed.data.access_token, refreshAt: Date.now() + lifetimeMs - margin };
    return parsed.data.access_token;
  }
}

/** A failed request as method, host, path, status and code: the axios error itself holds headers and body. */
function requestFailure(err: unknown, method: string, url: URL): HttpRequestFailure {
  const axiosError = err instanceof AxiosError ? err : undefined;
  const status = axiosError?.response?.status;
  const code = axiosError?.code ?? (err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined);
  const reason = axiosError?.cause ? causeText(axiosError.cause) : causeText(err);
  return new HttpRequestFailure({ method: method.toUpperCase(), host: url.host, path: url.pathname, reason, ...(status !== undefined ? { status } : {}), ...(code ? { code } : {}) });
}

/** Filters may use the normalised names; they map to SCIM core attribute paths. */
function scimAttr(attr: string): string {
  const map: Record<string, string> = {
    username: 'userName', email: 'emails.value', givenName: 'name.givenName', familyName: 'name.familyName',
    externalId: 'id', enabled: 'active', phones: 'phoneNumbers.value', groupIds: 'groups.value',
  };
  return map[attr] ?? attr;
}

function phoneValues(phones: string[]): { value: string; type: string; primary?: boolean }[] {
  return phones.map((value, i) => ({ value, type: i === 0 ? 'work' : 'other', ...(i === 0 ? { primary: true } : {}) }));
}

function primaryValue(list: z.infer<typeof MultiValue>[] | undefined): string | undefined {
  if (!list || list.length === 0) return undefined;
  return (list.find((v) => v.primary) ?? list[0])?.value;
}

function toStoreUser(u: ScimUser): StoreUser {
  const email = primaryValue(u.emails);
  const phones = [...new Set((u.phoneNumbers ?? []).map((p) => p.value).filter((v): v is string => !!v))];
  const givenName = u.name?.givenName;
  const familyName = u.name?.familyName;
  const displayName = u.displayName ?? u.name?.formatted;
  return {
    externalId: u.id,
    username: u.userName,
    ...(email !== undefined ? { email } : {}),
    phones,
    ...(givenName !== undefined ? { givenName } : {}),
    ...(familyName !== undefined ? { familyName } : {}),
    ...(displayName !== undefined ? { displayName } : {}),
    enabled: u.active ?? true,
    // Direct groups only: RFC 7643 §4.1.2 lets a server add groups reached through nested groups,
    // marked "indirect"; whether those count is the rule's `groups.nested`, not the server's.
    groupIds: (u.groups ?? []).filter((g) => g.type?.toLowerCase() !== 'indirect').map((g) => g.value).filter((v): v is string => !!v),
    attributes: flatten(u),
  };
}

/**
 * Raw attributes for mappings: scalars by name (`title`), sub-attributes by path
 * (`name.givenName`), multi-valued attributes as lists of their values (`emails`), extension
 * schemas by URN (`urn:...:enterprise:2.0:User:department`).
 */
function flatten(u: ScimUser): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const put = (key: string, v: unknown): void => {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[key] = String(v);
    else if (Array.isArray(v)) {
      const vals = v
        .map((x: unknown) => (x !== null && typeof x === 'object' && 'value' in x ? (x as { value: unknown }).value : x))
        .filter((x): x is string | number | boolean => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
        .map(String);
      if (vals.length > 0) out[key] = vals;
    }
  };
  for (const [k, v] of Object.entries(u)) {
    if (k === 'schemas' || k === 'meta' || k === 'password') continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const sep = k.startsWith('urn:') ? ':' : '.';
      for (const [sk, sv] of Object.entries(v as Record<string, unknown>)) put(`${k}${sep}${sk}`, sv);
    } else put(k, v);
  }
  return out;
}
