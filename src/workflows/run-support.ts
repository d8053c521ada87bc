/**
 * Shared by the run workflows (full and inbound sync, user and group reconcile, delete rule, health check):
 * the search attributes that make a run findable, reading the connection's saved configuration for runs started by hand from the Web UI with only
 * `{"connectionId":…}`, and marking the DuoSyncOutcome of a run that throws, which would otherwise
 * keep whatever it had ("running") and hide from `DuoSyncOutcome="failed"`.
 */
import { ActivityFailure, ApplicationFailure, ContinueAsNew, isCancellation, upsertSearchAttributes } from '@temporalio/workflow';
import type { ConnectionConfig } from '../domain/connection';
import { DuoSyncConnection, DuoSyncKind, DuoSyncOutcome } from '../shared/search-attributes';
import { shortActivities } from './activity-options';
import type { RunKind } from './definitions';
import { failureMessage } from './failures';

/** The connection and kind of a run, as set on child starts and upserted by the run itself. */
export function runSearchAttributes(connectionId: string, kind: RunKind) {
  return [
    { key: DuoSyncConnection, value: connectionId },
    { key: DuoSyncKind, value: kind },
  ];
}

/** First thing a run does: say which connection and kind it is, and that it is running. */
export function markRunStarted(connectionId: string, kind: RunKind): void {
  upsertSearchAttributes([...runSearchAttributes(connectionId, kind), { key: DuoSyncOutcome, value: 'running' }]);
}

/**
 * The saved configuration of `connection/<connectionId>`, refused while the entity would not
 * provision (disabled, paused, test failing) or, for a full sync, runs one itself. The activity's
 * own reason becomes the run's failure message, so the UI shows it first.
 */
export async function configFromEntity(connectionId: string, run: { kind: RunKind; dryRun: boolean }): Promise<ConnectionConfig> {
  try {
    return await shortActivities.loadConnectionConfig.executeWithOptions({ summary: `read the configuration of connection/${connectionId}` }, [
      { connectionId, forRun: run },
    ]);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const type = err.cause instanceof ApplicationFailure ? (err.cause.type ?? 'UnknownConnection') : 'UnknownConnection';
    throw ApplicationFailure.nonRetryable(failureMessage(err), type);
  }
}

/** Runs a workflow body; if it throws (not continue-as-new), records `failed` or `cancelled` first. */
export async function recordingOutcome<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) {
      upsertSearchAttributes([{ key: DuoSyncOutcome, value: isCancellation(err) ? 'cancelled' : 'failed' }]);
    }
    throw err;
  }
}
