/**
 * What every run workflow does around its own work: claim its configuration from the entity (so a
 * run started by hand obeys the same rules as one the entity starts), keep its DuoSyncOutcome search
 * attribute true at start, finish and failure, and tell the entity how it ended (`runFinished`).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { connectionWorkflowId, DuoSyncConnection, DuoSyncKind, DuoSyncOutcome, runFinishedSignal, type RunClaim, type RunFinished, type RunKind, type RunOutcome } from '../contract';
import { countsOf, type RunSummary } from '../domain/summary';
import { shortActivities } from './activity-options';
import { failureMessage } from './failures';

/** The connection and kind of a run, as set on child starts and upserted by the run itself. */
export function runSearchAttributes(connectionId: string, kind: RunKind) {
  return [
    { key: DuoSyncConnection, value: connectionId },
    { key: DuoSyncKind, value: kind },
  ];
}

/** Asks the entity for permission and configuration; its refusal becomes this run's failure, with the entity's own words. */
export async function claimFromEntity(connectionId: string, request: { kind: RunKind; dryRun: boolean; ruleId?: string }): Promise<RunClaim> {
  try {
    return await shortActivities.claimRun.executeWithOptions({ summary: `claim the run from connection/${connectionId}` }, [
      { connectionId, workflowId: workflowInfo().workflowId, ...request },
    ]);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const type = err.cause instanceof ApplicationFailure ? (err.cause.type ?? 'UnknownConnection') : 'UnknownConnection';
    throw ApplicationFailure.nonRetryable(failureMessage(err), type);
  }
}

interface RunMeta {
  connectionId: string;
  kind: RunKind;
  dryRun: boolean;
}

/** How a run ended, as the entity and the search attribute see it. */
export interface RunEnd {
  outcome: RunOutcome;
  summary: RunSummary;
  notes?: string[];
  inScopeByRule?: Record<string, number>;
}

/**
 * Runs a workflow body as one run: outcome `running` first, then the body's outcome, or `failed` /
 * `cancelled` if it throws (not on continue-as-new, which is the same run going on). Syncs and rule
 * deletions also report their end to the entity, which tracks them.
 */
export async function asRun<T>(meta: RunMeta, body: () => Promise<T>, endOf: (result: T) => RunEnd): Promise<T> {
  upsertSearchAttributes([...runSearchAttributes(meta.connectionId, meta.kind), { key: DuoSyncOutcome, value: 'running' }]);
  let result: T;
  try {
    result = await body();
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    const outcome = isCancellation(err) ? 'cancelled' : 'failed';
    upsertSearchAttributes([{ key: DuoSyncOutcome, value: outcome }]);
    await report(meta, { outcome, note: failureMessage(err) });
    throw err;
  }
  const end = endOf(result);
  upsertSearchAttributes([{ key: DuoSyncOutcome, value: end.outcome }]);
  const note = end.notes?.length ? end.notes.join('; ') : undefined;
  const outcome = end.outcome === 'failed' || end.outcome === 'partial' || end.outcome === 'cancelled' ? end.outcome : 'succeeded';
  await report(meta, { outcome, counts: countsOf(end.summary), ...(note ? { note } : {}), ...(end.inScopeByRule ? { inScopeByRule: end.inScopeByRule } : {}) });
  return result;
}

const TRACKED: readonly RunKind[] = ['fullSync', 'inboundSync', 'deleteRule'];

async function report(meta: RunMeta, end: Omit<RunFinished, 'workflowId' | 'kind' | 'dryRun'>): Promise<void> {
  if (!TRACKED.includes(meta.kind)) return;
  const finished: RunFinished = { workflowId: workflowInfo().workflowId, kind: meta.kind, dryRun: meta.dryRun, ...end, ...(end.note ? { note: end.note.slice(0, 2000) } : {}) };
  // Even a cancelled run says so: the entity would otherwise wait for it until its next check.
  await CancellationScope.nonCancellable(async () => {
    try {
      await getExternalWorkflowHandle(connectionWorkflowId(meta.connectionId)).signal(runFinishedSignal, finished);
    } catch (err) {
      log.warn('could not report the end of this run to its connection', { connectionId: meta.connectionId, error: failureMessage(err) });
    }
  });
}
