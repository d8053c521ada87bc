/**
 * Test helper: a real SCIM 2.0 service provider on SCIMMY + scimmy-routers (express), backed by an
 * in-memory directory, with bearer-token auth and an OAuth 2.0 client-credentials token endpoint.
 * The store adapter talks to it over HTTP exactly as it would to an IdP.
 *
 * Filters are parsed as a conforming server parses them (RFC 7644 §3.4.2.2): the grammar by the
 * `scim2-parse-filter` library, string literals as JSON strings (RFC 7159), so an escape the
 * client gets wrong is a 400 `invalidFilter` or a wrong match here too. SCIMMY never sees the
 * filter (its own parser cannot read `\"` inside a literal); the parsed tree is evaluated by
 * `matches` below, case-insensitively (RFC 7643 makes userName, emails etc. caseExact=false). Its
 * list pagination re-slices pages it did not produce, so the handler returns a sparse window.
 * `maxCount` caps `count` as RFC 7644 §3.4.2.4 allows a server to.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import type { Filter as ScimFilter } from 'scim2-parse-filter';
import { parseFilter, Tokens, type Token } from 'scim2-parse-filter/lib/src/parser';

export interface ScimSeedUser {
  userName: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
  email?: string;
  phones?: string[];
  active?: boolean;
  title?: string;
  groups?: string[];
}

interface StoredUser {
  id: string;
  userName: string;
  [key: string]: unknown;
}

interface StoredGroup {
  id: string;
  displayName: string;
  description?: string;
  members: Set<string>;
  /** Ids of the groups that are members of this one (nested groups). */
  groupMembers: Set<string>;
}

export interface ScimServerOptions {
  bearerTokens?: string[];
  oauthClients?: Record<string, string>;
  /** Lifetime of issued OAuth tokens, seconds. */
  tokenLifetimeSeconds?: number;
  /** Largest page the server returns, whatever `count` asks for (RFC 7644 §3.4.2.4). */
  maxCount?: number;
  /**
   * A broken server's paging, for clients that must notice: `ignoreStartIndex` always serves the
   * first page; `emptyAfterFirstPage` answers every later page with no resources while
   * totalResults still counts them.
   */
  listFault?: 'ignoreStartIndex' | 'emptyAfterFirstPage';
  /**
   * Users' `groups` also list the groups reached through nested groups, `type: "indirect"`, as
   * RFC 7643 §4.1.2 allows (filters then match them too, so group-scoped rules see indirect members).
   */
  indirectGroups?: boolean;
}

class Directory {
  readonly users = new Map<string, StoredUser>();
  readonly byName = new Map<string, string>();
  readonly groups = new Map<string, StoredGroup>();
  /** Insertion-ordered ids: the stable listing order. */
  order: string[] = [];

  constructor(private readonly indirectGroups = false) {}

  groupsOf(userId: string): { value: string; display: string; type?: string }[] {
    const out: { value: string; display: string; type?: string }[] = [];
    for (const g of this.groups.values()) if (g.members.has(userId)) out.push({ value: g.id, display: g.displayName, ...(this.indirectGroups ? { type: 'direct' } : {}) });
    if (!this.indirectGroups) return out;
    // RFC 7643 §4.1.2: groups reached through nested groups, marked "indirect".
    const seen = new Set(out.map((g) => g.value));
    for (let i = 0; i < out.length; i++) {
      for (const g of this.groups.values()) {
        if (g.groupMembers.has(out[i]!.value) && !seen.has(g.id)) {
          seen.add(g.id);
          out.push({ value: g.id, display: g.displayName, type: 'indirect' });
        }
      }
    }
    return out;
  }

  view(u: StoredUser): Record<string, unknown> {
    const groups = this.groupsOf(u.id);
    return { ...u, ...(groups.length > 0 ? { groups } : {}) };
  }
}

interface Ctx {
  dir: Directory;
  filter: ScimFilter | undefined;
}

/**
 * RFC 7644 filter tokens. The library's own tokenizer doubles every backslash that does not precede
 * a quote, which reads `"a\\b"` as two backslashes and rejects `"a\\"`; string literals here
 * are exactly RFC 7159 strings, handed to the library's parser, which decodes them with JSON.parse.
 */
const TOKEN = /^(?:(\s+)|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![-\w._:/)\s]))|("(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")|([[()]|]\.?)|([A-Za-z][-\w._:/%]*))/;

export function parseScimFilter(text: string): ScimFilter {
  const tokens: Token[] = [];
  let rest = text;
  while (rest.length > 0) {
    const m = TOKEN.exec(rest);
    if (!m || m[0].length === 0) throw new Error(`unexpected text at "${rest.slice(0, 20)}"`);
    if (m[2]) tokens.push({ type: 'Number', literal: m[2] });
    else if (m[3]) tokens.push({ type: 'Quoted', literal: m[3] });
    else if (m[4]) tokens.push({ type: 'Bracket', literal: m[4] });
    else if (m[5]) tokens.push({ type: 'Word', literal: m[5] });
    rest = rest.slice(m[0].length);
  }
  tokens.push({ type: 'EOT', literal: '' });
  const list = new Tokens(tokens);
  const parsed = parseFilter(list);
  if (list.peek().type !== 'EOT') throw new Error(`unexpected "${list.peek().literal}" after a complete filter`);
  return parsed;
}

/** Values at an attribute path (`userName`, `emails.value`, `urn:...:User:department`); complex values yield their `value`. */
function valuesAt(resource: unknown, attrPath: string): unknown[] {
  const colon = attrPath.lastIndexOf(':');
  const path = colon === -1 ? attrPath.split('.') : [attrPath.slice(0, colon), ...attrPath.slice(colon + 1).split('.')];
  let current: unknown[] = [resource];
  for (const segment of path) {
    const next: unknown[] = [];
    for (const item of current) {
      if (!item || typeof item !== 'object') continue;
      const key = Object.keys(item).find((k) => k.toLowerCase() === segment.toLowerCase());
      if (key === undefined) continue;
      const v = (item as Record<string, unknown>)[key];
      if (Array.isArray(v)) next.push(...v);
      else if (v !== undefined && v !== null) next.push(v);
    }
    current = next;
  }
  return current.map((v) => (v && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v));
}

function scalars(resource: unknown, attrPath: string): string[] {
  return valuesAt(resource, attrPath)
    .filter((x): x is string | number | boolean => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
    .map((x) => String(x).toLowerCase())
    .filter((v) => v !== '');
}

function matches(f: ScimFilter, resource: unknown): boolean {
  switch (f.op) {
    case 'and':
      return f.filters.every((x) => matches(x, resource));
    case 'or':
      return f.filters.some((x) => matches(x, resource));
    case 'not':
      return !matches(f.filter, resource);
    case '[]':
      return valuesAt(resource, f.attrPath).some((item) => matches(f.valFilter, item));
    case 'pr':
      return scalars(resource, f.attrPath).length > 0;
    default: {
      const vals = scalars(resource, f.attrPath);
      const want = String(f.compValue ?? '').toLowerCase();
      switch (f.op) {
        case 'eq':
          return vals.includes(want);
        case 'ne':
          return !vals.includes(want);
        case 'co':
          return vals.some((v) => v.includes(want));
        case 'sw':
          return vals.some((v) => v.startsWith(want));
        case 'ew':
          return vals.some((v) => v.endsWith(want));
        default:
          throw new SCIMMY.Types.Error(400, 'invalidFilter', `operator ${f.op} is not supported by the test server`);
      }
    }
  }
}

function matching<T extends object>(filter: ScimFilter, all: T[]): T[] {
  return all.filter((o) => matches(filter, o));
}

/** Sparse list whose populated window makes SCIMMY's own slice(startIndex-1) and truncation land on the right page. */
function page<S, T>(all: S[], constraints: { startIndex?: number; count?: number } | undefined, view: (item: S) => T): T[] {
  const start = Math.max(constraints?.startIndex ?? 1, 1);
  const count = constraints?.count ?? 20;
  const lo = start <= count ? 0 : start - 1;
  const out = new Array<T>(all.length);
  for (let i = lo; i < Math.min(all.length, start - 1 + count); i++) out[i] = view(all[i]!);
  return out;
}

let declared = false;
function declareResources(): void {
  if (declared) return;
  declared = true;
  type ResourceLike = {
    id?: string;
    constraints?: { startIndex?: number; count?: number };
  };
  const notFound = (id: string): Error => new SCIMMY.Types.Error(404, '', `Resource ${id} not found`);
  SCIMMY.Resources.declare(SCIMMY.Resources.User, {
    egress: async (resource: ResourceLike, ctx: Ctx) => {
      const dir = ctx.dir;
      if (resource.id) {
        const u = dir.users.get(resource.id);
        if (!u) throw notFound(resource.id);
        return dir.view(u);
      }
      const view = (id: string): Record<string, unknown> => dir.view(dir.users.get(id)!);
      if (!ctx.filter) return page(dir.order, resource.constraints, view);
      return page(matching(ctx.filter, dir.order.map(view)), resource.constraints, (u) => u);
    },
    ingress: async (resource: ResourceLike, instance: Record<string, unknown>, ctx: Ctx) => {
      const dir = ctx.dir;
      const data = JSON.parse(JSON.stringify(instance)) as Record<string, unknown>;
      delete data.groups;
      delete data.meta;
      delete data.schemas;
      const userName = String(data.userName ?? '');
      const clash = dir.byName.get(userName.toLowerCase());
      if (clash && clash !== resource.id) throw new SCIMMY.Types.Error(409, 'uniqueness', `userName ${userName} is already taken`);
      if (resource.id) {
        const old = dir.users.get(resource.id);
        if (!old) throw notFound(resource.id);
        dir.byName.delete(old.userName.toLowerCase());
        const next: StoredUser = { ...data, id: old.id, userName, meta: old.meta };
        dir.users.set(old.id, next);
        dir.byName.set(userName.toLowerCase(), old.id);
        return dir.view(next);
      }
      const now = new Date().toISOString();
      const u: StoredUser = { ...data, id: randomUUID(), userName, meta: { resourceType: 'User', created: now, lastModified: now } };
      dir.users.set(u.id, u);
      dir.byName.set(userName.toLowerCase(), u.id);
      dir.order.push(u.id);
      return dir.view(u);
    },
    degress: async (resource: ResourceLike, ctx: Ctx) => {
      const dir = ctx.dir;
      const u = resource.id ? dir.users.get(resource.id) : undefined;
      if (!u) throw notFound(resource.id ?? '');
      dir.users.delete(u.id);
      dir.byName.delete(u.userName.toLowerCase());
      dir.order = dir.order.filter((id) => id !== u.id);
      for (const g of dir.groups.values()) g.members.delete(u.id);
    },
  });
  SCIMMY.Resources.declare(SCIMMY.Resources.Group, {
    egress: async (resource: ResourceLike, ctx: Ctx) => {
      const view = (g: StoredGroup): Record<string, unknown> => ({
        id: g.id,
        displayName: g.displayName,
        // RFC 7643 §4.2: a member is a User or a Group, told apart by `type`.
        members: [...[...g.members].map((value) => ({ value, type: 'User' })), ...[...g.groupMembers].map((value) => ({ value, type: 'Group' }))],
        meta: { resourceType: 'Group' },
      });
      if (resource.id) {
        const g = ctx.dir.groups.get(resource.id);
        if (!g) throw notFound(resource.id);
        return view(g);
      }
      let all = [...ctx.dir.groups.values()].map(view);
      if (ctx.filter) all = matching(ctx.filter, all);
      return page(all, resource.constraints, (g) => g);
    },
    ingress: async () => {
      throw new SCIMMY.Types.Error(501, '', 'Group writes are not implemented by the test server');
    },
    degress: async () => {
      throw new SCIMMY.Types.Error(501, '', 'Group writes are not implemented by the test server');
    },
  });
}

export interface ScimTestServer {
  baseUrl: string;
  tokenUrl: string;
  /** OAuth tokens issued so far (to observe refreshes). */
  tokensIssued(): number;
  /** Groups may name the groups they are members of (`groups`, like a user's), for nested groups. */
  seed(users: Iterable<ScimSeedUser>, groups: { name: string; description?: string; groups?: string[] }[]): void;
  close(): Promise<void>;
}

export async function startScimServer(options: ScimServerOptions = {}): Promise<ScimTestServer> {
  declareResources();
  const dir = new Directory(options.indirectGroups ?? false);
  const bearer = new Set(options.bearerTokens ?? []);
  const clients = options.oauthClients ?? {};
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const issued = new Map<string, number>();
  let issuedCount = 0;

  const app = express();
  app.post('/oauth/token', express.urlencoded({ extended: false }), (req, res) => {
    const body = req.body as Record<string, string | undefined>;
    let id = body.client_id;
    let secret = body.client_secret;
    const basic = /^Basic (.+)$/i.exec(req.header('authorization') ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      id = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    if (body.grant_type !== 'client_credentials') return void res.status(400).json({ error: 'unsupported_grant_type' });
    if (!id || clients[id] === undefined || clients[id] !== secret) return void res.status(401).json({ error: 'invalid_client', error_description: 'unknown client or wrong secret' });
    const token = randomBytes(24).toString('base64url');
    issued.set(token, Date.now() + lifetime * 1000);
    issuedCount++;
    res.json({ access_token: token, token_type: 'Bearer', expires_in: lifetime });
  });

  // Express 5 re-parses req.query on every access; pin one parsed copy with numbers. The filter is
  // parsed here and kept out of SCIMMY's sight; a filter that does not parse is a 400, as RFC 7644 says.
  app.use('/scim/v2', (req, res, next) => {
    const parsed = new URL(req.originalUrl, 'http://x').searchParams;
    const query: Record<string, string | number> = {};
    let filter: ScimFilter | undefined;
    for (const [k, v] of parsed) {
      if ((k === 'startIndex' || k === 'count') && /^\d+$/.test(v)) query[k] = Number(v);
      else if (k === 'filter') {
        try {
          filter = parseScimFilter(v);
        } catch (err) {
          return void res.status(400).type('application/scim+json').json({
            schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
            status: '400',
            scimType: 'invalidFilter',
            detail: `filter does not parse: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      } else query[k] = v;
    }
    if (options.maxCount !== undefined) query.count = Math.min(typeof query.count === 'number' ? query.count : 20, options.maxCount);
    const laterPage = typeof query.startIndex === 'number' && query.startIndex > 1;
    if (options.listFault === 'ignoreStartIndex') delete query.startIndex;
    if (options.listFault === 'emptyAfterFirstPage' && laterPage) {
      const json = res.json.bind(res);
      res.json = (body: unknown) => json(body && typeof body === 'object' && 'Resources' in body ? { ...body, Resources: [] } : body);
    }
    Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true });
    (req as Request & { scimFilter?: ScimFilter }).scimFilter = filter;
    next();
  });
  app.use(
    '/scim/v2',
    new SCIMMYRouters({
      type: 'bearer',
      handler: (req: Request) => {
        const m = /^Bearer (.+)$/i.exec(req.header('authorization') ?? '');
        const token = m?.[1];
        if (!token) throw new Error('missing bearer token');
        if (bearer.has(token)) return 'static';
        const exp = issued.get(token);
        if (exp === undefined || exp < Date.now()) throw new Error('invalid or expired token');
        return 'oauth';
      },
      context: (req: Request): Ctx => ({ dir, filter: (req as Request & { scimFilter?: ScimFilter }).scimFilter }),
    }),
  );

  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  return {
    baseUrl: `${origin}/scim/v2`,
    tokenUrl: `${origin}/oauth/token`,
    tokensIssued: () => issuedCount,
    seed(users, groups) {
      const byName = new Map<string, StoredGroup>();
      for (const g of groups) {
        const sg: StoredGroup = { id: randomUUID(), displayName: g.name, members: new Set(), groupMembers: new Set(), ...(g.description ? { description: g.description } : {}) };
        dir.groups.set(sg.id, sg);
        byName.set(g.name, sg);
      }
      for (const g of groups) for (const parent of g.groups ?? []) byName.get(parent)?.groupMembers.add(byName.get(g.name)!.id);
      const now = new Date().toISOString();
      for (const u of users) {
        const id = randomUUID();
        const rec: StoredUser = {
          id,
          userName: u.userName,
          active: u.active ?? true,
          meta: { resourceType: 'User', created: now, lastModified: now },
          ...(u.givenName || u.familyName ? { name: { ...(u.givenName ? { givenName: u.givenName } : {}), ...(u.familyName ? { familyName: u.familyName } : {}) } } : {}),
          ...(u.displayName ? { displayName: u.displayName } : {}),
          ...(u.title ? { title: u.title } : {}),
          ...(u.email ? { emails: [{ value: u.email, type: 'work', primary: true }] } : {}),
          ...(u.phones && u.phones.length > 0 ? { phoneNumbers: u.phones.map((value) => ({ value, type: 'work' })) } : {}),
        };
        dir.users.set(id, rec);
        dir.byName.set(u.userName.toLowerCase(), id);
        dir.order.push(id);
        for (const g of u.groups ?? []) byName.get(g)?.members.add(id);
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
