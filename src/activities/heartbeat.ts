/**
 * Heartbeats that never lose progress: Temporal keeps only the latest heartbeat's details, so a
 * bare `heartbeat()` while waiting out a 429 would erase the page's resume point. `beat` re-sends
 * the last progress recorded for the current activity; `sleepWithBeats` waits in short slices so a
 * long back-off never trips the heartbeat timeout.
 */
import { Context, heartbeat, sleep } from '@temporalio/activity';

const lastDetails = new WeakMap<Context, unknown>();

export function beat(details?: unknown): void {
  const ctx = Context.current();
  if (details !== undefined) lastDetails.set(ctx, details);
  heartbeat(lastDetails.get(ctx));
}

/** beat() when called from an activity; elsewhere (the CLI, tests) nothing: there is nobody to tell. */
export function beatIfInActivity(): void {
  let inActivity = true;
  try {
    Context.current();
  } catch {
    inActivity = false;
  }
  if (inActivity) beat();
}

export async function sleepWithBeats(ms: number, sliceMs = 5_000): Promise<void> {
  for (let left = ms; left > 0; left -= sliceMs) {
    beat();
    await sleep(Math.min(left, sliceMs));
  }
  beat();
}
