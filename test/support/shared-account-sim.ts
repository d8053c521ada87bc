/**
 * Worker processes sharing one Duo account's rate category, on virtual time: each process has its
 * own AccountPacer (as separate processes do) and a few lanes sending one request at a time, and
 * the account is the sandbox's own TokenBucket (src/sandbox/faults.ts) with a minute's burst. A 429
 * is retried after the activities' back-off (suggestedRetryDelayMs). Seconds of traffic take
 * milliseconds of CPU, so a test can judge pacing over minutes of simulated sending, deterministically.
 */
import { AccountPacer } from '../../src/duo';
import { DuoError, suggestedRetryDelayMs } from '../../src/duo/errors';
import type { DuoRateCategory } from '../../src/duo/rate-categories';
import { TokenBucket } from '../../src/sandbox/faults';
import { seededRandom } from '../../src/sandbox/random';

export interface SharedAccountRun {
  processes: number;
  /** Lanes: connections, each running one page activity at a time and sending one request at a time. */
  lanes: number;
  /** Requests per page activity; each page goes to a process at random, as Temporal hands activities to pollers. */
  callsPerPage: number;
  /** Accepted requests to send over all lanes. */
  calls: number;
  category: DuoRateCategory;
  limitPerMinute: number;
  timeScale: number;
  /** Seconds of unscaled traffic the account's bucket holds (the sandbox's default is 60). */
  burstSeconds: number;
  /** Time from sending to the account's verdict, and from there to the answer. */
  requestMs: number;
  /** Lanes start within this many ms of each other. */
  startSpreadMs?: number;
  seed: number;
}

export interface SharedAccountResult {
  accepted: number;
  rateLimited: number;
  seconds: number;
  /** Accepted requests ÷ (limit × seconds), as bench/duo-scenarios.ts reports it (the bucket's initial burst counts). */
  utilisation: number;
  /** The same without the initial burst: what steady pacing achieved. */
  steadyUtilisation: number;
}

export async function simulateSharedAccount(run: SharedAccountRun): Promise<SharedAccountResult> {
  const random = seededRandom(run.seed);
  let now = 0;
  let order = 0;
  const timers: { at: number; order: number; resolve: () => void }[] = [];
  const clock = () => now;
  const sleep = (ms: number) => new Promise<void>((resolve) => timers.push({ at: now + Math.max(0, ms), order: order++, resolve }));

  const burst = Math.max(1, (run.limitPerMinute * run.burstSeconds) / 60);
  const perSecond = (run.limitPerMinute / 60) * run.timeScale;
  const bucket = new TokenBucket({ requestsPerSecond: perSecond, burst }, clock);
  const pacers = Array.from({ length: run.processes }, () => new AccountPacer({ limits: { [run.category]: run.limitPerMinute }, timeScale: run.timeScale, clock, sleep }));
  let accepted = 0;
  let rateLimited = 0;
  let lanesDone = 0;
  const share = run.calls / run.lanes;

  const lane = async (index: number): Promise<void> => {
    await sleep(random() * (run.startSpreadMs ?? 200));
    let pacer = pacers[index % run.processes] as AccountPacer;
    for (let sent = 0; sent < share; sent++) {
      // Each page of requests is an activity any process polling the task queue may take.
      if (sent % run.callsPerPage === 0) pacer = pacers[Math.floor(random() * run.processes)] as AccountPacer;
      for (let attempt = 1; ; attempt++) {
        const ticket = await pacer.take(run.category);
        // Network and server time vary (uniformly ±50% here), so lanes do not lock into one phase.
        await sleep((run.requestMs / 2) * (0.5 + random()));
        const ok = bucket.take();
        await sleep((run.requestMs / 2) * (0.5 + random()));
        if (ok) {
          pacer.record(ticket, 'ok');
          accepted += 1;
          break;
        }
        pacer.record(ticket, 'rateLimited');
        rateLimited += 1;
        const err = new DuoError({ kind: 'rateLimited', operation: 'simulated', method: 'POST', path: '/admin/v1/bulk', httpStatus: 429 });
        await sleep(suggestedRetryDelayMs(err, attempt, random) ?? 1000);
      }
    }
    lanesDone += 1;
  };

  const running = Promise.all(Array.from({ length: run.lanes }, (_, i) => lane(i)));
  while (lanesDone < run.lanes) {
    // Let every lane and pacer run until each waits on a timer, then move time to the next one.
    await new Promise((resolve) => setImmediate(resolve));
    if (lanesDone === run.lanes) break;
    timers.sort((a, b) => a.at - b.at || a.order - b.order);
    const next = timers.shift();
    if (!next) continue;
    now = next.at;
    next.resolve();
  }
  await running;
  const seconds = now / 1000;
  return { accepted, rateLimited, seconds, utilisation: accepted / (perSecond * seconds), steadyUtilisation: Math.max(0, accepted - burst) / (perSecond * seconds) };
}
