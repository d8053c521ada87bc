/**
 * The messages of duo-sync's workflows (names are public: ops type them in the Web UI) and the zod
 * schema of every payload. Handlers and senders import both from here, so a payload is validated
 * the same way on each side; one message name carries one payload shape.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';
import { SlugSchema, type ConnectionConfig, type Rule } from '../domain/connection';
import { isDeletionSetHash } from '../domain/guards';
import { RunCountsSchema, type Failure, type RunSummary } from '../domain/summary';
import type { ConnectionStatus, ConnectionTestResult, RunClaim, RunProgress, SyncNowResult } from './status';
import type { RequestedBy } from './operations';

export const UsernameSchema = z.string().trim().min(1, 'username is required').max(512, 'username is too long');

/**
 * `previousUsername`: the user's username before a rename in the store. The Duo user with that
 * name, if this rule owns it for the same store id, is renamed in place; without it the reconcile
 * finds the renamed user by its store id (one pass over Duo's users) before it would create one.
 */
export const UserChangeSchema = z.object({ username: UsernameSchema, previousUsername: UsernameSchema.optional(), ruleId: SlugSchema.optional() }).strict();
export type UserChange = z.infer<typeof UserChangeSchema>;

/** A store group: its externalId or its name (matched case-insensitively). */
export const GroupRefSchema = z.string().trim().min(1, 'group (a store group id or name) is required').max(512, 'group is too long');
export const GroupChangeSchema = z.object({ group: GroupRefSchema, ruleId: SlugSchema.optional() }).strict();
export type GroupChange = z.infer<typeof GroupChangeSchema>;
/** `group` is informational: the user's memberships are read from the store as a whole. */
export const MembershipChangeSchema = z.object({ username: UsernameSchema, group: GroupRefSchema.optional() }).strict();
export type MembershipChange = z.infer<typeof MembershipChangeSchema>;

export const SyncNowSchema = z.object({ ruleId: SlugSchema.optional(), dryRun: z.boolean().default(false), reason: z.string().max(200).optional() }).strict();
export type SyncNowRequest = z.input<typeof SyncNowSchema>;

/** Restore what one run sent to Duo's Trash (removeAction `trash`): its workflow id. */
export const RestoreDeletionsSchema = z.object({ runId: z.string().trim().min(1, 'runId (the run\'s workflow id) is required').max(400) }).strict();
export type RestoreDeletionsRequest = z.infer<typeof RestoreDeletionsSchema>;
export interface RestoreDeletionsResult {
  runId: string;
  /** Users taken out of Trash. */
  restored: number;
  /** Listed users no longer in Trash (restored already) or no longer this connection's: left alone. */
  skipped: number;
  /** Listed users that could not be restored (purged after 7 days, or Duo refused). */
  failed: number;
  failures: Failure[];
  /** Users the run trashed beyond the list it keeps (MAX_TRASHED): restore those in the Duo Admin Panel. */
  notListed: number;
}

export const DeleteRuleSchema = z.object({ ruleId: SlugSchema }).strict();
export type DeleteRuleRequest = z.infer<typeof DeleteRuleSchema>;

export const DeletionSetHashSchema = z.string().refine(isDeletionSetHash, 'must be the 16-hex-digit deletionSetHash the run shows in status');

/**
 * A decision on a run waiting at the deletion guard. The same payload goes to the entity (update)
 * and to the run (signal): it names the run and the exact deletion set, and `decision` is closed.
 */
export const DeletionDecisionSchema = z
  .object({
    runId: z.string().min(1, 'runId (the workflow id of the run awaiting approval) is required'),
    deletionSetHash: DeletionSetHashSchema,
    /** Omitted means approve: the hash alone already names exactly what is approved. */
    decision: z.enum(['approve', 'skip']).default('approve'),
  })
  .strict();
export type DeletionDecision = z.infer<typeof DeletionDecisionSchema>;
export type DeletionDecisionInput = z.input<typeof DeletionDecisionSchema>;

export const PauseSchema = z.object({ reason: z.string().max(200).optional() }).strict();
export type PauseRequest = z.infer<typeof PauseSchema>;
export const ResumeSchema = z.object({}).strict();

const RunKindSchema = z.enum(['fullSync', 'inboundSync', 'reconcileUser', 'reconcileGroup', 'deleteRule']);
export const RunOutcomeSchema = z.enum(['succeeded', 'failed', 'partial', 'cancelled', 'running', 'awaitingApproval']);

/** What a run tells its entity as it goes: counters and phase only (failure lists stay in the run). */
export const RunProgressSchema = z
  .object({
    workflowId: z.string().min(1),
    phase: z.enum(['upsert', 'deprovisionPlan', 'awaitingApproval', 'deprovisionApply', 'done']),
    pagesDone: z.number().int().min(0),
    usersSeen: z.number().int().min(0),
    counts: RunCountsSchema,
    awaitingApproval: z
      .object({
        plannedDeletions: z.number().int().min(0),
        /** Existing Duo users the run would adopt; the same approval (by deletionSetHash) covers them. */
        plannedAdoptions: z.number().int().min(0).optional(),
        ownedCount: z.number().int().min(0),
        deletionSetHash: DeletionSetHashSchema,
        reason: z.string().max(2000),
      })
      .strict()
      .optional(),
    note: z.string().max(2000).optional(),
  })
  .strict();

/** The last thing a run does: tell its entity how it ended, so no one has to wait on it. */
export const RunFinishedSchema = z
  .object({
    workflowId: z.string().min(1),
    kind: RunKindSchema,
    outcome: RunOutcomeSchema.exclude(['running', 'awaitingApproval']),
    dryRun: z.boolean(),
    counts: RunCountsSchema.optional(),
    /** Users read in scope per rule when the whole store read was complete (the source-health baseline). */
    inScopeByRule: z.record(z.string(), z.number().int().min(0)).optional(),
    note: z.string().max(2000).optional(),
  })
  .strict();
export type RunFinished = z.infer<typeof RunFinishedSchema>;

/** A run asks its entity for permission and configuration before it touches anything. */
export const ClaimRunSchema = z
  .object({ workflowId: z.string().min(1), kind: RunKindSchema, dryRun: z.boolean(), ruleId: SlugSchema.optional() })
  .strict();
export type ClaimRunRequest = z.infer<typeof ClaimRunSchema>;

// ---- connectionWorkflow --------------------------------------------------------------------

export const configureUpdate = defineUpdate<{ applied: true; rules: number }, [ConnectionConfig, RequestedBy?]>('configure');
export const upsertRuleUpdate = defineUpdate<{ applied: true; rules: number }, [Rule, RequestedBy?]>('upsertRule');
export const deleteRuleUpdate = defineUpdate<{ workflowId: string }, [DeleteRuleRequest, RequestedBy?]>('deleteRule');
export const testConnectionUpdate = defineUpdate<ConnectionTestResult, []>('testConnection');
export const syncNowUpdate = defineUpdate<SyncNowResult, [SyncNowRequest]>('syncNow');
export const syncUserUpdate = defineUpdate<RunSummary, [UserChange]>('syncUser');
/** Takes the users a finished run sent to Trash out of it again (within Duo's 7 days). */
export const restoreDeletionsUpdate = defineUpdate<RestoreDeletionsResult, [RestoreDeletionsRequest, RequestedBy?]>('restoreDeletions');
export const approveDeletionsUpdate = defineUpdate<{ forwardedTo: string }, [DeletionDecisionInput, RequestedBy?]>('approveDeletions');
/** Internal: a run (started by the entity or by hand) registers with its entity and gets its configuration. */
export const claimRunUpdate = defineUpdate<RunClaim, [ClaimRunRequest]>('claimRun');

export const userChangedSignal = defineSignal<[UserChange]>('userChanged');
export const userDeletedSignal = defineSignal<[UserChange]>('userDeleted');
/** A store group was created, renamed or its members changed: duo-sync reconciles that group and its memberships. */
export const groupChangedSignal = defineSignal<[GroupChange]>('groupChanged');
/** A store group was deleted: duo-sync re-reads the store and deletes the owned Duo group if the group is gone. */
export const groupDeletedSignal = defineSignal<[GroupChange]>('groupDeleted');
/** A user's group memberships changed: duo-sync reconciles that user (memberships included). */
export const membershipChangedSignal = defineSignal<[MembershipChange]>('membershipChanged');
export const syncNowSignal = defineSignal<[SyncNowRequest]>('syncNow');
export const pauseSignal = defineSignal<[PauseRequest, RequestedBy?]>('pause');
export const resumeSignal = defineSignal<[z.input<typeof ResumeSchema>?, RequestedBy?]>('resume');
/** Internal, from a run to its entity: counters only. */
export const runProgressSignal = defineSignal<[RunProgress]>('runProgress');
/** Internal, from a run to its entity: how it ended. */
export const runFinishedSignal = defineSignal<[RunFinished]>('runFinished');

export const statusQuery = defineQuery<ConnectionStatus>('status');
/** The saved configuration (secret *references* only). */
export const configQuery = defineQuery<ConnectionConfig | null>('config');

// ---- runs (fullSyncWorkflow, inboundSyncWorkflow, deleteRuleWorkflow) ------------------------

/** The same name and payload as the entity's update, sent straight to the run. */
export const approveDeletionsSignal = defineSignal<[DeletionDecisionInput]>('approveDeletions');
export const progressQuery = defineQuery<RunProgress>('progress');
