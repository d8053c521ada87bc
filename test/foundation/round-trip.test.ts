import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { healthCheckWorkflow } from '../../src/workflows';
import { testTemporal, uniqueId, withWorker } from '../support/temporal';

describe('foundation: workflow → activity round trip on a real dev server', () => {
  it('runs healthCheckWorkflow through the worker and returns the activity result', async () => {
    const { client } = testTemporal();
    const result = await withWorker({ dependencies: { workerIdentity: 'round-trip-test' } }, (taskQueue) =>
      client.workflow.execute(healthCheckWorkflow, { taskQueue, workflowId: uniqueId('health'), args: [{ echo: 'hello' }] }),
    );
    assert.deepEqual(result, { echo: 'hello', workerIdentity: 'round-trip-test', activityAttempt: 1 });
  });

  it('rejects invalid input with a non-retryable failure instead of retrying the task forever', async () => {
    const { client } = testTemporal();
    await withWorker({}, async (taskQueue) => {
      await assert.rejects(
        client.workflow.execute('healthCheckWorkflow', { taskQueue, workflowId: uniqueId('health'), args: [{ echo: 42 }] }),
        (err: unknown) => err instanceof WorkflowFailedError && /invalid healthCheckWorkflow input/.test(String(err.cause?.message)),
      );
    });
  });
});
