/**
 * StoreError: the one error type identity-store adapters throw. `kind` tells activities what to do
 * with it (retry `unavailable`, fail fast on the rest); `message` tells a person what failed, for
 * which object, and what to change. Messages never contain secrets.
 */

export type StoreErrorKind =
  | 'unavailable'
  | 'auth_failed'
  | 'invalid_config'
  | 'not_found'
  | 'conflict'
  | 'read_only'
  | 'invalid_request'
  /**
   * The store's answer was short or inconsistent (fewer results than it said it had, a page that
   * did not advance, an entry that cannot be read in a lookup): the read must count as failed,
   * never as "these users are gone". Retried, since a directory changing mid-read heals.
   */
  | 'incomplete';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly kind: StoreErrorKind;
  /** Only `unavailable` and `incomplete` are worth retrying: the rest fail the same way until someone changes something. */
  readonly retryable: boolean;

  constructor(kind: StoreErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.retryable = kind === 'unavailable' || kind === 'incomplete';
  }
}

/**
 * The `cause` a store error keeps for a failed HTTP request: method, host, path, status and error
 * code only. The HTTP client's own error is never kept, because it holds the request config —
 * headers with bearer tokens or Basic client credentials, and bodies with client secrets.
 */
export class HttpRequestFailure extends Error {
  override readonly name = 'HttpRequestFailure';
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly code: string | undefined;

  constructor(request: { method: string; host: string; path: string; status?: number; code?: string; reason: string }) {
    super(`${request.method} ${request.host}${request.path} failed${request.status !== undefined ? ` with HTTP ${request.status}` : ''}: ${request.reason}`);
    this.method = request.method;
    this.host = request.host;
    this.path = request.path;
    this.status = request.status;
    this.code = request.code;
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}

/** Short text for an unknown thrown value (error code first: ECONNREFUSED says more than a stack). */
export function causeText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message || err.name;
    return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(err);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT',
  'ECONNABORTED', 'EPIPE', 'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

export function isNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  if (code && NETWORK_CODES.has(code)) return true;
  return /timed? ?out|socket hang up|connection closed|not connected|connection.*(refused|reset)/i.test(err.message);
}
