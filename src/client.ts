/**
 * The typed client API that services and the ops CLI use to talk to duo-sync workflows.
 * Every payload is validated with zod before anything is sent. Change signals use
 * signal-with-start and configuration uses update-with-start, so callers never need to know
 * whether the connection's entity workflow is already running. With DUO_SYNC_CODEC_* set, payloads
 * and failure messages are encrypted with the same codec the worker uses (src/codec).
 */
import { hostname, userInfo } from 'node:os';
import { Client, Connection, type SignalDefinition, WithStartWorkflowOperation, WorkflowIdConflictPolicy, WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { loadProcessConfig, type ProcessConfig } from './config/env';
import { temporalConnectionOptions } from './temporal/connection';
import { dataConverterFromConfig } from './codec/config';
import type { HealthCheckResult } from './activities';
import { ConnectionConfigSchema, formatIssues, RuleSchema, SlugSchema, type ConnectionConfig, type Rule } from './domain/connection';
import type { RunSummary } from './domain/summary';
import {
  auditQuery,
  deleteConnectionUpdate,
  DeleteConnectionSchema,
  DuoSyncConnection,
  RequestedBySchema,
  type AuditEntry,
  type DeleteConnectionRequest,
  type DeleteConnectionResult,
  type RequestedBy,
  DeletionDecisionSchema,
  approveDeletionsUpdate,
  configureUpdate,
  deleteRuleUpdate,
  GroupChangeSchema,
  groupChangedSignal,
  groupDeletedSignal,
  MembershipChangeSchema,
  membershipChangedSignal,
  pauseSignal,
  resumeSignal,
  statusQuery,
  SyncNowSchema,
  syncNowUpdate,
  syncUserUpdate,
  testConnectionUpdate,
  UserChangeSchema,
  userChangedSignal,
  userDeletedSignal,
  upsertRuleUpdate,
  type DeletionDecisionInput,
  type ConnectionStatus,
  type ConnectionTestResult,
  type GroupChange,
  type MembershipChange,
  type SyncNowRequest,
  type SyncNowResult,
  type UserChange,
  connectionWorkflowId,
  type ConnectionWorkflowFn,
} from './contract';
import { connectionDetails, connectionSummary, healthCheckSummary } from './contract/ui-text';

export interface DuoSyncClient {
  client: Client;
  taskQueue: string;
  /** Who this client acts for: sent with every change and recorded in the connection's audit trail (default: `defaultRequestedBy('api')`). */
  requestedBy?: RequestedBy;
  close(): Promise<void>;
}

/** `DUO_SYNC_ACTOR` when set, else `<os user>@<host>`: who a CLI or service call acts for. */
export function defaultRequestedBy(via: RequestedBy['via'], env: NodeJS.ProcessEnv = process.env): RequestedBy {
  const named = env['DUO_SYNC_ACTOR']?.trim();
  let identity = named;
  if (!identity) {
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry (some containers): the host alone still says where the call came from
    }
    identity = `${user}@${hostname()}`;
  }
  return RequestedBySchema.parse({ identity: identity.slice(0, 200), via });
}

function requestedBy(dsc: DuoSyncClient): RequestedBy {
  return dsc.requestedBy ?? defaultRequestedBy('api');
}

export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
}

/** An update the connection workflow rejected or failed; `reason` is the workflow's own words. */
export class UpdateRejectedError extends Error {
  override readonly name = 'UpdateRejectedError';
  constructor(
    readonly update: string,
    readonly reason: string,
    readonly type: string | undefined,
  ) {
    super(`${update} was rejected: ${reason}`);
  }
}

/** Surfaces the workflow's reason instead of the SDK's generic "Workflow Update failed". */
async function update<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause as (Error & { type?: string }) | undefined;
      throw new UpdateRejectedError(name, cause?.message ?? err.message, cause?.type);
    }
    throw err;
  }
}

export async function connectDuoSyncClient(config: ProcessConfig = loadProcessConfig(), options: { requestedBy?: RequestedBy } = {}): Promise<DuoSyncClient> {
  const dataConverter = dataConverterFromConfig(config);
  const connection = await Connection.connect(await temporalConnectionOptions(config));
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter });
  const by = options.requestedBy ?? defaultRequestedBy('api', config.DUO_SYNC_ACTOR ? { DUO_SYNC_ACTOR: config.DUO_SYNC_ACTOR } : process.env);
  return { client, taskQueue: config.TEMPORAL_TASK_QUEUE, requestedBy: check(RequestedBySchema, 'requestedBy', by), close: () => connection.close() };
}

export { connectionWorkflowId } from './contract';

function check<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidRequestError(`invalid ${what}: ${formatIssues(parsed.error).join('; ')}`);
  }
  return parsed.data;
}

const ConnectionIdSchema = SlugSchema;

function startOptions(dsc: DuoSyncClient, connectionId: string) {
  return {
    taskQueue: dsc.taskQueue,
    workflowId: connectionWorkflowId(connectionId),
    args: [{ connectionId }] as Parameters<ConnectionWorkflowFn>,
    // Shown on the entity's page in the Web UI; the static details list the messages ops can send.
    staticSummary: connectionSummary(connectionId),
    staticDetails: connectionDetails(connectionId),
  };
}

/** Creates the connection's entity if needed and applies the configuration (runs a connection test). */
export async function configureConnection(dsc: DuoSyncClient, config: ConnectionConfig): Promise<{ applied: true; rules: number }> {
  const valid = check(ConnectionConfigSchema, 'connection configuration', config);
  const startWorkflowOperation = new WithStartWorkflowOperation<ConnectionWorkflowFn>('connectionWorkflow', {
    ...startOptions(dsc, valid.connectionId),
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
  });
  return update('configure', () => dsc.client.workflow.executeUpdateWithStart(configureUpdate, { args: [valid, requestedBy(dsc)], startWorkflowOperation }));
}

async function signalWithStart<T>(dsc: DuoSyncClient, connectionId: string, signal: SignalDefinition<[T]>, change: T): Promise<void> {
  await dsc.client.workflow.signalWithStart('connectionWorkflow', {
    ...startOptions(dsc, connectionId),
    signal,
    signalArgs: [change],
  });
}

/** Tells duo-sync a user changed in the store; duo-sync reads the store and reconciles that user. */
export async function signalUserChanged(dsc: DuoSyncClient, connectionId: string, change: UserChange): Promise<void> {
  await signalWithStart(dsc, check(ConnectionIdSchema, 'connectionId', connectionId), userChangedSignal, check(UserChangeSchema, 'userChanged payload', change));
}

export async function signalUserDeleted(dsc: DuoSyncClient, connectionId: string, change: UserChange): Promise<void> {
  await signalWithStart(dsc, check(ConnectionIdSchema, 'connectionId', connectionId), userDeletedSignal, check(UserChangeSchema, 'userDeleted payload', change));
}

/** Tells duo-sync a store group was created, renamed or changed members; duo-sync reconciles that group and its memberships. */
export async function signalGroupChanged(dsc: DuoSyncClient, connectionId: string, change: GroupChange): Promise<void> {
  await signalWithStart(dsc, check(ConnectionIdSchema, 'connectionId', connectionId), groupChangedSignal, check(GroupChangeSchema, 'groupChanged payload', change));
}

/** Tells duo-sync a store group was deleted; duo-sync re-reads the store and deletes the Duo group it provisioned for it. */
export async function signalGroupDeleted(dsc: DuoSyncClient, connectionId: string, change: GroupChange): Promise<void> {
  await signalWithStart(dsc, check(ConnectionIdSchema, 'connectionId', connectionId), groupDeletedSignal, check(GroupChangeSchema, 'groupDeleted payload', change));
}

/** Tells duo-sync a user's group memberships changed; duo-sync reconciles that user, memberships included. */
export async function signalMembershipChanged(dsc: DuoSyncClient, connectionId: string, change: MembershipChange): Promise<void> {
  await signalWithStart(dsc, check(ConnectionIdSchema, 'connectionId', connectionId), membershipChangedSignal, check(MembershipChangeSchema, 'membershipChanged payload', change));
}

function handle(dsc: DuoSyncClient, connectionId: string) {
  return dsc.client.workflow.getHandle<ConnectionWorkflowFn>(connectionWorkflowId(check(ConnectionIdSchema, 'connectionId', connectionId)));
}

export async function syncNow(dsc: DuoSyncClient, connectionId: string, request: SyncNowRequest = {}): Promise<SyncNowResult> {
  return update('syncNow', () => handle(dsc, connectionId).executeUpdate(syncNowUpdate, { args: [check(SyncNowSchema, 'syncNow request', request)] }));
}

export async function syncUser(dsc: DuoSyncClient, connectionId: string, change: UserChange): Promise<RunSummary> {
  return update('syncUser', () => handle(dsc, connectionId).executeUpdate(syncUserUpdate, { args: [check(UserChangeSchema, 'syncUser request', change)] }));
}

export async function testConnection(dsc: DuoSyncClient, connectionId: string): Promise<ConnectionTestResult> {
  return update('testConnection', () => handle(dsc, connectionId).executeUpdate(testConnectionUpdate, { args: [] }));
}

export async function upsertRule(dsc: DuoSyncClient, connectionId: string, rule: Rule): Promise<{ applied: true; rules: number }> {
  return update('upsertRule', () => handle(dsc, connectionId).executeUpdate(upsertRuleUpdate, { args: [check(RuleSchema, 'rule', rule), requestedBy(dsc)] }));
}

export async function deleteRule(dsc: DuoSyncClient, connectionId: string, ruleId: string): Promise<{ workflowId: string }> {
  return update('deleteRule', () => handle(dsc, connectionId).executeUpdate(deleteRuleUpdate, { args: [{ ruleId }, requestedBy(dsc)] }));
}

export async function approveDeletions(dsc: DuoSyncClient, connectionId: string, request: DeletionDecisionInput): Promise<{ forwardedTo: string }> {
  return update('approveDeletions', () => handle(dsc, connectionId).executeUpdate(approveDeletionsUpdate, { args: [check(DeletionDecisionSchema, 'approveDeletions request', request), requestedBy(dsc)] }));
}

export async function pauseConnection(dsc: DuoSyncClient, connectionId: string, reason?: string): Promise<void> {
  await handle(dsc, connectionId).signal(pauseSignal, reason ? { reason } : {}, requestedBy(dsc));
}

export async function resumeConnection(dsc: DuoSyncClient, connectionId: string): Promise<void> {
  await handle(dsc, connectionId).signal(resumeSignal, {}, requestedBy(dsc));
}

/**
 * Deletes a connection: every rule is deleted through the rule-deletion path (its users and groups
 * released, or deprovisioned behind the deletion guard when `deprovisionOnRuleDeletion` is on), and
 * `connection/<id>` ends once all of them succeeded. Sent again, it retries rule deletions that failed.
 */
export async function deleteConnection(dsc: DuoSyncClient, connectionId: string, request: DeleteConnectionRequest = {}): Promise<DeleteConnectionResult> {
  return update('deleteConnection', () => handle(dsc, connectionId).executeUpdate(deleteConnectionUpdate, { args: [check(DeleteConnectionSchema, 'deleteConnection request', request), requestedBy(dsc)] }));
}

/** The connection's audit entries the entity keeps (the last 200), oldest first; `limit` keeps the newest. */
export async function connectionAudit(dsc: DuoSyncClient, connectionId: string, limit?: number): Promise<AuditEntry[]> {
  return handle(dsc, connectionId).query(auditQuery, limit === undefined ? {} : { limit });
}

export interface ConnectionListing {
  connectionId: string;
  workflowId: string;
  /** Temporal's status of `connection/<id>`: RUNNING, or COMPLETED for a deleted connection. */
  status: string;
  startedAt: string;
  /** From the entity (running connections only; absent when its status could not be read). */
  description?: string;
  enabled?: boolean;
  paused?: boolean;
  deleting?: boolean;
}

/** Connections found by their search attributes (DuoSyncKind="connection"), running ones only unless `all`. */
export async function listConnections(dsc: DuoSyncClient, options: { all?: boolean; limit?: number } = {}): Promise<ConnectionListing[]> {
  const query = `DuoSyncKind="connection"${options.all ? '' : ' AND ExecutionStatus="Running"'}`;
  const found: ConnectionListing[] = [];
  for await (const wf of dsc.client.workflow.list({ query })) {
    const connectionId = wf.typedSearchAttributes.get(DuoSyncConnection) ?? wf.workflowId.replace(/^connection\//, '');
    found.push({ connectionId, workflowId: wf.workflowId, status: wf.status.name, startedAt: wf.startTime.toISOString() });
    if (found.length >= (options.limit ?? 1000)) break;
  }
  // Details come from each running entity's status query, a few at a time.
  const running = found.filter((c) => c.status === 'RUNNING');
  for (let i = 0; i < running.length; i += 8) {
    await Promise.all(
      running.slice(i, i + 8).map(async (c) => {
        try {
          const s = await connectionStatus(dsc, c.connectionId);
          Object.assign(c, { enabled: s.enabled, paused: s.paused, deleting: s.deleting !== undefined, ...(s.description ? { description: s.description } : {}) });
        } catch {
          // a busy or missing worker: the listing still shows the connection
        }
      }),
    );
  }
  return found.sort((a, b) => a.connectionId.localeCompare(b.connectionId));
}

export async function connectionStatus(dsc: DuoSyncClient, connectionId: string): Promise<ConnectionStatus> {
  return handle(dsc, connectionId).query(statusQuery);
}

/** Runs healthCheckWorkflow and waits for it: proves a worker is polling the task queue. */
export async function runHealthCheck(dsc: DuoSyncClient, echo = 'ping', timeoutMs = 30_000): Promise<HealthCheckResult> {
  const workflowId = `health-check/${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const started = await dsc.client.workflow.start('healthCheckWorkflow', {
    taskQueue: dsc.taskQueue,
    workflowId,
    args: [{ echo }],
    staticSummary: healthCheckSummary(echo),
    workflowExecutionTimeout: timeoutMs,
  });
  return (await started.result()) as HealthCheckResult;
}
