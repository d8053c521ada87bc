/**
 * The Duo error taxonomy: every failure of a Duo call becomes one DuoError whose `kind` tells a
 * workflow what to do (wait and retry, fail this object, or stop the connection), plus the mapping to
 * Temporal failures and the suggested retry delay. The client itself never retries: retries belong to
 * Temporal activity retry policies, so they survive worker crashes and show up in history.
 */
import { ApplicationFailure } from '@temporalio/common';

export type DuoErrorKind =
  /** HTTP 429 (code 42901): wait and retry; Duo sends no Retry-After, so back off 1→32 s. */
  | 'rateLimited'
  /** 5xx other than a one-to-many limit, connection refused/reset, DNS failure: retry later. */
  | 'unavailable'
  /** No answer within the request timeout: retry later. */
  | 'timeout'
  /** 401 (40101–40105): wrong integration key, secret key, host or clock. Not retryable. */
  | 'authentication'
  /** 403 (40301): the Admin API application lacks a permission. Not retryable. */
  | 'permission'
  /** 404 (40401): the object does not exist. */
  | 'notFound'
  /** The object already exists (duplicate username, alias, group name, phone number, admin email). */
  | 'conflict'
  /** 400: Duo rejected a parameter; the object fails, the run goes on. */
  | 'invalidRequest'
  /** 500/50001 on an association: a one-to-many limit (100 groups or phones per user) was hit. */
  | 'limitExceeded'
  /** A reply that is not Duo's documented shape (e.g. a proxy's HTML page, or a schema change). */
  | 'invalidResponse';

const RETRYABLE: ReadonlySet<DuoErrorKind> = new Set(['rateLimited', 'unavailable', 'timeout']);

export type DuoPermission = 'Grant read resource' | 'Grant write resource' | 'Grant administrators' | 'Grant read information';

export interface DuoErrorDetails {
  kind: DuoErrorKind;
  /** What was being done, e.g. `create user "jdoe"`; used in the message. */
  operation: string;
  method: string;
  path: string;
  httpStatus?: number;
  /** Duo's numeric error code, e.g. 40002. */
  code?: number;
  duoMessage?: string;
  messageDetail?: string;
  /** For `permission`: which grant is missing. */
  missingPermission?: DuoPermission;
  /** For `conflict`: the id of the object already holding the name, when known. */
  existingId?: string;
  /** Overrides the retryable default of the kind (e.g. TLS verification failures). */
  retryable?: boolean;
  cause?: unknown;
}

const ADVICE: Record<DuoErrorKind, string> = {
  rateLimited: 'Duo is rate limiting this account; the call is retried after a back-off.',
  unavailable: 'Duo could not be reached or failed; the call is retried later.',
  timeout: 'Duo did not answer in time; the call is retried later.',
  authentication: 'Check the API hostname, integration key and secret key of the Admin API application, and the clock of this host.',
  permission: 'Grant the missing permission to the Admin API application in the Duo Admin Panel.',
  notFound: 'The object no longer exists in Duo.',
  conflict: 'Another Duo object already uses this name; rename one of them or adopt the existing object.',
  invalidRequest: 'Fix the value Duo names in the source data or the attribute mapping.',
  limitExceeded: 'Duo allows at most 100 groups and 100 phones per user (and 100 users per phone); reduce them in the source.',
  invalidResponse: 'The reply did not come from Duo or Duo changed its format; check proxies between this host and Duo.',
};

export class DuoError extends Error {
  override readonly name = 'DuoError';
  readonly kind: DuoErrorKind;
  readonly retryable: boolean;
  readonly operation: string;
  readonly method: string;
  readonly path: string;
  readonly httpStatus: number | undefined;
  readonly code: number | undefined;
  readonly duoMessage: string | undefined;
  readonly messageDetail: string | undefined;
  readonly missingPermission: DuoPermission | undefined;
  readonly existingId: string | undefined;

  constructor(d: DuoErrorDetails) {
    super(DuoError.describe(d), d.cause === undefined ? undefined : { cause: d.cause });
    this.kind = d.kind;
    this.retryable = d.retryable ?? RETRYABLE.has(d.kind);
    this.operation = d.operation;
    this.method = d.method;
    this.path = d.path;
    this.httpStatus = d.httpStatus;
    this.code = d.code;
    this.duoMessage = d.duoMessage;
    this.messageDetail = d.messageDetail;
    this.missingPermission = d.missingPermission;
    this.existingId = d.existingId;
  }

  private static describe(d: DuoErrorDetails): string {
    const duo = d.duoMessage
      ? `${d.httpStatus ?? ''} ${d.duoMessage}${d.messageDetail ? ` (${d.messageDetail})` : ''}${d.code ? ` [code ${d.code}]` : ''}`.trim()
      : d.httpStatus
        ? `HTTP ${d.httpStatus}`
        : d.cause instanceof Error
          ? d.cause.message
          : 'no response';
    const missing = d.missingPermission ? ` Missing permission: "${d.missingPermission}".` : '';
    const existing = d.existingId ? ` Existing object: ${d.existingId}.` : '';
    return `Duo ${d.operation} failed (${d.method} ${d.path}): ${duo}.${missing}${existing} ${ADVICE[d.kind]}`;
  }

  /** Plain JSON for activity results and Temporal failure details (no secrets are ever held here). */
  toJSON(): Record<string, unknown> {
    return {
      kind: this.kind,
      retryable: this.retryable,
      operation: this.operation,
      method: this.method,
      path: this.path,
      httpStatus: this.httpStatus,
      code: this.code,
      duoMessage: this.duoMessage,
      messageDetail: this.messageDetail,
      missingPermission: this.missingPermission,
      existingId: this.existingId,
      message: this.message,
    };
  }
}

/**
 * What the network said about a failed request, and nothing more: the HTTP library's own error
 * carries its request config and socket (headers, the signed Authorization value), which must never
 * reach logs, Temporal failures or error reports. Kept as a DuoError's `cause`.
 */
export class DuoTransportError extends Error {
  override readonly name = 'DuoTransportError';
  /** Node's or the HTTP library's error code, e.g. `ECONNRESET`, `ECONNABORTED`, `CERT_HAS_EXPIRED`. */
  readonly code: string | undefined;
  readonly method: string;
  readonly host: string;
  readonly path: string;
  /** HTTP status, when an answer arrived before the failure. */
  readonly status: number | undefined;

  constructor(d: { message: string; code: string | undefined; method: string; host: string; path: string; status: number | undefined }) {
    super(d.message);
    this.code = d.code;
    this.method = d.method;
    this.host = d.host;
    this.path = d.path;
    this.status = d.status;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, message: this.message, code: this.code, method: this.method, host: this.host, path: this.path, status: this.status };
  }
}

export function isDuoError(err: unknown, kind?: DuoErrorKind): err is DuoError {
  return err instanceof DuoError && (kind === undefined || err.kind === kind);
}

const BACKOFF_INITIAL_MS = 1000;
const BACKOFF_MAX_MS = 32_000;

/**
 * Delay to wait before the next attempt, as Duo's official clients do on 429: 1 s doubling to at most
 * 32 s, plus up to 1 s of jitter so workers sharing the account do not retry in lock-step.
 * `attempt` is Temporal's 1-based activity attempt number (the attempt that just failed).
 * Returns undefined for errors that waiting will not fix.
 */
export function suggestedRetryDelayMs(err: unknown, attempt: number, random: () => number = Math.random): number | undefined {
  if (!(err instanceof DuoError) || !err.retryable) return undefined;
  const exponent = Math.max(0, Math.min(Math.floor(attempt) - 1, 10));
  const base = Math.min(BACKOFF_INITIAL_MS * 2 ** exponent, BACKOFF_MAX_MS);
  return base + Math.floor(random() * 1000);
}

/** Temporal failure `type` for each kind; workflows match on these strings. */
export function duoFailureType(kind: DuoErrorKind): string {
  return `Duo${kind.charAt(0).toUpperCase()}${kind.slice(1)}`;
}

/**
 * Converts a DuoError for throwing from an activity. Retryable kinds carry `nextRetryDelay`
 * (a 429 on attempt n waits 2^(n-1) s, capped at 32 s, plus jitter), which overrides the
 * activity retry policy's interval for that one retry while the policy's maximumAttempts still
 * bounds the total. Non-retryable kinds are marked nonRetryable so Temporal stops at once.
 * Anything that is not a DuoError is returned unchanged.
 */
export function toActivityFailure(err: unknown, attempt: number): unknown {
  if (!(err instanceof DuoError)) return err;
  const delay = suggestedRetryDelayMs(err, attempt);
  return ApplicationFailure.create({
    message: err.message,
    type: duoFailureType(err.kind),
    nonRetryable: !err.retryable,
    details: [err.toJSON()],
    ...(delay === undefined ? {} : { nextRetryDelay: delay }),
    cause: err,
  });
}
