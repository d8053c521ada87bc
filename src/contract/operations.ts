/**
 * Who asked, and what they changed: the audit trail's contract. Every message that changes a
 * connection (configure, rule changes, approvals, pause/resume, enable/disable, connection delete)
 * takes the caller's identity as an optional **second argument**, `{"identity": "alice@ops-host",
 * "via": "cli"}`; the CLI and src/client.ts always send it. The Web UI sends one value only, so a
 * message without it is recorded as `{"via": "web-ui"}`. Also here: the connection-delete update and
 * the audit query.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { z } from 'zod';

/** What a caller says about itself (second argument of a changing message). */
export const RequestedBySchema = z
  .object({
    identity: z.string().trim().min(1, 'identity is required').max(200, 'identity is too long'),
    via: z.enum(['cli', 'api']),
  })
  .strict();
export type RequestedBy = z.infer<typeof RequestedBySchema>;

/** Who an audit entry says asked: a caller that named itself, or the Web UI (any message without the second argument). */
export const AuditActorSchema = z.object({ identity: z.string().optional(), via: z.enum(['cli', 'api', 'web-ui']) }).strict();
export type AuditActor = z.infer<typeof AuditActorSchema>;

/** The actor of a message's optional second argument; a missing or malformed one is the Web UI's. */
export function actorOf(raw: unknown): AuditActor {
  const parsed = RequestedBySchema.safeParse(raw);
  return parsed.success ? parsed.data : { via: 'web-ui' };
}

export const AUDIT_ACTIONS = ['configure', 'enable', 'disable', 'upsertRule', 'deleteRule', 'approveDeletions', 'skipDeletions', 'pause', 'resume', 'deleteConnection'] as const;
export const AuditActionSchema = z.enum(AUDIT_ACTIONS);
export type AuditAction = z.infer<typeof AuditActionSchema>;

/**
 * One changed field: its path (`duo.apiHost`, `rules[staff].scope.kind`) and its old and new value.
 * Secret references keep their path only (`secret: true`): which file or variable holds a secret is
 * not a secret, but the trail stays free of anything secret-shaped.
 */
export const AuditChangeSchema = z
  .object({ path: z.string(), from: z.unknown().optional(), to: z.unknown().optional(), secret: z.literal(true).optional() })
  .strict();
export type AuditChange = z.infer<typeof AuditChangeSchema>;

export const AuditEntrySchema = z
  .object({
    /** 1, 2, 3 … per connection, never reused (survives continue-as-new); duplicates in the audit file share it. */
    seq: z.number().int().min(1),
    at: z.string(),
    connectionId: z.string(),
    action: AuditActionSchema,
    actor: AuditActorSchema,
    /** The rule id or run id the action was about. */
    target: z.string().optional(),
    reason: z.string().max(500).optional(),
    changes: z.array(AuditChangeSchema).default([]),
    /** Changes left out of `changes` (an entry keeps at most 50). */
    changesOmitted: z.number().int().min(0).optional(),
  })
  .strict();
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

export const DeleteConnectionSchema = z.object({ reason: z.string().trim().max(200).optional() }).strict();
export type DeleteConnectionRequest = z.infer<typeof DeleteConnectionSchema>;

export interface DeleteConnectionResult {
  /** The rule deletions started (each releases or deprovisions what its rule owned, behind the deletion guard). */
  deletionRuns: string[];
  /** True when nothing was left to delete: the entity ends now. */
  finished: boolean;
}

export const AuditQuerySchema = z.object({ limit: z.number().int().min(1).max(10_000).optional() }).strict();

/**
 * Deletes the connection: every rule is deleted through the `deleteRule` path (its users and groups
 * released, or deprovisioned when `userActions.deprovisionOnRuleDeletion` is on, behind the deletion
 * guard); when all those runs succeeded, `connection/<id>` ends.
 */
export const deleteConnectionUpdate = defineUpdate<DeleteConnectionResult, [z.input<typeof DeleteConnectionSchema>, RequestedBy?]>('deleteConnection');
/** The entity's audit entries, oldest first (the last `limit`, default all it keeps). */
export const auditQuery = defineQuery<AuditEntry[], [z.input<typeof AuditQuerySchema>?]>('audit');
