/**
 * `sync now --wait`: follows one full sync to its end. Progress comes from polling the connection's
 * `status` query (current run phase, pages, users seen); the total is only known from the last good
 * run's in-scope count, so without it the bar is a counter. The final word is the run's own result
 * (followed across continue-as-new); a run that stops to await deletion approval ends the wait.
 */
import { TemporalFailure } from '@temporalio/common';
import { SingleBar } from 'cli-progress';
import { connectionStatus, type DuoSyncClient } from '../client';
import type { FullSyncResult, RunProgress } from '../contract';
import type { CliIo } from './io';

export type WaitOutcome =
  | { kind: 'finished'; result: FullSyncResult }
  | { kind: 'failed'; message: string }
  | { kind: 'awaitingApproval'; progress: RunProgress };

export interface WaitOptions {
  dsc: DuoSyncClient;
  connectionId: string;
  workflowId: string;
  io: CliIo;
  /** Show progress (a bar on a TTY, phase lines otherwise); off in --json mode. */
  progress: boolean;
  pollMs: number;
}

/** The innermost readable message of a workflow failure chain. */
export function failureText(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  let current: unknown = err;
  while (current instanceof Error && current.cause instanceof Error) {
    current = current.cause;
    if (current instanceof TemporalFailure || current instanceof Error) message = `${message}: ${current.message}`;
  }
  return message;
}

class ProgressView {
  private bar: SingleBar | undefined;
  private lastPhase: string | undefined;

  constructor(
    private readonly io: CliIo,
    private readonly enabled: boolean,
    private readonly workflowId: string,
  ) {}

  update(progress: RunProgress | undefined, expectedUsers: number | undefined): void {
    if (!this.enabled || !progress) return;
    const payload = { phase: progress.phase, pages: progress.pagesDone };
    if (this.io.stderr.isTTY) {
      if (!this.bar) {
        const known = expectedUsers !== undefined && expectedUsers > 0;
        this.bar = new SingleBar({
          stream: this.io.stderr,
          format: known
            ? `${this.workflowId} [{bar}] {value}/{total} users | {pages} pages | {phase}`
            : `${this.workflowId} {value} users | {pages} pages | {phase} | {duration_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
        });
        this.bar.start(known ? expectedUsers : 1, progress.usersSeen, payload);
      }
      if (progress.usersSeen > this.bar.getTotal() && this.bar.getTotal() > 1) this.bar.setTotal(progress.usersSeen);
      this.bar.update(progress.usersSeen, payload);
    } else if (progress.phase !== this.lastPhase) {
      this.io.stderr.write(`${this.workflowId}: ${progress.phase} (${progress.usersSeen} users, ${progress.pagesDone} pages)\n`);
    }
    this.lastPhase = progress.phase;
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** The last good run's users in scope over all rules: the bar's total, when known. */
function expectedUsers(byRule: Record<string, number>): number | undefined {
  const counts = Object.values(byRule);
  return counts.length ? counts.reduce((a, b) => a + b, 0) : undefined;
}

export async function waitForFullSync(options: WaitOptions): Promise<WaitOutcome> {
  const { dsc, connectionId, workflowId } = options;
  let outcome: WaitOutcome | undefined;
  const finished = (dsc.client.workflow
    .getHandle(workflowId)
    .result() as Promise<FullSyncResult>)
    .then(
      (result: FullSyncResult): WaitOutcome => (outcome = { kind: 'finished', result }),
      (err: unknown): WaitOutcome => (outcome = { kind: 'failed', message: failureText(err) }),
    );
  const view = new ProgressView(options.io, options.progress, workflowId);
  try {
    while (outcome === undefined) {
      try {
        const status = await connectionStatus(dsc, connectionId);
        const run = status.currentRun?.workflowId === workflowId ? status.currentRun : undefined;
        view.update(run, expectedUsers(status.lastGoodInScopeByRule));
        if (run?.phase === 'awaitingApproval' && outcome === undefined) return { kind: 'awaitingApproval', progress: run };
      } catch {
        // Progress is best effort; the run's result decides the outcome.
      }
      await Promise.race([finished, new Promise((r) => setTimeout(r, options.pollMs))]);
    }
    return outcome;
  } finally {
    view.stop();
  }
}
