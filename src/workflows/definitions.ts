/**
 * The public Temporal contract of duo-sync (DESIGN §2): message names and payload schemas shared by
 * the workflows (handlers) and by clients/CLI (senders). Names are stable: ops type them in the UI.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { ConnectionConfigSchema, RuleSchema, SlugSchema, type ConnectionConfig, type Rule } from '../domain/connection';
import { RunSummarySchema, type RunSummary } from '../domain/summary';

const slug = SlugSchema;
export const UsernameSchema = z.string().trim().min(1, 'username is required').max(512, 'username is too long');

// ---- payloads ---------------------------------------------------------------------------------

export const UserChangeSchema = z.object({ username: UsernameSchema, ruleId: slug.optional() }).strict();
export type UserChange = z.infer<typeof UserChangeSchema>;

/** A store group: its externalId or its name (matched case-insensitively). */
export const GroupRefSchema = z.string().trim().min(1, 'group (a store group id or name) is required').max(512, 'group is too long');
export const GroupChangeSchema = z.object({ group: GroupRefSchema, ruleId: slug.optional() }).strict();
export type GroupChange = z.infer<typeof GroupChangeSchema>;
/** `group` is informational: the user's memberships are read from the store as a whole. */
export const MembershipChangeSchema = z.object({ username: UsernameSchema, group: GroupRefSchema.optional() }).strict();
export type MembershipChange = z.infer<typeof MembershipChangeSchema>;

export const SyncNowSchema = z
  .object({ ruleId: slug.optional(), dryRun: z.boolean().default(false), reason: z.string().max(200).optional() })
  .strict();
export type SyncNowRequest = z.input<typeof SyncNowSchema>;

export const DeleteRuleSchema = z.object({ ruleId: slug }).strict();
export const ApproveDeletionsSchema = z
  .object({
    runId: z.string().min(1, 'runId (the full sync workflow id awaiting approval) is required'),
    deletionSetHash: z.string().min(1).optional(),
    decision: z.enum(['approve', 'skip']).default('approve'),
  })
  .strict();
export type ApproveDeletionsRequest = z.input<typeof ApproveDeletionsSchema>;
export const PauseSchema = z.object({ reason: z.string().max(200).optional() }).strict();

export interface SyncNowResult {
  /** Workflow id of the full sync that will include this request. */
  workflowId: string;
  /** True when a full sync was already running: the request runs right after it. */
  queued: boolean;
}

export interface ConnectionTestResult {
  ok: boolean;
  testedAt: string;
  checks: { name: 'reachable' | 'credentials' | 'read' | 'write' | 'store'; ok: boolean; message: string }[];
}

export type RunKind = 'fullSync' | 'inboundSync' | 'reconcileUser' | 'reconcileGroup' | 'deleteRule';
export type RunOutcome = 'succeeded' | 'failed' | 'partial' | 'cancelled' | 'running' | 'awaitingApproval';

export interface RunRecord {
  kind: RunKind;
  workflowId: string;
  startedAt: string;
  finishedAt?: string;
  outcome: RunOutcome;
  dryRun?: boolean;
  summary?: RunSummary;
  note?: string;
}

export type FullSyncPhase = 'upsert' | 'deprovisionPlan' | 'awaitingApproval' | 'deprovisionApply' | 'done';

export interface FullSyncProgress {
  workflowId: string;
  phase: FullSyncPhase;
  pagesDone: number;
  usersSeen: number;
  summary: RunSummary;
  awaitingApproval?: { plannedDeletions: number; ownedCount: number; deletionSetHash: string; reason: string };
  note?: string;
}

export interface ConnectionStatus {
  connectionId: string;
  configured: boolean;
  enabled: boolean;
  paused: boolean;
  pauseReason?: string;
  connectionTest?: ConnectionTestResult;
  rules: { id: string; direction: Rule['direction'] }[];
  currentRun?: FullSyncProgress;
  syncQueued: boolean;
  nextFullSyncAt?: string;
  lastRuns: RunRecord[];
  pendingChanges: number;
  reconcilesInFlight: number;
  lastGoodInScopeCount?: number;
  recentEvents: { at: string; message: string }[];
}

// ---- connectionWorkflow messages -------------------------------------------------------------

export const configureUpdate = defineUpdate<{ applied: true; rules: number }, [ConnectionConfig]>('configure');
export const upsertRuleUpdate = defineUpdate<{ applied: true; rules: number }, [Rule]>('upsertRule');
export const deleteRuleUpdate = defineUpdate<{ workflowId: string }, [{ ruleId: string }]>('deleteRule');
export const testConnectionUpdate = defineUpdate<ConnectionTestResult, []>('testConnection');
export const syncNowUpdate = defineUpdate<SyncNowResult, [SyncNowRequest]>('syncNow');
export const syncUserUpdate = defineUpdate<RunSummary, [UserChange]>('syncUser');
export const approveDeletionsUpdate = defineUpdate<{ forwardedTo: string }, [ApproveDeletionsRequest]>('approveDeletions');

export const userChangedSignal = defineSignal<[UserChange]>('userChanged');
export const userDeletedSignal = defineSignal<[UserChange]>('userDeleted');
/** A store group was created, renamed or its members changed: duo-sync reconciles that group and its memberships. */
export const groupChangedSignal = defineSignal<[GroupChange]>('groupChanged');
/** A store group was deleted: duo-sync re-reads the store and deletes the owned Duo group if the group is gone. */
export const groupDeletedSignal = defineSignal<[GroupChange]>('groupDeleted');
/** A user's group memberships changed: duo-sync reconciles that user (memberships included). */
export const membershipChangedSignal = defineSignal<[MembershipChange]>('membershipChanged');
export const syncNowSignal = defineSignal<[SyncNowRequest]>('syncNow');
export const pauseSignal = defineSignal<[{ reason?: string }]>('pause');
export const resumeSignal = defineSignal<[]>('resume');
/** Sent by a full sync child to its parent so `status` shows live progress without polling. */
export const fullSyncProgressSignal = defineSignal<[FullSyncProgress]>('fullSyncProgress');

export const statusQuery = defineQuery<ConnectionStatus>('status');
/** The saved configuration (secret *references* only), for runs started by hand from the Web UI. */
export const configQuery = defineQuery<ConnectionConfig | null>('config');

// ---- fullSyncWorkflow messages ---------------------------------------------------------------

export const approveDeletionsSignal = defineSignal<[{ deletionSetHash?: string; decision: 'approve' | 'skip' }]>('approveDeletions');
export const progressQuery = defineQuery<FullSyncProgress>('progress');

export { ConnectionConfigSchema, RuleSchema, RunSummarySchema };
