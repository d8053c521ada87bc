/**
 * Client-side pacing for one Duo account.
 *
 * RequestPacer: a token bucket that caps all of an account's requests at `rate` per second (bursts up
 * to `burst`); it backs the optional `duo.requestsPerSecond` setting.
 *
 * AccountPacer: adaptive pacing per Duo rate category (modify, get one object, get a page, get all,
 * logs, bulk), which Duo limits each on its own. It needs no setting: it starts from Duo's known
 * limits and adapts to the 429s it gets (AIMD, with a first cut sized from how long the account's
 * burst lasted), so it stays right when Duo's limits for an account differ and when several worker
 * processes share one account (docs/duo.md, "Client pacing").
 */
import { DUO_KNOWN_LIMITS_PER_MINUTE, DUO_RATE_CATEGORIES, type DuoRateCategory } from './rate-categories';

/**
 * Caps requests at `rate` per second (bursts up to `burst`). When an operator knows the account's
 * overall limit, pacing a little under it avoids 429s, each of which costs a back-off of a second
 * or more.
 */
export class RequestPacer {
  private tokens: number;
  private last: number;
  /** Waiters are served in order so a burst of callers cannot starve one of them. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly rate: number,
    readonly burst: number = Math.max(1, Math.floor(rate)),
    private readonly clock: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !Number.isFinite(rate)) throw new RangeError(`rate must be a positive number of requests per second, got ${rate}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
    this.tokens = burst;
    this.last = this.clock();
  }

  /** Resolves when the next request may be sent. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.waitForToken());
    this.queue = turn;
    return turn;
  }

  private async waitForToken(): Promise<void> {
    for (;;) {
      const now = this.clock();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.rate) * 1000)));
    }
  }
}

/** What the adaptive pacer learns from one request's answer. */
export type PacedOutcome = 'ok' | 'rateLimited' | 'other';

export interface PacedTicket {
  readonly category: DuoRateCategory;
  /** When the request was let through (pacer clock, ms). */
  readonly sentAt: number;
}

export interface AdaptivePacingOptions {
  /**
   * Where each category starts, in requests per minute: `duo` = Duo's known limits
   * (DUO_KNOWN_LIMITS_PER_MINUTE), `none` = unpaced until that category's first 429, or explicit
   * numbers (categories left out start unpaced). Default `duo`.
   */
  limits?: 'duo' | 'none' | Partial<Record<DuoRateCategory, number>>;
  /** Multiplies the starting limits (a sandbox running with `--time-scale k`). Default 1. */
  timeScale?: number;
  /** Start at this fraction of a known limit, leaving room for requests the network delivers bunched. Default 0.9. */
  startFraction?: number;
  /**
   * Seconds of unscaled traffic the account admits at once after a quiet spell. Duo's limits are
   * per minute and how it counts them is not documented; 60 (a minute's worth, the sandbox's
   * default) is assumed. It only sizes the first cut after a 429.
   */
  assumedBurstSeconds?: number;
  /** Clock in ms and sleep (tests). */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Multiplicative decrease on a 429 (the most the first 429 of a busy spell cuts; see CategoryPacer.firstCutFactor). */
const DECREASE_FACTOR = 0.5;
/** Where the first cut of a busy spell aims: this fraction of the limit, shared by every sender the estimate counts. */
const FIRST_CUT_TARGET = 0.95;
/**
 * Additive increase: a category regains this fraction of its reference rate per second of paced
 * sending (or of its current rate once above the reference).
 */
const INCREASE_PER_SECOND = 1 / 30;
/** Never pace slower than this fraction of the reference rate (429s that do not come from the rate, e.g. injected ones, must not stall a sync). */
const FLOOR_FRACTION = 0.1;
/** Window over which an unpaced category's sending rate is measured when its first 429 arrives. */
const OBSERVE_WINDOW_MS = 1000;

export interface CategoryPacingState {
  /** Current pace in requests per second; undefined while unpaced. */
  ratePerSecond: number | undefined;
  sent: number;
  rateLimited: number;
  decreases: number;
}

/**
 * Spacing and AIMD state of one rate category. Requests wait in order; each waits until 1/rate
 * after the previous one left, with the rate read at its turn, so a decrease applies to requests
 * already queued.
 */
class CategoryPacer {
  private rate: number | undefined;
  /**
   * The scale of the additive increase: the known limit until the first 429, then the rate this
   * process had reached when the last 429 came, i.e. its share of the account. Growing by a fraction
   * of the share rather than of the whole limit keeps N processes sharing an account coming back
   * over the limit no faster together than one process alone (fewer 429 rounds).
   */
  private reference: number | undefined;
  /** The floor's scale: the known limit, or the rate measured at the first 429 (never lowered, so repeated 429s cannot stall a category). */
  private floorBase: number | undefined;
  /** A known limit is also the ceiling; a limit learnt from 429s has none (the pacer keeps probing). */
  private readonly ceiling: number | undefined;
  /**
   * Requests the account lets through at once after a quiet spell (Duo's limits are per minute;
   * assumed to admit up to a minute's worth at once, as the sandbox does) and how long a quiet spell
   * takes to refill them. Undefined without a known limit.
   */
  private readonly burst: number | undefined;
  private readonly refillMs: number;
  /** When the current busy spell began (the first request after a quiet refillMs), and whether it has had its first cut. */
  private spellStart = Number.NEGATIVE_INFINITY;
  private spellCut = false;
  private lastSent = Number.NEGATIVE_INFINITY;
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private queue: Promise<unknown> = Promise.resolve();
  /** Send times within the last observeMs: about 20 requests at the known limit, or 1 s without one. */
  private readonly recent: number[] = [];
  private readonly observeMs: number;
  private readonly counts = { sent: 0, rateLimited: 0, decreases: 0 };

  constructor(
    readonly category: DuoRateCategory,
    knownPerSecond: number | undefined,
    burst: number | undefined,
    startFraction: number,
    private readonly clock: () => number,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    this.reference = knownPerSecond;
    this.floorBase = knownPerSecond;
    this.ceiling = knownPerSecond;
    this.burst = knownPerSecond === undefined ? undefined : burst;
    this.refillMs = knownPerSecond === undefined || burst === undefined ? Number.POSITIVE_INFINITY : (burst / knownPerSecond) * 1000;
    this.observeMs = knownPerSecond === undefined ? OBSERVE_WINDOW_MS : Math.max(OBSERVE_WINDOW_MS, (20 / knownPerSecond) * 1000);
    this.rate = knownPerSecond === undefined ? undefined : knownPerSecond * startFraction;
  }

  take(): Promise<PacedTicket> {
    const turn = this.queue.then(() => this.waitForTurn());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async waitForTurn(): Promise<PacedTicket> {
    for (;;) {
      if (this.rate === undefined) break;
      const due = this.lastSent + 1000 / this.rate;
      const now = this.clock();
      if (now >= due) break;
      await this.sleep(due - now);
    }
    const sentAt = this.clock();
    if (sentAt - this.lastSent >= this.refillMs) {
      this.spellStart = sentAt;
      this.spellCut = false;
    }
    this.lastSent = sentAt;
    this.counts.sent += 1;
    this.recent.push(sentAt);
    while (this.recent.length > 0 && (this.recent[0] ?? 0) <= sentAt - this.observeMs) this.recent.shift();
    return { category: this.category, sentAt };
  }

  record(ticket: PacedTicket, outcome: PacedOutcome): void {
    if (outcome === 'rateLimited') {
      this.counts.rateLimited += 1;
      // One decrease per round: 429s for requests sent before the last decrease say nothing about the new rate.
      if (ticket.sentAt < this.lastDecreaseAt) return;
      const now = this.clock();
      if (this.rate === undefined) {
        const observed = Math.max(1, (this.recent.length * 1000) / OBSERVE_WINDOW_MS);
        this.floorBase = observed;
        this.rate = observed;
        this.recent.length = 0;
      }
      const floor = (this.floorBase ?? this.rate) * FLOOR_FRACTION;
      const first = this.firstCutFactor(ticket.sentAt);
      // The first cut applies to what this process sent, which is less than its pace when its activities were few.
      this.rate = Math.max(floor, first === undefined ? this.rate * DECREASE_FACTOR : Math.min(this.rate, this.sendingRate(ticket.sentAt)) * first);
      // The pace after a cut is this process's share of the account as far as it knows: it regrows by fractions of that.
      this.reference = this.rate;
      this.spellCut = true;
      this.lastDecreaseAt = now;
      this.counts.decreases += 1;
      return;
    }
    if (outcome !== 'ok' || this.rate === undefined || this.reference === undefined) return;
    // +INCREASE_PER_SECOND × max(reference, rate) per second of sending at `rate`, i.e. per request divided by the rate.
    const next = this.rate + (INCREASE_PER_SECOND * Math.max(this.reference, this.rate)) / this.rate;
    this.rate = this.ceiling === undefined ? next : Math.min(this.ceiling, next);
  }

  /**
   * The first 429 of a busy spell tells how fast the whole account (every process sharing it) was
   * sending: the bucket, full when the spell began, lasted t seconds, so the account sent about
   * burst/t + limit per second. Every process that meets the 429 cuts by the same estimate, to
   * FIRST_CUT_TARGET × limit ÷ that rate of what it sent, so together they land just under the
   * limit in one round instead of a halving per round; never less than halving. Undefined (halve
   * the pace) without a known limit, and for later 429s of the spell.
   */
  private firstCutFactor(sentAt: number): number | undefined {
    if (this.ceiling === undefined || this.burst === undefined || this.spellCut) return undefined;
    const lasted = Math.max(0.001, (sentAt - this.spellStart) / 1000);
    return Math.min(DECREASE_FACTOR, (FIRST_CUT_TARGET * this.ceiling) / (this.burst / lasted + this.ceiling));
  }

  /** Requests per second this process sent lately (over observeMs, or the busy spell if shorter). */
  private sendingRate(at: number): number {
    const window = Math.max(1, Math.min(this.observeMs, at - this.spellStart));
    return Math.max(1, this.recent.length) / (window / 1000);
  }

  state(): CategoryPacingState {
    return { ratePerSecond: this.rate, ...this.counts };
  }
}

/**
 * Adaptive pacing for one Duo account in this process, one AIMD controller per rate category:
 * each category starts a little under its known limit (or unpaced when none is known), cuts its
 * pace on a 429 (the first of a busy spell to the estimated share, later ones by half) and regains
 * it additively while requests succeed, never above a known limit. Several
 * processes sharing one account each adapt on their own 429s and settle on shares of the limit, as
 * TCP senders share a link, with no coordination between them.
 */
export class AccountPacer {
  private readonly categories = new Map<DuoRateCategory, CategoryPacer>();

  constructor(options: AdaptivePacingOptions = {}) {
    const limits = options.limits ?? 'duo';
    const known: Partial<Record<DuoRateCategory, number>> = limits === 'duo' ? DUO_KNOWN_LIMITS_PER_MINUTE : limits === 'none' ? {} : limits;
    const scale = options.timeScale ?? 1;
    if (!(scale > 0) || !Number.isFinite(scale)) throw new RangeError(`timeScale must be a positive number, got ${scale}`);
    const startFraction = options.startFraction ?? 0.9;
    const burstSeconds = options.assumedBurstSeconds ?? 60;
    if (!(burstSeconds > 0)) throw new RangeError(`assumedBurstSeconds must be positive, got ${burstSeconds}`);
    if (!(startFraction > 0 && startFraction <= 1)) throw new RangeError(`startFraction must be in (0, 1], got ${startFraction}`);
    const clock = options.clock ?? (() => performance.now());
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    for (const category of DUO_RATE_CATEGORIES) {
      const perMinute = known[category];
      if (perMinute !== undefined && !(perMinute > 0)) throw new RangeError(`limit for ${category} must be positive, got ${perMinute}`);
      const burst = perMinute === undefined ? undefined : Math.max(1, (perMinute * burstSeconds) / 60);
      this.categories.set(category, new CategoryPacer(category, perMinute === undefined ? undefined : (perMinute / 60) * scale, burst, startFraction, clock, sleep));
    }
  }

  /** Resolves when a request of this category may be sent. */
  take(category: DuoRateCategory): Promise<PacedTicket> {
    return this.pacer(category).take();
  }

  /** Feeds one answer back: a 429 slows the category down, a success speeds it up. */
  record(ticket: PacedTicket, outcome: PacedOutcome): void {
    this.pacer(ticket.category).record(ticket, outcome);
  }

  state(): Record<DuoRateCategory, CategoryPacingState> {
    return Object.fromEntries(DUO_RATE_CATEGORIES.map((c) => [c, this.pacer(c).state()])) as Record<DuoRateCategory, CategoryPacingState>;
  }

  private pacer(category: DuoRateCategory): CategoryPacer {
    const p = this.categories.get(category);
    if (!p) throw new RangeError(`unknown Duo rate category ${String(category)}`);
    return p;
  }
}

const sharedPacers = new Map<string, AccountPacer>();

/**
 * The process-wide pacer of one Duo account (API host + integration key), so every client of that
 * account in this process shares what it learnt, starting from Duo's known limits.
 */
export function sharedAccountPacer(signedHost: string, integrationKey: string): AccountPacer {
  const key = `${signedHost}\0${integrationKey}`;
  let pacer = sharedPacers.get(key);
  if (!pacer) {
    pacer = new AccountPacer({ limits: 'duo' });
    sharedPacers.set(key, pacer);
  }
  return pacer;
}
