/**
 * Duo request signing (HMAC over a canonical request), shared by the client that signs and the
 * sandbox that verifies. Follows Duo's published scheme as implemented by the official clients:
 * v2 = date, method, host, path, canonical params (HMAC-SHA512, or SHA-1 from older tools);
 * v5 = v2's lines plus SHA-512 of the exact body bytes and of the `x-duo-*` headers.
 */
import { createHash, createHmac } from 'node:crypto';

export type SignatureVersion = 2 | 5;
export type DuoParams = Readonly<Record<string, string | readonly string[]>>;

/** SHA-512 hex of the empty string: the v5 body line for GET/DELETE and the header line without x-duo headers. */
export const EMPTY_SHA512 = createHash('sha512').update('').digest('hex');

export class SigningInputError extends Error {
  override readonly name = 'SigningInputError';
}

/**
 * Percent-encodes UTF-8 bytes except RFC 3986 unreserved characters, hex upper case, space as %20
 * (Python's `quote(s, '~')`, which Duo's server side uses).
 */
export function encodeDuoComponent(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch {
    throw new SigningInputError('a request value contains an unpaired surrogate (invalid Unicode); fix the source value');
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Canonical parameter line: encode keys and values, sort by encoded key, then each key's encoded
 * values, and join `k=v` with `&`. Sorting by key first matters when one key prefixes another.
 */
export function canonicalizeParams(params: DuoParams): string {
  const entries = Object.entries(params).map(([key, value]) => {
    const values = typeof value === 'string' ? [value] : [...value];
    return [encodeDuoComponent(key), values.map(encodeDuoComponent).sort(compareCodeUnits)] as const;
  });
  entries.sort((a, b) => compareCodeUnits(a[0], b[0]));
  return entries.flatMap(([key, values]) => values.map((v) => `${key}=${v}`)).join('&');
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sha512Hex(data: string | Buffer): string {
  return createHash('sha512').update(data).digest('hex');
}

/**
 * Hash of the additional `x-duo-*` headers for v5: lower-cased names sorted, joined as
 * name NUL value NUL name NUL value. Other headers are ignored.
 */
export function hashDuoHeaders(headers: Readonly<Record<string, string>>): string {
  const pairs = Object.entries(headers)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .filter(([name]) => name.startsWith('x-duo-'))
    .sort((a, b) => compareCodeUnits(a[0], b[0]));
  return sha512Hex(pairs.flatMap(([n, v]) => [n, v]).join('\0'));
}

export interface CanonicalRequest {
  /** The exact Date (or X-Duo-Date) header text; never re-formatted. */
  date: string;
  method: string;
  /** API hostname as configured (port included if the caller signs with one); lower-cased here. */
  host: string;
  /** Path without query string, exactly as sent. */
  path: string;
  /** Query parameters (and, for v2 POST, the form parameters). */
  params: DuoParams;
  /** v5 only: the exact body bytes sent ('' for none). */
  body?: string | Buffer;
  /** v5 only: x-duo-* headers sent with the request. */
  duoHeaders?: Readonly<Record<string, string>>;
}

export function canonicalString(version: SignatureVersion | 4, req: CanonicalRequest): string {
  const lines = [req.date, req.method.toUpperCase(), req.host.toLowerCase(), req.path, canonicalizeParams(req.params)];
  if (version === 4 || version === 5) lines.push(sha512Hex(req.body ?? ''));
  if (version === 5) lines.push(req.duoHeaders ? hashDuoHeaders(req.duoHeaders) : EMPTY_SHA512);
  return lines.join('\n');
}

export function signatureHex(version: SignatureVersion | 4, req: CanonicalRequest, secretKey: string, digest: 'sha512' | 'sha1' = 'sha512'): string {
  return createHmac(digest, Buffer.from(secretKey, 'utf8')).update(canonicalString(version, req), 'utf8').digest('hex');
}

/** `Authorization` header value: Basic base64(ikey:hexsig). */
export function authorizationHeader(integrationKey: string, version: SignatureVersion, req: CanonicalRequest, secretKey: string): string {
  const sig = signatureHex(version, req, secretKey);
  return `Basic ${Buffer.from(`${integrationKey}:${sig}`, 'utf8').toString('base64')}`;
}

/** RFC 7231 date as Node's official client sends it (e.g. `Tue, 21 Aug 2012 17:29:18 GMT`). */
export function duoDate(now: Date): string {
  return now.toUTCString();
}
