/**
 * The public inputs and results of the run workflows. Inputs name a connection and what to do,
 * never a configuration: every run claims its configuration from the connection's entity, so a
 * run started by hand obeys the same rules (enabled, paused, connection test, one sync at a time)
 * as one the entity starts. Tuning fields exist for tests and benchmarks; `carried` is internal
 * (continue-as-new state), validated by the workflow itself.
 */
import { z } from 'zod';
import { ConnectionConfigSchema, SlugSchema } from '../domain/connection';
import type { RunSummary } from '../domain/summary';
import { GroupRefSchema, UsernameSchema } from './messages';
import type { RunOutcome } from './status';

/** The entity's input: usually just `{connectionId}` (then send `configure`); `carried` is its continue-as-new state. */
export const ConnectionWorkflowInputSchema = z
  .object({
    connectionId: SlugSchema,
    config: ConnectionConfigSchema.optional(),
    /** Internal: the entity's state through continue-as-new, validated by the entity itself. */
    carried: z.unknown().optional(),
    /** Tuning for tests; defaults suit production. */
    maxConcurrentReconciles: z.number().int().min(1).max(100).default(10),
    historyEventBudget: z.number().int().min(100).max(40_000).default(10_000),
    minuteMs: z.number().int().min(100).max(60_000).default(60_000),
  })
  .strict();
export type ConnectionWorkflowInput = z.input<typeof ConnectionWorkflowInputSchema>;


const pagesPerRun = z.number().int().min(1).max(1000).default(50);

export const FullSyncInputSchema = z
  .object({
    connectionId: SlugSchema,
    ruleId: SlugSchema.optional(),
    dryRun: z.boolean().default(false),
    pageSize: z.number().int().min(1).max(100).default(100),
    duoPageSize: z.number().int().min(1).max(300).default(300),
    pagesPerRun,
    carried: z.unknown().optional(),
  })
  .strict();
export type FullSyncInput = z.input<typeof FullSyncInputSchema>;

export const InboundSyncInputSchema = z
  .object({
    connectionId: SlugSchema,
    /** The inbound rule to run; absent = the connection's inbound rule. */
    ruleId: SlugSchema.optional(),
    dryRun: z.boolean().default(false),
    /** Duo users per page (Duo's maximum for listing users is 300). */
    duoPageSize: z.number().int().min(1).max(300).default(300),
    storePageSize: z.number().int().min(1).max(1000).default(100),
    pagesPerRun,
    carried: z.unknown().optional(),
  })
  .strict();
export type InboundSyncInput = z.input<typeof InboundSyncInputSchema>;

export const DeleteRuleInputSchema = z
  .object({
    connectionId: SlugSchema,
    /** A rule the entity no longer has: deleted through the deleteRule update (or earlier, for a cleanup re-run). */
    ruleId: SlugSchema,
    duoPageSize: z.number().int().min(1).max(300).default(300),
    storePageSize: z.number().int().min(1).max(1000).default(100),
    pagesPerRun,
    carried: z.unknown().optional(),
  })
  .strict();
export type DeleteRuleInput = z.input<typeof DeleteRuleInputSchema>;

export const ReconcileUserInputSchema = z
  .object({ connectionId: SlugSchema, username: UsernameSchema, previousUsername: UsernameSchema.optional(), ruleId: SlugSchema.optional(), dryRun: z.boolean().default(false) })
  .strict();
export type ReconcileUserInput = z.input<typeof ReconcileUserInputSchema>;

export const ReconcileGroupInputSchema = z
  .object({
    connectionId: SlugSchema,
    group: GroupRefSchema,
    ruleId: SlugSchema.optional(),
    dryRun: z.boolean().default(false),
    pageSize: z.number().int().min(1).max(100).default(100),
    pagesPerRun,
    carried: z.unknown().optional(),
  })
  .strict();
export type ReconcileGroupInput = z.input<typeof ReconcileGroupInputSchema>;

export const HealthCheckInputSchema = z.object({ echo: z.string().max(200).default('ping') }).strict();
export type HealthCheckInput = z.input<typeof HealthCheckInputSchema>;

/** What every guarded, paged run (full sync, inbound sync, rule deletion) returns. */
export interface GuardedRunResult {
  connectionId: string;
  workflowId: string;
  outcome: RunOutcome;
  dryRun: boolean;
  summary: RunSummary;
  notes: string[];
  /** Whether the run's deprovisions went ahead (all approved ones applied) or were withheld (gate, guard, no approval). */
  deletions: 'pending' | 'applied' | 'withheld';
}

export interface FullSyncResult extends GuardedRunResult {
  /**
   * Existing Duo users this run planned to adopt (rules with `adopt`), exactly as the approval's
   * hash covers them: `id` is `adopt:<rule>:<Duo user id>:<store id>`. A dry run lists them too;
   * what was adopted is `summary.adopted`, what was refused and why `summary.adoptionConflicts`.
   */
  plannedAdoptions?: { id: string; label: string }[];
  /** Users read in scope from the store (all rules); `null` when the read was incomplete. */
  inScopeCount: number | null;
}

export interface InboundSyncResult extends GuardedRunResult {
  ruleId: string;
  /** Duo users inbound sync covered; `null` when the Duo read was incomplete. */
  duoCount: number | null;
}

export interface DeleteRuleResult extends GuardedRunResult {
  ruleId: string;
  /** True when the rule's users (and groups) were deprovisioned, false when only released. */
  deprovisioned: boolean;
}

export interface ReconcileUserResult {
  connectionId: string;
  summary: RunSummary;
}

export interface ReconcileGroupResult {
  connectionId: string;
  group: string;
  outcome: RunOutcome;
  /** Groups whose memberships were synced (one per rule that includes the group). */
  groupsSynced: number;
  summary: RunSummary;
}

export interface HealthCheckResult {
  echo: string;
  workerIdentity: string;
  activityAttempt: number;
}

/** The workflows' shapes, so clients get typed handles without importing workflow code. */
export type ConnectionWorkflowFn = (input: { connectionId: string }) => Promise<void>;
export type FullSyncWorkflowFn = (input: FullSyncInput) => Promise<FullSyncResult>;
export type InboundSyncWorkflowFn = (input: InboundSyncInput) => Promise<InboundSyncResult>;
export type DeleteRuleWorkflowFn = (input: DeleteRuleInput) => Promise<DeleteRuleResult>;
export type ReconcileUserWorkflowFn = (input: ReconcileUserInput) => Promise<ReconcileUserResult>;
export type ReconcileGroupWorkflowFn = (input: ReconcileGroupInput) => Promise<ReconcileGroupResult>;
export type HealthCheckWorkflowFn = (input?: HealthCheckInput) => Promise<HealthCheckResult>;
