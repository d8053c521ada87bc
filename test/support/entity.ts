/**
 * A connection entity's test surroundings: a sync fixture (Duo sandbox + file store), a running
 * worker on its own task queue, and a client for src/client.ts; `stop` terminates the entity,
 * drains the worker and removes the fixture. Plus `waitFor`, for state reached asynchronously.
 */
import type { DuoSyncClient } from '../../src/client';
import { connectionWorkflowId } from '../../src/client';
import { makeSyncFixture, type FixtureOptions, type SyncFixture } from './sync-fixture';
import { createTestWorker, testTemporal } from './temporal';

/** Polls `probe` every 200 ms until it returns a value (not undefined); fails naming `what` after the timeout. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface EntityHarness {
  fx: SyncFixture;
  dsc: DuoSyncClient;
  stop(): Promise<void>;
}

export async function startEntityHarness(options: FixtureOptions = {}): Promise<EntityHarness> {
  const fx = await makeSyncFixture(options);
  const { worker, taskQueue } = await createTestWorker();
  const running = worker.run();
  return {
    fx,
    dsc: { client: testTemporal().client, taskQueue, close: async () => undefined },
    async stop() {
      try {
        await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).terminate('test done');
      } catch {
        // already closed, or never started
      }
      worker.shutdown();
      await running;
      await fx.cleanup();
    },
  };
}
