/**
 * SRE tools over workflow histories: download a history from Temporal (or read one saved from the
 * Web UI / `temporal workflow show --output json`), replay it against the current workflow code to
 * detect non-determinism before a deploy, and reset a run to a chosen workflow task through the raw
 * reset API (with the request id the server requires and the reapply policy made explicit).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Client } from '@temporalio/client';
import { IllegalStateError, type DataConverter } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { temporal } from '@temporalio/proto';
import Long from 'long';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { usageError } from './io';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const EventType = temporal.api.enums.v1.EventType;
const ResetReapplyType = temporal.api.enums.v1.ResetReapplyType;

export async function downloadHistory(client: Client, workflowId: string, runId?: string): Promise<History> {
  return client.workflow.getHandle(workflowId, runId).fetchHistory();
}

/** A history saved by the Web UI ("Download") or `temporal workflow show --output json`. */
export async function readHistoryFile(file: string): Promise<History> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`cannot read history file ${file} (${(err as NodeJS.ErrnoException).code ?? 'unknown error'})`);
  }
  try {
    return historyFromJSON(JSON.parse(text));
  } catch (err) {
    throw usageError(`${file} is not a Temporal history in JSON: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * The current workflow code (src/workflows under ts-node, lib/workflows when compiled), bundled once
 * per process and per failure converter (the encrypting one when payload encryption is on).
 */
function currentWorkflowBundle(failureConverterPath: string | undefined): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(failureConverterPath ?? '');
  if (!bundle) {
    bundle = bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), failureConverterPath, logger: new DefaultLogger('WARN') });
    bundles.set(failureConverterPath ?? '', bundle);
  }
  return bundle;
}

/**
 * Keeps the replay worker quiet (the CLI reports the replay error itself) unless the host process
 * (a test run, a worker) already set up its own runtime.
 */
function quietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } } });
  } catch (err) {
    if (!(err instanceof IllegalStateError)) throw err;
  }
}

export type ReplayOutcome = { ok: true; events: number } | { ok: false; events: number; nondeterministic: boolean; message: string };

/** Replays with the same data converter as the worker, so encrypted histories decode. */
export async function replayHistory(history: History, workflowId: string, dataConverter?: DataConverter): Promise<ReplayOutcome> {
  quietRuntime();
  const events = history.events?.length ?? 0;
  try {
    const workflowBundle = await currentWorkflowBundle(dataConverter?.failureConverterPath);
    await Worker.runReplayHistory({ workflowBundle, ...(dataConverter ? { dataConverter } : {}) }, history, workflowId);
    return { ok: true, events };
  } catch (err) {
    const name = err instanceof Error ? err.name : 'Error';
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, events, nondeterministic: name === 'DeterminismViolationError', message };
  }
}

function eventId(e: HistoryEvent): number {
  const id = e.eventId;
  if (id === null || id === undefined) return 0;
  return typeof id === 'number' ? id : id.toNumber();
}

const FAILURE_EVENTS = new Set<temporal.api.enums.v1.EventType>([
  EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
]);

/** Events the reset API accepts as `workflowTaskFinishEventId`. */
const RESETTABLE_EVENTS = new Set<temporal.api.enums.v1.EventType>([
  EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
]);

export type ResetPoint = 'first' | 'last' | 'before-failure';

function eventTypeName(type: temporal.api.enums.v1.EventType | null | undefined): string {
  return type === null || type === undefined ? 'UNKNOWN' : (EventType[type] ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

/**
 * The event to reset to. `before-failure` (the default) is the last completed workflow task before
 * the first failure event, or the last completed workflow task when nothing failed.
 */
export function chooseResetEvent(history: History, choice: { eventId?: number; to?: ResetPoint }): { eventId: number; why: string } {
  const events = history.events ?? [];
  const completed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
  if (choice.eventId !== undefined) {
    const event = events.find((e) => eventId(e) === choice.eventId);
    if (!event || !RESETTABLE_EVENTS.has(event.eventType ?? EventType.EVENT_TYPE_UNSPECIFIED)) {
      const candidates = completed.slice(-10).map(eventId).join(', ');
      throw usageError(
        `event ${choice.eventId} is ${event ? `a ${eventTypeName(event.eventType)} event` : 'not in this history'}; reset needs a WORKFLOW_TASK_COMPLETED (or _FAILED/_TIMED_OUT/_STARTED) event${candidates ? `, e.g. one of ${candidates}` : ''}`,
      );
    }
    return { eventId: choice.eventId, why: `event ${choice.eventId} (${eventTypeName(event.eventType)})` };
  }
  if (completed.length === 0) throw usageError('this run has no completed workflow task to reset to; pass --event-id');
  const to = choice.to ?? 'before-failure';
  if (to === 'first') return { eventId: eventId(completed[0] as HistoryEvent), why: 'the first workflow task' };
  const last = completed[completed.length - 1] as HistoryEvent;
  if (to === 'last') return { eventId: eventId(last), why: 'the last completed workflow task' };
  const failure = events.find((e) => FAILURE_EVENTS.has(e.eventType ?? EventType.EVENT_TYPE_UNSPECIFIED));
  if (!failure) return { eventId: eventId(last), why: 'the last completed workflow task (no failure in this run)' };
  const before = completed.filter((e) => eventId(e) < eventId(failure));
  const chosen = before[before.length - 1];
  if (!chosen) throw usageError(`the first failure (event ${eventId(failure)}, ${eventTypeName(failure.eventType)}) precedes every completed workflow task; pass --event-id`);
  return { eventId: eventId(chosen), why: `the last completed workflow task before the first failure (event ${eventId(failure)}, ${eventTypeName(failure.eventType)})` };
}

export type Reapply = 'signal' | 'none' | 'all';

const REAPPLY: Record<Reapply, temporal.api.enums.v1.ResetReapplyType> = {
  signal: ResetReapplyType.RESET_REAPPLY_TYPE_SIGNAL,
  none: ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
  all: ResetReapplyType.RESET_REAPPLY_TYPE_ALL_ELIGIBLE,
};

export interface ResetRequest {
  workflowId: string;
  runId: string;
  eventId: number;
  reason: string;
  reapply: Reapply;
}

/** Resets through the raw API; returns the new run id. */
export async function resetWorkflow(client: Client, request: ResetRequest): Promise<string> {
  const response = await client.workflowService.resetWorkflowExecution({
    namespace: client.options.namespace,
    workflowExecution: { workflowId: request.workflowId, runId: request.runId },
    workflowTaskFinishEventId: Long.fromNumber(request.eventId),
    reason: request.reason,
    requestId: randomUUID(),
    resetReapplyType: REAPPLY[request.reapply],
    identity: client.options.identity,
  });
  if (!response.runId) throw new Error('the server accepted the reset but returned no run id');
  return response.runId;
}

