/**
 * Client-side pacing for one Duo account: a token bucket that spaces requests to at most `rate`
 * per second (bursts up to `burst`). Duo's Admin API limit is per account and unpublished; when an
 * operator knows it, pacing a little under it keeps a sync at full speed without 429s, each of
 * which costs a back-off of a second or more (DESIGN §3).
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
