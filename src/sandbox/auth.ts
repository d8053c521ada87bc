/**
 * Verifies Duo request signatures the way Duo's server must: the signature version is not announced,
 * so every candidate the request could be (v2 with HMAC-SHA1 or SHA-512, v4/v5 with SHA-512) is
 * rebuilt from the decoded parameters, the raw Date text and the host, and compared in constant time.
 * Also owns the integration keys ("accounts") and their API permissions.
 */
import { timingSafeEqual } from 'node:crypto';
import { signatureHex, type CanonicalRequest } from '../duo/signing';
import { ApiFailure } from './store';

export interface SandboxPermissions {
  /** "Grant read resource": GET users, groups, phones. */
  readResource: boolean;
  /** "Grant write resource": create/modify/delete users, groups, phones, associations. */
  writeResource: boolean;
  /** "Grant administrators": everything under /admin/v1/admins. */
  administrators: boolean;
  /** "Grant read information": /admin/v1/info/*. */
  readInformation: boolean;
}

export interface SandboxAccount {
  integrationKey: string;
  secretKey: string;
  name: string;
  permissions: SandboxPermissions;
}

export const FULL_PERMISSIONS: SandboxPermissions = { readResource: true, writeResource: true, administrators: true, readInformation: true };

export interface ReceivedRequest {
  method: string;
  /** Path exactly as received, without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer;
}

export type ParamRecord = Record<string, string[]>;

export function toParamRecord(search: URLSearchParams, into: ParamRecord = Object.create(null) as ParamRecord): ParamRecord {
  for (const [k, v] of search) (into[k] ??= []).push(v);
  return into;
}

/** RFC 2822 dates with English names only (a localized weekday such as "Mi," is rejected by Duo). */
const RFC2822_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC|[+-]\d{4})$/;

function header(req: ReceivedRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isFormBody(req: ReceivedRequest): boolean {
  return (header(req, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/**
 * The host names a signature may name: the sandbox's own API host (`127.0.0.1:PORT`), the same
 * without the port (Python's client signs the bare host name) and any configured aliases. Never the
 * request's Host header: a client controls that header, so trusting it would accept a request signed
 * for some other Duo host.
 */
export function signedHostCandidates(apiHost: string, aliases: readonly string[]): string[] {
  const hosts = new Set<string>();
  for (const name of [apiHost, ...aliases]) {
    const host = name.trim().toLowerCase();
    if (!host) continue;
    hosts.add(host);
    hosts.add(host.replace(/:\d+$/, ''));
  }
  return [...hosts];
}

/**
 * Throws ApiFailure 401 with Duo's code when the request is not signed by a known key for one of
 * `signedHosts` (see signedHostCandidates).
 */
export function verifySignature(req: ReceivedRequest, accounts: ReadonlyMap<string, SandboxAccount>, nowMs: number, maxSkewSeconds: number, signedHosts: readonly string[]): SandboxAccount {
  const auth = header(req, 'authorization');
  const m = auth ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(auth) : null;
  const decoded = m ? Buffer.from(m[1] as string, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (!m || colon <= 0) throw new ApiFailure(40101, 'Missing request credentials');
  const ikey = decoded.slice(0, colon);
  const sig = decoded.slice(colon + 1);

  // Some clients (C#, PowerShell) sign X-Duo-Date instead of Date; prefer it when present.
  const date = header(req, 'x-duo-date') ?? header(req, 'date');
  const when = date !== undefined && RFC2822_DATE.test(date) ? Date.parse(date) : NaN;
  if (date === undefined || Number.isNaN(when)) throw new ApiFailure(40104, 'Missing request timestamp');

  const account = accounts.get(ikey);
  if (!account) throw new ApiFailure(40102, 'Invalid integration key in request credentials');
  if (Math.abs(nowMs - when) > maxSkewSeconds * 1000) {
    throw new ApiFailure(40105, 'Request timestamp is too far from the current time', `allowed clock skew is ${maxSkewSeconds} seconds`);
  }

  const duoHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.toLowerCase().startsWith('x-duo-') && value !== undefined) duoHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query = toParamRecord(req.query);
  const hasBody = req.body.length > 0;
  const candidates: Array<{ version: 2 | 4 | 5; digest: 'sha1' | 'sha512'; params: ParamRecord }> = [];
  if (sig.length === 40) {
    if (!hasBody || isFormBody(req)) candidates.push({ version: 2, digest: 'sha1', params: v2Params(req, query) });
  } else if (sig.length === 128) {
    if (!hasBody || isFormBody(req)) candidates.push({ version: 2, digest: 'sha512', params: v2Params(req, query) });
    if (!hasBody || !isFormBody(req)) {
      candidates.push({ version: 5, digest: 'sha512', params: query }, { version: 4, digest: 'sha512', params: query });
    }
  }
  const given = Buffer.from(sig, 'utf8');
  for (const h of signedHosts) {
    for (const c of candidates) {
      const canon: CanonicalRequest = { date, method: req.method, host: h, path: req.path, params: c.params, body: req.body, duoHeaders };
      const expected = Buffer.from(signatureHex(c.version, canon, account.secretKey, c.digest), 'utf8');
      if (expected.length === given.length && timingSafeEqual(expected, given)) return account;
    }
  }
  throw new ApiFailure(40103, 'Invalid signature in request credentials');
}

function v2Params(req: ReceivedRequest, query: ParamRecord): ParamRecord {
  if (!isFormBody(req) || req.body.length === 0) return query;
  const merged = Object.create(null) as ParamRecord;
  for (const [k, v] of Object.entries(query)) merged[k] = [...v];
  return toParamRecord(new URLSearchParams(req.body.toString('utf8')), merged);
}
