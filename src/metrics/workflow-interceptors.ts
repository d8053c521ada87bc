/**
 * Workflow interceptor (bundled into the worker's workflow code): wraps each run workflow and reports
 * how it ended through the `duoSyncMetrics` sink. The outcome is the DuoSyncOutcome search attribute
 * the run set (src/workflows/run-support.ts `asRun`), so metrics and the Web UI agree. Sinks are not
 * part of history, so this changes nothing for replay.
 */
import { ContinueAsNew, isCancellation, proxySinks, workflowInfo, type Next, type WorkflowExecuteInput, type WorkflowInboundCallsInterceptor, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import type { RunKind } from '../contract/ids';
import { DuoSyncConnection, DuoSyncOutcome } from '../contract/search-attributes';
import type { DuoSyncMetricsSinks, RunEndedMetric } from './sinks';

const KIND_BY_WORKFLOW: Readonly<Record<string, RunKind>> = {
  fullSyncWorkflow: 'fullSync',
  inboundSyncWorkflow: 'inboundSync',
  reconcileUserWorkflow: 'reconcileUser',
  reconcileGroupWorkflow: 'reconcileGroup',
  deleteRuleWorkflow: 'deleteRule',
};
const USER_ACTIONS = ['created', 'updated', 'disabled', 'deleted'] as const;
const GROUP_ACTIONS = ['created', 'updated', 'deleted', 'membershipsAdded', 'membershipsRemoved'] as const;

const { duoSyncMetrics } = proxySinks<DuoSyncMetricsSinks>();

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

function changedBy(result: unknown): RunEndedMetric['changed'] {
  const summary = record(record(result)?.['summary']);
  if (!summary) return undefined;
  const groups = record(summary['groups']);
  const pick = (from: Record<string, unknown> | undefined, keys: readonly string[]) =>
    Object.fromEntries(keys.map((k) => [k, typeof from?.[k] === 'number' ? from[k] : 0])) as Record<string, number>;
  return { users: pick(summary, USER_ACTIONS), groups: pick(groups, GROUP_ACTIONS) };
}

class RunMetricsInterceptor implements WorkflowInboundCallsInterceptor {
  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const info = workflowInfo();
    const kind = KIND_BY_WORKFLOW[info.workflowType];
    if (!kind) return next(input);
    const args = record(input.args[0]);
    const report = (fallbackOutcome: string, result?: unknown) => {
      const attributes = workflowInfo().typedSearchAttributes;
      const connectionId = attributes.get(DuoSyncConnection) ?? (typeof args?.['connectionId'] === 'string' ? args['connectionId'] : 'unknown');
      const changed = changedBy(result);
      duoSyncMetrics.runEnded({
        connectionId,
        kind,
        outcome: fallbackOutcome === 'succeeded' ? (attributes.get(DuoSyncOutcome) ?? 'succeeded') : fallbackOutcome,
        dryRun: args?.['dryRun'] === true,
        seconds: Math.max(0, (Date.now() - info.startTime.getTime()) / 1000),
        ...(changed ? { changed } : {}),
      });
    };
    try {
      const result = await next(input);
      report('succeeded', result);
      return result;
    } catch (err) {
      // Continue-as-new is the same run going on: it ends in a later workflow run.
      if (!(err instanceof ContinueAsNew)) report(isCancellation(err) ? 'cancelled' : 'failed');
      throw err;
    }
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new RunMetricsInterceptor()] });
