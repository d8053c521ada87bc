/**
 * Running duo-sync's run workflows in tests the way ops do: through the connection's entity. Each
 * fixture gets one worker on its own task queue for its whole life and a real entity on it,
 * configured with the fixture's current `fx.config` (re-sent only when it changed). The entity's
 * schedule is pushed far out, so only the runs a test starts happen; runs started by hand claim
 * their configuration from the entity, as they do in production.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  configureUpdate,
  connectionWorkflowId,
  deleteRuleUpdate,
  statusQuery,
  type ConnectionStatus,
  type ConnectionTestResult,
  type DeleteRuleInput,
  type DeleteRuleResult,
  type FullSyncInput,
  type FullSyncResult,
  type InboundSyncInput,
  type InboundSyncResult,
  type ReconcileGroupInput,
  type ReconcileGroupResult,
  type ReconcileUserInput,
  type ReconcileUserResult,
} from '../../src/contract';
import { saveHistory } from './histories';
import type { SyncFixture } from './sync-fixture';
import { createTestWorker, testTemporal, uniqueId, type TestWorkerOptions } from './temporal';

/** The entity's first scheduled sync, far enough out that tests never see it. */
const NEVER = Date.UTC(2100, 0, 1);

interface FixtureEntity {
  taskQueue: string;
  configured: string | null;
}
const entities = new WeakMap<SyncFixture, FixtureEntity>();

/** The fixture's task queue, with a worker polling it until the fixture is cleaned up. */
export async function fixtureTaskQueue(fx: SyncFixture, options: TestWorkerOptions = {}): Promise<string> {
  const known = entities.get(fx);
  if (known) return known.taskQueue;
  const { worker, taskQueue } = await createTestWorker(options);
  const running = worker.run();
  entities.set(fx, { taskQueue, configured: null });
  fx.onCleanup(async () => {
    try {
      await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).terminate('test done');
    } catch {
      // never started, or already closed
    }
    worker.shutdown();
    await running;
  });
  return taskQueue;
}

/** Starts the fixture's entity (if needed) and sends `configure` with `fx.config` when it changed; returns the connection test. */
export async function configureEntity(fx: SyncFixture, options: TestWorkerOptions = {}, entity: EntityTuning = {}): Promise<ConnectionTestResult | undefined> {
  const taskQueue = await fixtureTaskQueue(fx, options);
  const entry = entities.get(fx) as FixtureEntity;
  const wanted = JSON.stringify(fx.config);
  if (entry.configured === wanted) return undefined;
  const result = await configureEntityOn(fx, taskQueue, testTemporal().client, entity);
  entry.configured = wanted;
  return result;
}

/** Starts the entity on `taskQueue` (served by a worker the caller runs) and configures it with `fx.config`. */
/** Entity tuning for tests: a shorter "minute" makes schedules and approval timeouts testable on a real server. */
export interface EntityTuning {
  minuteMs?: number;
  /** When the first scheduled full sync is due (default: never, so only the runs a test starts happen). */
  firstSyncAt?: number;
}

export async function configureEntityOn(fx: SyncFixture, taskQueue: string, client: Client = testTemporal().client, tuning: EntityTuning = {}): Promise<ConnectionTestResult | undefined> {
  const workflowId = connectionWorkflowId(fx.connectionId);
  try {
    const args = { connectionId: fx.connectionId, carried: { nextFullSyncAt: tuning.firstSyncAt ?? NEVER }, ...(tuning.minuteMs ? { minuteMs: tuning.minuteMs } : {}) };
    await client.workflow.start('connectionWorkflow', { taskQueue, workflowId, args: [args] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  await client.workflow.getHandle(workflowId).executeUpdate(configureUpdate, { args: [fx.config] });
  return (await client.workflow.getHandle(workflowId).query(statusQuery)).connectionTest;
}

export async function entityStatus(fx: SyncFixture): Promise<ConnectionStatus> {
  return testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).query(statusQuery);
}

type Runs = {
  fullSyncWorkflow: [Omit<FullSyncInput, 'connectionId'>, FullSyncResult, 'full-sync'];
  inboundSyncWorkflow: [Omit<InboundSyncInput, 'connectionId'>, InboundSyncResult, 'inbound-sync'];
  deleteRuleWorkflow: [Omit<DeleteRuleInput, 'connectionId'>, DeleteRuleResult, 'delete-rule'];
  reconcileUserWorkflow: [Omit<ReconcileUserInput, 'connectionId'>, ReconcileUserResult, 'reconcile'];
  reconcileGroupWorkflow: [Omit<ReconcileGroupInput, 'connectionId'>, ReconcileGroupResult, 'reconcile-group'];
};
const PREFIX: { [K in keyof Runs]: Runs[K][2] } = {
  fullSyncWorkflow: 'full-sync',
  inboundSyncWorkflow: 'inbound-sync',
  deleteRuleWorkflow: 'delete-rule',
  reconcileUserWorkflow: 'reconcile',
  reconcileGroupWorkflow: 'reconcile-group',
};

export interface RunOptions {
  entity?: EntityTuning;
  /** Saves the run's history (every run of its continue-as-new chain) under test/fixtures/histories. */
  historyName?: string;
  workflowId?: string;
  worker?: TestWorkerOptions;
}

/** Starts a run by hand (as from the Web UI) against the fixture's configured entity and waits for its result. */
export async function runByHand<K extends keyof Runs>(fx: SyncFixture, workflow: K, input: Runs[K][0], options: RunOptions = {}): Promise<Runs[K][1]> {
  await configureEntity(fx, options.worker, options.entity);
  const taskQueue = await fixtureTaskQueue(fx);
  const workflowId = options.workflowId ?? uniqueId(`${PREFIX[workflow]}/${fx.connectionId}`);
  const handle = await testTemporal().client.workflow.start(workflow, { taskQueue, workflowId, args: [{ connectionId: fx.connectionId, ...input }] });
  try {
    return (await handle.result()) as Runs[K][1];
  } finally {
    if (options.historyName) await saveHistory(options.historyName, workflowId);
  }
}

/** Deletes a rule the way ops do (the entity's deleteRule update) and waits for the deletion run it starts. */
export async function deleteRuleThroughEntity(fx: SyncFixture, ruleId: string, options: RunOptions = {}): Promise<DeleteRuleResult> {
  await configureEntity(fx, options.worker);
  const { client } = testTemporal();
  const { workflowId } = await client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).executeUpdate(deleteRuleUpdate, { args: [{ ruleId }] });
  fx.config.rules = fx.config.rules.filter((r) => r.id !== ruleId);
  (entities.get(fx) as FixtureEntity).configured = JSON.stringify(fx.config);
  try {
    return (await client.workflow.getHandle(workflowId).result()) as DeleteRuleResult;
  } finally {
    if (options.historyName) await saveHistory(options.historyName, workflowId);
  }
}

/** Starts a run by hand against the fixture's configured entity and returns its handle (for tests that interact with it). */
export async function startByHand<K extends keyof Runs>(fx: SyncFixture, workflow: K, input: Runs[K][0], options: RunOptions = {}) {
  await configureEntity(fx, options.worker, options.entity);
  const taskQueue = await fixtureTaskQueue(fx);
  const workflowId = options.workflowId ?? uniqueId(`${PREFIX[workflow]}/${fx.connectionId}`);
  return testTemporal().client.workflow.start(workflow, { taskQueue, workflowId, args: [{ connectionId: fx.connectionId, ...input }] });
}
