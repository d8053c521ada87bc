/**
 * Misbehaviour on demand for tests and benchmarks: rate limits answering 429/42901 the way Duo does
 * (one account-wide token bucket, and/or one bucket per Duo rate category), and per-endpoint fault
 * rules (5xx, hangs, connection resets, rate-limit answers, extra latency, "fail the Nth call").
 * Dice come from a seedable PRNG so runs are repeatable.
 */
import { z } from 'zod';
import { DUO_KNOWN_LIMITS_PER_MINUTE, DUO_RATE_CATEGORIES, type DuoRateCategory } from '../duo/rate-categories';
import { seededRandom, type Random } from './random';

export const RateLimitSchema = z.object({
  /** Sustained requests per second for the whole account (all integration keys share it, as at Duo). */
  requestsPerSecond: z.number().positive(),
  /** Bucket size: how many requests may arrive at once. Defaults to requestsPerSecond. */
  burst: z.number().positive().optional(),
});
export type RateLimitOptions = z.infer<typeof RateLimitSchema>;

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  constructor(
    private readonly options: RateLimitOptions,
    private readonly clock: () => number,
  ) {
    this.capacity = options.burst ?? options.requestsPerSecond;
    this.tokens = this.capacity;
    this.last = clock();
  }

  /** Takes one token; false means "answer 429". */
  take(): boolean {
    const now = this.clock();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.options.requestsPerSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

const CategorySchema = z.enum(DUO_RATE_CATEGORIES);

export const CategoryLimitsSchema = z.object({
  /** `duo`: Duo's known per-category limits; `unlimited`: only the categories named in `perMinute` are limited. */
  profile: z.enum(['duo', 'unlimited']).default('duo'),
  /** Requests per minute for some categories, overriding the profile. */
  perMinute: z.partialRecord(CategorySchema, z.number().positive()).default({}),
  /**
   * How many seconds of traffic at the limit may arrive at once (bucket size = limit × burstSeconds / 60).
   * Duo says "N requests per minute" without saying how it counts; 60 lets a whole minute's allowance
   * arrive at once after an idle minute, the loosest reading. Lower it for a stricter limiter.
   */
  burstSeconds: z.number().positive().default(60),
});
export type CategoryLimitsOptions = z.input<typeof CategoryLimitsSchema>;

/** Effective per-minute limits (unscaled) of a category-limits configuration; absent = unlimited. */
export function categoryLimitsPerMinute(options: z.output<typeof CategoryLimitsSchema>): Partial<Record<DuoRateCategory, number>> {
  return { ...(options.profile === 'duo' ? DUO_KNOWN_LIMITS_PER_MINUTE : {}), ...options.perMinute };
}

/**
 * One token bucket per rate category, each on its own (as Duo enforces them). `timeScale` k makes
 * the sandbox's minute last 60/k seconds: every refill rate is multiplied by k while bucket sizes stay,
 * so a benchmark runs k times faster against the same shape of limit.
 */
export class CategoryLimiter {
  private readonly buckets = new Map<DuoRateCategory, TokenBucket>();
  readonly perMinute: Partial<Record<DuoRateCategory, number>>;

  constructor(options: CategoryLimitsOptions, timeScale: number, clock: () => number) {
    const parsed = CategoryLimitsSchema.parse(options);
    this.perMinute = categoryLimitsPerMinute(parsed);
    for (const category of DUO_RATE_CATEGORIES) {
      const limit = this.perMinute[category];
      if (limit === undefined) continue;
      const burst = Math.max(1, (limit * parsed.burstSeconds) / 60);
      this.buckets.set(category, new TokenBucket({ requestsPerSecond: (limit / 60) * timeScale, burst }, clock));
    }
  }

  /** Takes one token from the category's bucket; false means "answer 429". Unlimited categories always pass. */
  take(category: DuoRateCategory): boolean {
    return this.buckets.get(category)?.take() ?? true;
  }
}

export const FaultKindSchema = z.enum(['error', 'timeout', 'reset', 'rateLimit']);
export type FaultKind = z.infer<typeof FaultKindSchema>;

export const FaultRuleSchema = z.object({
  /** `METHOD /path/pattern` as in stats (e.g. `POST /admin/v1/users`), `METHOD *`, or `*` (default). */
  endpoint: z.string().default('*'),
  /** Probability (0..1) of a 5xx answer. */
  errorRate: z.number().min(0).max(1).default(0),
  /** Status of injected errors: 500 is Duo's JSON 50001; 502/503/504 look like a load balancer (HTML). */
  errorStatus: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(504)]).default(503),
  /** Probability of never answering (the client's timeout fires; the socket is dropped after hangMs). */
  timeoutRate: z.number().min(0).max(1).default(0),
  /** Probability of resetting the connection before answering. */
  resetRate: z.number().min(0).max(1).default(0),
  /** Probability of a 429 regardless of the token bucket. */
  rateLimitRate: z.number().min(0).max(1).default(0),
  /** 1-based numbers of the matching calls (counted since the rule was set) that fail with `failWith`. */
  failCalls: z.array(z.number().int().positive()).default([]),
  failWith: FaultKindSchema.default('error'),
  /** Extra latency for matching calls. */
  latencyMs: z.number().nonnegative().default(0),
  /** How long a "timeout" holds the connection before dropping it. */
  hangMs: z.number().positive().default(60_000),
});
export type FaultRule = z.input<typeof FaultRuleSchema>;
type ParsedRule = z.output<typeof FaultRuleSchema>;

export interface FaultDecision {
  kind: FaultKind | undefined;
  errorStatus: 500 | 502 | 503 | 504;
  latencyMs: number;
  hangMs: number;
}

export class FaultInjector {
  private rules: Array<{ rule: ParsedRule; calls: number }> = [];
  private random: Random;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  set(rules: readonly FaultRule[], seed?: number): void {
    this.rules = rules.map((r) => ({ rule: FaultRuleSchema.parse(r), calls: 0 }));
    if (seed !== undefined) this.random = seededRandom(seed);
  }

  /** The first matching rule decides; a call matching no rule passes untouched. */
  decide(endpointKey: string, method: string): FaultDecision {
    const none: FaultDecision = { kind: undefined, errorStatus: 503, latencyMs: 0, hangMs: 0 };
    const entry = this.rules.find(({ rule }) => rule.endpoint === '*' || rule.endpoint === endpointKey || rule.endpoint === `${method} *`);
    if (!entry) return none;
    const { rule } = entry;
    entry.calls += 1;
    const decision: FaultDecision = { kind: undefined, errorStatus: rule.errorStatus, latencyMs: rule.latencyMs, hangMs: rule.hangMs };
    if (rule.failCalls.includes(entry.calls)) {
      decision.kind = rule.failWith;
      return decision;
    }
    // One roll per rate keeps each probability independent of the others' configuration.
    if (rule.resetRate > 0 && this.random() < rule.resetRate) decision.kind = 'reset';
    else if (rule.timeoutRate > 0 && this.random() < rule.timeoutRate) decision.kind = 'timeout';
    else if (rule.errorRate > 0 && this.random() < rule.errorRate) decision.kind = 'error';
    else if (rule.rateLimitRate > 0 && this.random() < rule.rateLimitRate) decision.kind = 'rateLimit';
    return decision;
  }
}
