/**
 * Test helper: a real SCIM 2.0 service provider on SCIMMY + scimmy-routers (express), backed by an
 * in-memory directory, with bearer-token auth and an OAuth 2.0 client-credentials token endpoint.
 * The store adapter talks to it over HTTP exactly as it would to an IdP.
 *
 * Two SCIMMY gaps are patched here, in the server, not in the client: its filter parser does not
 * understand JSON escapes inside string literals (RFC 7644 §3.4.2.2), so literals are swapped for
 * placeholders before SCIMMY parses the filter and swapped back before matching; its matcher is
 * replaced (see `matching`); and its list pagination re-slices pages it did not produce, so the
 * handler returns a sparse window.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Request } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

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
}

export interface ScimServerOptions {
  bearerTokens?: string[];
  oauthClients?: Record<string, string>;
  /** Lifetime of issued OAuth tokens, seconds. */
  tokenLifetimeSeconds?: number;
}

class Directory {
  readonly users = new Map<string, StoredUser>();
  readonly byName = new Map<string, string>();
  readonly groups = new Map<string, StoredGroup>();
  /** Insertion-ordered ids: the stable listing order. */
  order: string[] = [];

  groupsOf(userId: string): { value: string; display: string }[] {
    const out: { value: string; display: string }[] = [];
    for (const g of this.groups.values()) if (g.members.has(userId)) out.push({ value: g.id, display: g.displayName });
    return out;
  }

  view(u: StoredUser): Record<string, unknown> {
    const groups = this.groupsOf(u.id);
    return { ...u, ...(groups.length > 0 ? { groups } : {}) };
  }
}

interface Ctx {
  dir: Directory;
  literals: string[];
}

const PLACEHOLDER = /^\u0001lit(\d+)\u0001$/;

/** Copies SCIMMY's parsed (immutable) filter expressions with placeholders swapped for the real literals. */
function restoreLiterals(node: unknown, literals: string[]): unknown {
  if (typeof node === 'string') {
    const m = PLACEHOLDER.exec(node);
    return m ? literals[Number(m[1])] : node;
  }
  if (Array.isArray(node)) return node.map((v: unknown) => restoreLiterals(v, literals));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, restoreLiterals(v, literals)]));
  return node;
}

type Cond = unknown[];

function field(obj: unknown, attr: string): unknown {
  if (!obj || typeof obj !== 'object') return undefined;
  const key = Object.keys(obj).find((k) => k.toLowerCase() === attr.toLowerCase());
  return key === undefined ? undefined : (obj as Record<string, unknown>)[key];
}

function scalars(v: unknown): string[] {
  const list: unknown[] = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list
    .map((x) => (x && typeof x === 'object' ? field(x, 'value') : x))
    .filter((x): x is string | number | boolean => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')
    .map((x) => String(x).toLowerCase());
}

function evalCond(cond: Cond, value: unknown): boolean {
  const negate = cond[0] === 'not';
  const [op, raw] = (negate ? cond.slice(1) : cond) as [string, unknown];
  const vals = scalars(value).filter((v) => v !== '');
  const want = String(raw ?? '').toLowerCase();
  let r: boolean;
  switch (op) {
    case 'pr':
      r = vals.length > 0;
      break;
    case 'eq':
      r = vals.includes(want);
      break;
    case 'ne':
      r = !vals.includes(want);
      break;
    case 'co':
      r = vals.some((v) => v.includes(want));
      break;
    case 'sw':
      r = vals.some((v) => v.startsWith(want));
      break;
    case 'ew':
      r = vals.some((v) => v.endsWith(want));
      break;
    default:
      throw new SCIMMY.Types.Error(400, 'invalidFilter', `operator ${op} is not supported by the test server`);
  }
  return negate ? !r : r;
}

function evalTerm(term: Record<string, unknown>, obj: unknown): boolean {
  return Object.entries(term).every(([attr, cond]) => {
    const value = field(obj, attr);
    if (Array.isArray(cond)) {
      const conds = Array.isArray(cond[0]) ? (cond as Cond[]) : [cond];
      return conds.every((c) => evalCond(c, value));
    }
    // Sub-attribute condition (`emails.value`, `name.givenName`): any item of the attribute matches.
    const items: unknown[] = Array.isArray(value) ? value : value === undefined ? [] : [value];
    const sub = cond as Record<string, unknown>;
    if (items.length === 0) return Object.values(sub).every((c) => Array.isArray(c) && c[0] === 'not');
    return items.some((item) => evalTerm(sub, item));
  });
}

/**
 * SCIMMY parses filters (into OR-of-AND terms) but its matcher mishandles `pr`, absent complex
 * attributes and case (RFC 7643 makes userName, emails etc. caseExact=false), so this server
 * evaluates the parsed terms itself, case-insensitively.
 */
function matching<T extends object>(filter: unknown, literals: string[], all: T[]): T[] {
  const terms = restoreLiterals(filter, literals) as Record<string, unknown>[];
  return all.filter((o) => terms.some((t) => evalTerm(t, o)));
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
    filter?: unknown;
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
      if (!resource.filter) return page(dir.order, resource.constraints, view);
      return page(matching(resource.filter, ctx.literals, dir.order.map(view)), resource.constraints, (u) => u);
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
        members: [...g.members].map((value) => ({ value })),
        meta: { resourceType: 'Group' },
      });
      if (resource.id) {
        const g = ctx.dir.groups.get(resource.id);
        if (!g) throw notFound(resource.id);
        return view(g);
      }
      let all = [...ctx.dir.groups.values()].map(view);
      if (resource.filter) all = matching(resource.filter, ctx.literals, all);
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
  seed(users: Iterable<ScimSeedUser>, groups: { name: string; description?: string }[]): void;
  close(): Promise<void>;
}

export async function startScimServer(options: ScimServerOptions = {}): Promise<ScimTestServer> {
  declareResources();
  const dir = new Directory();
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

  // Express 5 re-parses req.query on every access; pin one parsed copy with numbers and placeholders.
  app.use('/scim/v2', (req, _res, next) => {
    const parsed = new URL(req.originalUrl, 'http://x').searchParams;
    const query: Record<string, string | number> = {};
    const literals: string[] = [];
    for (const [k, v] of parsed) {
      if ((k === 'startIndex' || k === 'count') && /^\d+$/.test(v)) query[k] = Number(v);
      else if (k === 'filter') {
        query[k] = v.replace(/"(?:[^"\\]|\\.)*"/g, (lit) => {
          literals.push(JSON.parse(lit) as string);
          return `"\u0001lit${literals.length - 1}\u0001"`;
        });
      } else query[k] = v;
    }
    Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true });
    (req as Request & { scimLiterals?: string[] }).scimLiterals = literals;
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
      context: (req: Request): Ctx => ({ dir, literals: (req as Request & { scimLiterals?: string[] }).scimLiterals ?? [] }),
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
        const sg: StoredGroup = { id: randomUUID(), displayName: g.name, members: new Set(), ...(g.description ? { description: g.description } : {}) };
        dir.groups.set(sg.id, sg);
        byName.set(g.name, sg);
      }
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
