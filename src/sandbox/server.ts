/**
 * The Duo Admin API sandbox: a real node:http server speaking Duo's envelopes, status codes, error
 * codes and paging for the endpoints duo-sync uses, the four bulk endpoints and Trash. It verifies
 * signatures and clock skew, enforces per-key permissions, rate limits (account-wide and per Duo
 * rate category), injects faults, counts requests per endpoint and category, purges Trash on its
 * clock, and persists its data as JSON. Runs in-process (port 0) in tests and standalone via main.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFile, writeFile, rename } from 'node:fs/promises';
import { FULL_PERMISSIONS, isFormBody, signedHostCandidates, verifySignature, type SandboxAccount, type SandboxPermissions } from './auth';
import { classifyDuoRequest, DUO_BULK_PATHS, DUO_RATE_CATEGORIES, type DuoRateCategory } from '../duo/rate-categories';
import { BulkSettingsSchema, bulkCreateUsers, bulkOperations, bulkRestore, bulkSendToTrash, type BulkSettings, type BulkSettingsInput } from './bulk';
import { CategoryLimiter, FaultInjector, TokenBucket, RateLimitSchema, type CategoryLimitsOptions, type FaultRule, type RateLimitOptions } from './faults';
import { cryptoRandom, integrationKey, randomSeed, secretKey, seededRandom } from './random';
import { ApiFailure, DEFAULT_LIMITS, DuoStore, invalidParam, notFound, type Ordered, type Params, type SandboxState, type StoreLimits } from './store';

export interface SandboxAccountInput {
  integrationKey?: string;
  secretKey?: string;
  name?: string;
  permissions?: Partial<SandboxPermissions>;
}

export interface DuoSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1; the client only speaks plain http to loopback hosts. */
  host?: string;
  /** Integration keys; default one full-permission key with generated credentials. */
  accounts?: SandboxAccountInput[];
  /** Seed for ids, generated integration keys and fault dice (secret keys always use crypto randomness). */
  seed?: number;
  /** Initial data (as saved by exportState/saveState). */
  state?: unknown;
  /** One bucket for every request of the account, in requests per second (default: none). */
  rateLimit?: RateLimitOptions | null;
  /** One bucket per Duo rate category; `'duo'` = Duo's known limits (default: none, i.e. unlimited). */
  categoryLimits?: CategoryLimitsOptions | 'duo' | null;
  /** Multiplies every rate limit (both kinds) so benchmarks against Duo's limits stay short; default 1. */
  timeScale?: number;
  /** Bulk endpoints: on/off, batch maxima, per-item or all-or-nothing answers. */
  bulk?: BulkSettingsInput;
  /** Latency added to every request. */
  latencyMs?: number;
  faults?: FaultRule[];
  /** Allowed difference between the signed Date and the sandbox clock; default 300 s. */
  maxClockSkewSeconds?: number;
  /**
   * Other names clients may sign for this sandbox besides its own `host:port` (with and without a
   * port), e.g. `localhost:8443` or the public name behind a port mapping. The Host header of a
   * request is never trusted for this.
   */
  hostnames?: string[];
  limits?: Partial<StoreLimits>;
  /** Clock in ms for signatures' clock skew, rate limits, timestamps and the Trash purge (tests). */
  now?: () => number;
}

export interface CategoryStats {
  requests: number;
  rateLimited: number;
}

export interface SandboxStats {
  total: number;
  reads: number;
  writes: number;
  /** `GET /admin/v1/users` → count, for every request received (including rejected ones). */
  byEndpoint: Record<string, number>;
  byStatus: Record<string, number>;
  /**
   * Requests and 429s per Duo rate category, for every request received. Always present in
   * `stats()`; optional in the type only so that hand-built empty stats stay valid.
   */
  byCategory?: Record<DuoRateCategory, CategoryStats>;
  rateLimited: number;
  authFailures: number;
  faultsInjected: number;
}

export interface DuoSandbox {
  /** `127.0.0.1:PORT`: give this to DuoClient as apiHost. */
  readonly apiHost: string;
  readonly baseUrl: string;
  readonly port: number;
  /** The first (default) integration key. */
  readonly account: SandboxAccount;
  /** Direct access to the data, e.g. to seed 100k users without HTTP. */
  readonly store: DuoStore;
  /** Convenience for `new DuoClient(sandbox.clientOptions())`. */
  clientOptions(account?: SandboxAccount): { apiHost: string; integrationKey: string; secretKey: string };
  stats(): SandboxStats;
  resetStats(): void;
  setFaults(rules: readonly FaultRule[], seed?: number): void;
  setRateLimit(options: RateLimitOptions | null): void;
  setCategoryLimits(options: CategoryLimitsOptions | 'duo' | null): void;
  /** Applies to the limits set so far and later. */
  setTimeScale(factor: number): void;
  setBulk(settings: BulkSettingsInput): void;
  /** Runs the Trash purge now (it also runs before every request). Returns the purged user ids. */
  purgeTrash(): string[];
  setLatency(ms: number): void;
  addAccount(input?: SandboxAccountInput): SandboxAccount;
  removeAccount(integrationKey: string): void;
  exportState(): SandboxState;
  importState(state: unknown): void;
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  stop(): Promise<void>;
}

type Permission = keyof SandboxPermissions;
type Method = 'GET' | 'POST' | 'DELETE';
interface Ctx {
  p: Params;
  ids: Record<string, string>;
}
interface Result {
  response: unknown;
  metadata?: Record<string, number>;
}
interface Route {
  method: Method;
  pattern: string;
  segments: string[];
  permission: Permission;
  handle: (ctx: Ctx) => Result;
}

const MAX_BODY_BYTES = 1024 * 1024;

const emptyCategoryStats = (): Record<DuoRateCategory, CategoryStats> =>
  Object.fromEntries(DUO_RATE_CATEGORIES.map((c) => [c, { requests: 0, rateLimited: 0 }])) as Record<DuoRateCategory, CategoryStats>;

const emptyStats = (): SandboxStats & { byCategory: Record<DuoRateCategory, CategoryStats> } => ({
  total: 0,
  reads: 0,
  writes: 0,
  byEndpoint: {},
  byStatus: {},
  byCategory: emptyCategoryStats(),
  rateLimited: 0,
  authFailures: 0,
  faultsInjected: 0,
});

/** Paging as Duo does it: clamp limit to the endpoint's maximum; next_offset only when more remain. */
function page<T>(items: Ordered<T> | T[], p: Params, max: number, toJson: (t: T) => unknown): Result {
  const limit = parseIndex(p.get('limit'), 'limit', 100);
  const offset = parseIndex(p.get('offset'), 'offset', 0);
  if (limit < 1) throw invalidParam('limit');
  const size = Math.min(limit, max);
  const total = Array.isArray(items) ? items.length : items.size;
  const slice = Array.isArray(items) ? items.slice(offset, offset + size) : items.slice(offset, size);
  const metadata: Record<string, number> = { total_objects: total };
  if (offset + size < total) metadata['next_offset'] = offset + size;
  if (offset > 0) metadata['prev_offset'] = Math.max(offset - size, 0);
  return { response: slice.map(toJson), metadata };
}

function parseIndex(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,9}$/.test(value)) throw invalidParam(name);
  return Number(value);
}

function parseIdList(value: string, name: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw invalidParam(name);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > 100 || !parsed.every((v): v is string => typeof v === 'string')) throw invalidParam(name);
  return parsed;
}

function buildRoutes(store: DuoStore, bulk: () => BulkSettings): Route[] {
  const r = (method: Method, pattern: string, permission: Permission, handle: (ctx: Ctx) => Result): Route => ({
    method,
    pattern,
    segments: pattern.split('/').filter(Boolean),
    permission,
    handle,
  });
  const empty: Result = { response: '' };
  return [
    // Before /admin/v1/users/{user_id}, which would otherwise take these paths.
    r('POST', '/admin/v1/users/bulk_create', 'writeResource', ({ p }) => bulkCreateUsers(store, p, bulk())),
    r('POST', '/admin/v1/users/bulk_send_to_trash', 'writeResource', ({ p }) => bulkSendToTrash(store, p, bulk())),
    r('POST', '/admin/v1/users/bulk_restore', 'writeResource', ({ p }) => bulkRestore(store, p, bulk())),
    r('POST', '/admin/v1/bulk', 'writeResource', ({ p }) => bulkOperations(store, p, bulk())),
    r('GET', '/admin/v1/users', 'readResource', ({ p }) => {
      const username = p.get('username');
      const email = p.get('email');
      const nameList = p.get('username_list');
      const idList = p.get('user_id_list');
      const filters = [username, email, nameList, idList].filter((v) => v !== undefined).length;
      if (filters > 1) throw invalidParam('username');
      let hits: string[] | undefined;
      if (username !== undefined) hits = [store.findUserIdByName(username)].filter((v): v is string => v !== undefined);
      else if (nameList !== undefined) hits = [...new Set(parseIdList(nameList, 'username_list').flatMap((n) => store.findUserIdByName(n) ?? []))];
      else if (idList !== undefined) hits = parseIdList(idList, 'user_id_list').filter((id) => store.users.has(id));
      else if (email !== undefined) {
        const wanted = email.toLowerCase();
        hits = [];
        for (const u of store.users.values()) if (u.email.toLowerCase() === wanted) hits.push(u.user_id);
      }
      if (hits !== undefined) {
        // Lookups answer a plain list (200, possibly empty) and ignore limit/offset.
        return { response: hits.map((id) => store.userJson(store.getUser(id))), metadata: { total_objects: hits.length } };
      }
      const listed = page(store.users, p, 300, (u) => store.userJson(u));
      if (store.quirks.usersNextOffsetStuck && listed.metadata?.['next_offset'] !== undefined) listed.metadata['next_offset'] = parseIndex(p.get('offset'), 'offset', 0);
      return listed;
    }),
    r('POST', '/admin/v1/users', 'writeResource', ({ p }) => ({ response: store.userJson(store.createUser(p)) })),
    r('GET', '/admin/v1/users/{user_id}', 'readResource', ({ ids }) => ({ response: store.userJson(store.getUser(ids['user_id'] ?? '')) })),
    r('POST', '/admin/v1/users/{user_id}', 'writeResource', ({ p, ids }) => ({ response: store.userJson(store.modifyUser(ids['user_id'] ?? '', p)) })),
    r('DELETE', '/admin/v1/users/{user_id}', 'writeResource', ({ ids }) => (store.deleteUser(ids['user_id'] ?? ''), empty)),
    r('GET', '/admin/v1/users/{user_id}/groups', 'readResource', ({ p, ids }) => {
      const user = store.getUser(ids['user_id'] ?? '');
      return page([...user.groupIds], p, 500, (gid) => store.groupJson(store.getGroup(gid)));
    }),
    r('POST', '/admin/v1/users/{user_id}/groups', 'writeResource', ({ p, ids }) => (store.addUserToGroup(ids['user_id'] ?? '', p.get('group_id')), empty)),
    r('DELETE', '/admin/v1/users/{user_id}/groups/{group_id}', 'writeResource', ({ ids }) => (store.removeUserFromGroup(ids['user_id'] ?? '', ids['group_id'] ?? ''), empty)),
    r('GET', '/admin/v1/users/{user_id}/phones', 'readResource', ({ p, ids }) => {
      const user = store.getUser(ids['user_id'] ?? '');
      return page([...user.phoneIds], p, 500, (pid) => store.phoneJson(store.getPhone(pid)));
    }),
    r('POST', '/admin/v1/users/{user_id}/phones', 'writeResource', ({ p, ids }) => (store.associatePhone(ids['user_id'] ?? '', p.get('phone_id')), empty)),
    r('DELETE', '/admin/v1/users/{user_id}/phones/{phone_id}', 'writeResource', ({ ids }) => (store.disassociatePhone(ids['user_id'] ?? '', ids['phone_id'] ?? ''), empty)),
    r('GET', '/admin/v1/phones', 'readResource', ({ p }) => {
      const number = p.get('number');
      if (number !== undefined) {
        const phone = store.findPhone(number, p.get('extension') ?? '');
        return { response: phone ? [store.phoneJson(phone)] : [], metadata: { total_objects: phone ? 1 : 0 } };
      }
      return page(store.phones, p, 500, (ph) => store.phoneJson(ph));
    }),
    r('POST', '/admin/v1/phones', 'writeResource', ({ p }) => ({ response: store.phoneJson(store.createPhone(p)) })),
    r('GET', '/admin/v1/phones/{phone_id}', 'readResource', ({ ids }) => ({ response: store.phoneJson(store.getPhone(ids['phone_id'] ?? '')) })),
    r('POST', '/admin/v1/phones/{phone_id}', 'writeResource', ({ p, ids }) => ({ response: store.phoneJson(store.modifyPhone(ids['phone_id'] ?? '', p)) })),
    r('DELETE', '/admin/v1/phones/{phone_id}', 'writeResource', ({ ids }) => (store.deletePhone(ids['phone_id'] ?? ''), empty)),
    r('GET', '/admin/v1/groups', 'readResource', ({ p }) => {
      const idList = p.get('group_id_list');
      if (idList !== undefined) {
        const found = parseIdList(idList, 'group_id_list').flatMap((id) => store.groups.get(id) ?? []);
        return { response: found.map((g) => store.groupJson(g)), metadata: { total_objects: found.length } };
      }
      return page(store.groups, p, 100, (g) => store.groupJson(g));
    }),
    r('POST', '/admin/v1/groups', 'writeResource', ({ p }) => ({ response: store.groupJson(store.createGroup(p)) })),
    r('GET', '/admin/v1/groups/{group_id}', 'readResource', ({ ids }) => ({ response: store.groupJson(store.getGroup(ids['group_id'] ?? '')) })),
    r('GET', '/admin/v2/groups/{group_id}', 'readResource', ({ ids }) => ({ response: store.groupJson(store.getGroup(ids['group_id'] ?? '')) })),
    r('POST', '/admin/v1/groups/{group_id}', 'writeResource', ({ p, ids }) => ({ response: store.groupJson(store.modifyGroup(ids['group_id'] ?? '', p)) })),
    r('DELETE', '/admin/v1/groups/{group_id}', 'writeResource', ({ ids }) => (store.deleteGroup(ids['group_id'] ?? ''), empty)),
    r('GET', '/admin/v2/groups/{group_id}/users', 'readResource', ({ p, ids }) => {
      const group = store.getGroup(ids['group_id'] ?? '');
      return page(group.members, p, 500, (uid) => {
        const u = store.users.get(uid);
        return u ? { user_id: u.user_id, username: u.username } : { user_id: uid, username: '' };
      });
    }),
    r('GET', '/admin/v1/admins', 'administrators', ({ p }) => page(store.admins, p, 100, (a) => store.adminJson(a))),
    r('POST', '/admin/v1/admins', 'administrators', ({ p }) => ({ response: store.adminJson(store.createAdmin(p)) })),
    r('GET', '/admin/v1/admins/{admin_id}', 'administrators', ({ ids }) => ({ response: store.adminJson(store.getAdmin(ids['admin_id'] ?? '')) })),
    r('POST', '/admin/v1/admins/{admin_id}', 'administrators', ({ p, ids }) => ({ response: store.adminJson(store.modifyAdmin(ids['admin_id'] ?? '', p)) })),
    r('DELETE', '/admin/v1/admins/{admin_id}', 'administrators', ({ ids }) => (store.deleteAdmin(ids['admin_id'] ?? ''), empty)),
    r('GET', '/admin/v1/info/summary', 'readInformation', () => ({
      response: { admin_count: store.admins.size, integration_count: 1, telephony_credits_remaining: 0, user_count: store.users.size },
    })),
  ];
}

function matchRoute(routes: readonly Route[], method: string, path: string): { route: Route; ids: Record<string, string> } | { route: undefined; pattern: string | undefined } {
  const segs = path.split('/').filter(Boolean);
  let patternOnly: string | undefined;
  for (const route of routes) {
    if (route.segments.length !== segs.length) continue;
    const ids: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const want = route.segments[i] as string;
      const got = segs[i] as string;
      if (want.startsWith('{')) {
        try {
          ids[want.slice(1, -1)] = decodeURIComponent(got);
        } catch {
          ok = false;
        }
      } else ok = want === got;
    }
    if (!ok) continue;
    if (route.method === method) return { route, ids };
    patternOnly = route.pattern;
  }
  return { route: undefined, pattern: patternOnly };
}

/** Parameters the handler sees: query, then form or JSON body (JSON scalars become strings). */
function requestParams(query: URLSearchParams, body: Buffer, form: boolean): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of query) out.set(k, v);
  if (body.length === 0) return out;
  if (form) {
    for (const [k, v] of new URLSearchParams(body.toString('utf8'))) out.set(k, v);
    return out;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiFailure(40002, 'Invalid request parameters', 'body is not valid JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ApiFailure(40002, 'Invalid request parameters', 'body must be a JSON object');
  for (const [k, v] of Object.entries(parsed)) {
    if (v === null) out.set(k, '');
    else if (typeof v === 'string') out.set(k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') out.set(k, String(v));
    else out.set(k, JSON.stringify(v));
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function positiveScale(factor: number): number {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`timeScale must be a positive number, got ${factor}`);
  return factor;
}

export async function startDuoSandbox(options: DuoSandboxOptions = {}): Promise<DuoSandbox> {
  const clock = options.now ?? Date.now;
  const seed = options.seed ?? randomSeed();
  const random = seededRandom(seed);
  const store = new DuoStore(random, { ...DEFAULT_LIMITS, ...options.limits }, clock);
  if (options.state !== undefined) store.importState(options.state);
  let bulkSettings = BulkSettingsSchema.parse(options.bulk ?? {});
  const routes = buildRoutes(store, () => bulkSettings);
  const accounts = new Map<string, SandboxAccount>();
  const faults = new FaultInjector(seed);
  if (options.faults) faults.set(options.faults);
  let timeScale = positiveScale(options.timeScale ?? 1);
  let rateLimit = options.rateLimit ? RateLimitSchema.parse(options.rateLimit) : undefined;
  let categoryLimits: CategoryLimitsOptions | undefined = options.categoryLimits === 'duo' ? {} : (options.categoryLimits ?? undefined);
  let bucket: TokenBucket | undefined;
  let categoryLimiter: CategoryLimiter | undefined;
  const rebuildLimiters = (): void => {
    bucket = rateLimit ? new TokenBucket({ ...rateLimit, requestsPerSecond: rateLimit.requestsPerSecond * timeScale, burst: rateLimit.burst ?? rateLimit.requestsPerSecond }, clock) : undefined;
    categoryLimiter = categoryLimits ? new CategoryLimiter(categoryLimits, timeScale, clock) : undefined;
  };
  rebuildLimiters();
  let latencyMs = options.latencyMs ?? 0;
  const maxSkew = options.maxClockSkewSeconds ?? 300;
  // Set once the port is known (no request can arrive before that).
  let signedHosts: string[] = [];
  let stats = emptyStats();
  const hanging = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();

  const addAccount = (input: SandboxAccountInput = {}): SandboxAccount => {
    const account: SandboxAccount = {
      integrationKey: input.integrationKey ?? integrationKey(random),
      secretKey: input.secretKey ?? secretKey(cryptoRandom),
      name: input.name ?? `integration ${accounts.size + 1}`,
      permissions: { ...FULL_PERMISSIONS, ...input.permissions },
    };
    accounts.set(account.integrationKey, account);
    return account;
  };
  for (const a of options.accounts ?? [{}]) addAccount(a);
  const defaultAccount = [...accounts.values()][0] as SandboxAccount;

  const send = (res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void => {
    stats.byStatus[String(status)] = (stats.byStatus[String(status)] ?? 0) + 1;
    const text = typeof body === 'string' && contentType !== 'application/json' ? body : JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  const fail = (res: ServerResponse, f: ApiFailure): void => {
    send(res, f.httpStatus, { stat: 'FAIL', code: f.code, message: f.message, ...(f.detail === undefined ? {} : { message_detail: f.detail }) });
  };
  const rateLimited = (res: ServerResponse, category: DuoRateCategory): void => {
    stats.rateLimited += 1;
    stats.byCategory[category].rateLimited += 1;
    fail(res, new ApiFailure(42901, 'Too Many Requests'));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
    store.purgeExpiredTrash();
    const found = matchRoute(routes, method, path);
    // An account without bulk endpoints answers them like any unknown path.
    const match = found.route && !bulkSettings.enabled && DUO_BULK_PATHS.has(found.route.pattern) ? { route: undefined, pattern: undefined } : found;
    const key = `${method} ${match.route ? match.route.pattern : (match.pattern ?? path)}`;
    const category = classifyDuoRequest(method, path, method === 'GET' ? query.keys() : []);
    stats.total += 1;
    stats.byEndpoint[key] = (stats.byEndpoint[key] ?? 0) + 1;
    stats.byCategory[category].requests += 1;
    if (method === 'GET') stats.reads += 1;
    else stats.writes += 1;

    const decision = faults.decide(key, method);
    const delay = latencyMs + decision.latencyMs;
    if (delay > 0) await sleep(delay);
    if (decision.kind !== undefined) {
      stats.faultsInjected += 1;
      if (decision.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (decision.kind === 'timeout') {
        const timer = setTimeout(() => {
          hanging.delete(timer);
          req.socket.destroy();
        }, decision.hangMs);
        hanging.add(timer);
        return;
      }
      if (decision.kind === 'rateLimit') return rateLimited(res, category);
      if (decision.errorStatus === 500) return fail(res, new ApiFailure(50001, 'Unknown internal server error'));
      return send(res, decision.errorStatus, `<html><body><h1>${decision.errorStatus} Service Unavailable</h1></body></html>`, 'text/html');
    }

    try {
      if (!match.route) throw notFound();
      const account = (() => {
        try {
          return verifySignature({ method, path, query, headers: req.headers, body }, accounts, clock(), maxSkew, signedHosts);
        } catch (err) {
          stats.authFailures += 1;
          throw err;
        }
      })();
      if (bucket && !bucket.take()) return rateLimited(res, category);
      if (categoryLimiter && !categoryLimiter.take(category)) return rateLimited(res, category);
      if (!account.permissions[match.route.permission]) throw new ApiFailure(40301, 'Access forbidden');
      const params = requestParams(query, body, isFormBody({ method, path, query, headers: req.headers, body }));
      const result = match.route.handle({ p: params, ids: match.ids });
      send(res, 200, { stat: 'OK', response: result.response, ...(result.metadata ? { metadata: result.metadata } : {}) });
    } catch (err) {
      if (err instanceof ApiFailure) return fail(res, err);
      send(res, 500, { stat: 'FAIL', code: 50001, message: 'Unknown internal server error' });
      throw err;
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        send(res, 413, { stat: 'FAIL', code: 41301, message: 'Request entity too large' });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
        // A bug in the sandbox must be visible in test output, not hidden behind a generic 500.
        process.emitWarning(`duo sandbox: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      });
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 5_000;

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const publicHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  const apiHost = `${publicHost}:${port}`;
  signedHosts = signedHostCandidates(apiHost, options.hostnames ?? []);

  const sandbox: DuoSandbox = {
    apiHost,
    baseUrl: `http://${apiHost}`,
    port,
    account: defaultAccount,
    store,
    clientOptions: (account = defaultAccount) => ({ apiHost, integrationKey: account.integrationKey, secretKey: account.secretKey }),
    stats: () => structuredClone(stats),
    resetStats: () => {
      stats = emptyStats();
    },
    setFaults: (rules, faultSeed) => faults.set(rules, faultSeed),
    setRateLimit: (opts) => {
      rateLimit = opts ? RateLimitSchema.parse(opts) : undefined;
      rebuildLimiters();
    },
    setCategoryLimits: (opts) => {
      categoryLimits = opts === 'duo' ? {} : (opts ?? undefined);
      rebuildLimiters();
    },
    setTimeScale: (factor) => {
      timeScale = positiveScale(factor);
      rebuildLimiters();
    },
    setBulk: (settings) => {
      bulkSettings = BulkSettingsSchema.parse({ ...bulkSettings, ...settings });
    },
    purgeTrash: () => store.purgeExpiredTrash(),
    setLatency: (ms) => {
      latencyMs = ms;
    },
    addAccount,
    removeAccount: (ikey) => {
      accounts.delete(ikey);
    },
    exportState: () => store.exportState(),
    importState: (state) => store.importState(state),
    saveState: async (path) => {
      // Write then rename so a crash never leaves half a state file.
      const tmp = `${path}.tmp-${process.pid}`;
      await writeFile(tmp, JSON.stringify(store.exportState()));
      await rename(tmp, path);
    },
    loadState: async (path) => {
      store.importState(JSON.parse(await readFile(path, 'utf8')));
    },
    stop: async () => {
      for (const t of hanging) clearTimeout(t);
      hanging.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
  return sandbox;
}
