/**
 * What run workflows report for metrics, through a Temporal workflow sink (not recorded in history,
 * not called on replay): how each run ended, how long its chain took, and what it changed.
 */
import type { Sinks } from '@temporalio/workflow';
import type { RunKind } from '../contract/ids';

export interface RunEndedMetric {
  connectionId: string;
  kind: RunKind;
  outcome: string;
  dryRun: boolean;
  /** From the start of the run's continue-as-new chain to its end, in workflow time. */
  seconds: number;
  /** What the run changed, by object and action (absent when the run failed before reporting). */
  changed?: { users: Record<string, number>; groups: Record<string, number> };
}

export interface DuoSyncMetricsSinks extends Sinks {
  duoSyncMetrics: {
    runEnded(run: RunEndedMetric): void;
  };
}
