/**
 * What the entity reports: the `status` query, run records, connection-test results and the answers
 * of its updates. Schemas where the value is carried through continue-as-new or crosses a boundary.
 */
import { z } from 'zod';
import type { ConnectionConfig, Rule } from '../domain/connection';
import { RunCountsSchema } from '../domain/summary';
import type { RunKind } from './ids';
import type { RunProgressSchema, RunOutcomeSchema } from './messages';

export type { RunKind } from './ids';
export type RunOutcome = z.infer<typeof RunOutcomeSchema>;
export type RunProgress = z.infer<typeof RunProgressSchema>;
export type RunPhase = RunProgress['phase'];

export const ConnectionTestResultSchema = z.object({
  ok: z.boolean(),
  testedAt: z.string(),
  checks: z.array(z.object({ name: z.enum(['reachable', 'credentials', 'read', 'write', 'store']), ok: z.boolean(), message: z.string() })),
});
export type ConnectionTestResult = z.infer<typeof ConnectionTestResultSchema>;

export const RunRecordSchema = z.object({
  kind: z.enum(['fullSync', 'inboundSync', 'reconcileUser', 'reconcileGroup', 'deleteRule']),
  workflowId: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  outcome: z.enum(['succeeded', 'failed', 'partial', 'cancelled', 'running', 'awaitingApproval']),
  dryRun: z.boolean().optional(),
  /** Counters only: the run's own result (open it in the Web UI) lists the failures. */
  counts: RunCountsSchema.optional(),
  note: z.string().optional(),
  /** True for runs started by hand (from the Web UI or a script) rather than by the entity. */
  byHand: z.boolean().optional(),
});
export type RunRecord = z.infer<typeof RunRecordSchema>;

export interface SyncNowResult {
  /** Workflow id of the sync that will include this request. */
  workflowId: string;
  /** True when a sync was already running: the request runs right after it. */
  queued: boolean;
}

/** The entity's answer to a run's claim: the configuration to run with, and what the run needs of the entity's memory. */
export interface RunClaim {
  config: ConnectionConfig;
  /** In-scope users per rule of the last healthy full sync: the source-health gate's baseline. */
  lastGoodInScopeByRule: Record<string, number>;
  /** For a rule deletion: the deleted rule's definition, when the entity still knows it. */
  deletedRule?: Rule;
  /** Length of a "minute" for the run's timers (approval timeout): shortened only in tests. */
  minuteMs: number;
}

export interface ConnectionStatus {
  connectionId: string;
  /** The configuration's `description`, when it has one. */
  description?: string;
  configured: boolean;
  enabled: boolean;
  paused: boolean;
  pauseReason?: string;
  connectionTest?: ConnectionTestResult;
  rules: { id: string; direction: Rule['direction']; description?: string }[];
  /** Set once `deleteConnection` was sent: the entity ends when its rule deletions succeeded; failed ones are retried by sending it again. */
  deleting?: { requestedAt: string; failedRuleDeletions: string[] };
  /** Notifications waiting for a webhook (see `notifications` in the configuration). */
  notificationsQueued?: number;
  /** The sync (full or inbound) in flight, with its latest progress. */
  currentRun?: RunProgress;
  /** Every run the entity is waiting to hear from (syncs and rule deletions), with its latest progress. */
  runsInFlight: { kind: RunKind; workflowId: string; startedAt: string; progress: RunProgress }[];
  syncQueued: boolean;
  nextFullSyncAt?: string;
  lastRuns: RunRecord[];
  pendingChanges: number;
  reconcilesInFlight: number;
  lastGoodInScopeByRule: Record<string, number>;
  recentEvents: { at: string; message: string }[];
}
