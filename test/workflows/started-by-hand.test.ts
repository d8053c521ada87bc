/**
 * Runs started by hand, as an operator does from the Web UI with the smallest JSON: they read the
 * configuration from the connection entity, obey its rules for writing, fail with the entity's own
 * reason, and always leave DuoSyncOutcome set so search finds them.
 */
import assert from 'node:assert/strict';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { configureConnection, connectionStatus, pauseConnection, type DuoSyncClient } from '../../src/client';
import { DuoSyncConnection, DuoSyncKind, DuoSyncOutcome } from '../../src/contract';
import { makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal, uniqueId } from '../support/temporal';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';

async function failureOf(handle: WorkflowHandle): Promise<string> {
  const err = await handle.result().then(
    () => assert.fail(`${handle.workflowId} should have failed`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  return err.cause?.message ?? '';
}

async function searchAttributes(handle: WorkflowHandle): Promise<Record<string, unknown>> {
  const { typedSearchAttributes } = await handle.describe();
  return {
    connection: typedSearchAttributes.get(DuoSyncConnection),
    kind: typedSearchAttributes.get(DuoSyncKind),
    outcome: typedSearchAttributes.get(DuoSyncOutcome),
  };
}

describe('workflows started by hand with minimal JSON (as from the Web UI)', function () {
  this.timeout(180_000);
  let harness: EntityHarness;
  let fx: SyncFixture;
  let dsc: DuoSyncClient;

  beforeEach(async () => {
    harness = await startEntityHarness({ users: makeUsers(5) });
    ({ fx, dsc } = harness);
  });

  afterEach(() => harness.stop());

  const start = (workflow: string, input: Record<string, unknown>) =>
    testTemporal().client.workflow.start(workflow, { taskQueue: dsc.taskQueue, workflowId: uniqueId(`by-hand/${workflow}`), args: [input] });

  const configuredAndIdle = async (): Promise<void> => {
    await configureConnection(dsc, fx.config);
    await waitFor('the first full sync to finish', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return s.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome !== 'running') && !s.currentRun ? s : undefined;
    });
  };

  it('fullSyncWorkflow {"connectionId"} syncs with the saved configuration and records its outcome; deleteRuleWorkflow refuses a rule still configured', async () => {
    await configuredAndIdle();
    fx.writeUsers(makeUsers(7));
    const handle = await start('fullSyncWorkflow', { connectionId: fx.connectionId });
    const result = (await handle.result()) as { outcome: string; summary: { created: number; unchanged: number } };
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.summary.created, 2);
    assert.equal(result.summary.unchanged, 5);
    assert.equal(fx.duoUsernames().length, 7);
    assert.deepEqual(await searchAttributes(handle), { connection: fx.connectionId, kind: 'fullSync', outcome: 'succeeded' });

    const stillConfigured = await start('deleteRuleWorkflow', { connectionId: fx.connectionId, ruleId: 'staff' });
    assert.match(await failureOf(stillConfigured), /rule staff is still configured .* send the deleteRule update/);
  });

  it('fails with a readable reason for an unknown connection, and DuoSyncOutcome says failed', async () => {
    const handle = await start('fullSyncWorkflow', { connectionId: 'no-such-connection' });
    assert.match(await failureOf(handle), /connection no-such-connection does not exist/);
    assert.deepEqual(await searchAttributes(handle), { connection: 'no-such-connection', kind: 'fullSync', outcome: 'failed' });
  });

  it('a paused connection refuses hand-started writes but allows a dry run; and so does a hand-started reconcile', async () => {
    await configuredAndIdle();
    await pauseConnection(dsc, fx.connectionId, 'change freeze');
    await waitFor('the pause', async () => ((await connectionStatus(dsc, fx.connectionId)).paused ? true : undefined));
    fx.writeUsers(makeUsers(6));

    const write = await start('fullSyncWorkflow', { connectionId: fx.connectionId });
    assert.match(await failureOf(write), /is paused \(change freeze\)/);
    const reconcile = await start('reconcileUserWorkflow', { connectionId: fx.connectionId, username: 'user5' });
    assert.match(await failureOf(reconcile), /is paused/);
    assert.equal(fx.duoUsernames().length, 5);

    const dry = await start('fullSyncWorkflow', { connectionId: fx.connectionId, dryRun: true });
    const result = (await dry.result()) as { dryRun: boolean; summary: { created: number } };
    assert.deepEqual([result.dryRun, result.summary.created], [true, 1]);
    assert.equal(fx.duoUsernames().length, 5);
  });
});
