/**
 * Many connections syncing at once on one worker with the SDK's default slots (100 activities).
 * Before the restructure each entity followed its sync through an activity that held a slot for
 * the sync's whole life: with 100 or more connections syncing at once, those waiters took every
 * slot and no sync could run a page (0 of 130 finished in 300 s). Entities now hear `runFinished`
 * from their runs, so every sync completes however many start together.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureConnection, connectionStatus, connectionWorkflowId, syncNow, type DuoSyncClient } from '../../src/client';
import type { ConnectionStatus } from '../../src/contract';
import { ConnectionConfigSchema } from '../../src/domain/connection';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { waitFor } from '../support/entity';
import { makeUsers } from '../support/sync-fixture';
import { createTestWorker, testTemporal } from '../support/temporal';

const CONNECTIONS = 120;
/** Enough for a sync to take a page; the deadlock was about slots, not users. */
const USERS = 10;
const SECRET_VAR = 'DUO_SYNC_TEST_MANY_SKEY';

describe('many connections syncing at once on one worker with default slots', function () {
  this.timeout(600_000);
  let sandbox: DuoSandbox;
  let dir: string;

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 3, latencyMs: 10 });
    process.env[SECRET_VAR] = sandbox.account.secretKey;
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-many-'));
  });
  after(async () => {
    delete process.env[SECRET_VAR];
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${CONNECTIONS} connections x ${USERS} users: every first full sync completes, and so does a second wave requested in the same instant`, async () => {
    const { worker, taskQueue } = await createTestWorker();
    const running = worker.run();
    let peakActivities = 0;
    const sampler = setInterval(() => {
      peakActivities = Math.max(peakActivities, worker.getStatus().numInFlightActivities);
    }, 50);
    const dsc: DuoSyncClient = { client: testTemporal().client, taskQueue, close: async () => undefined };
    const ids = Array.from({ length: CONNECTIONS }, (_, i) => `many-${process.pid}-${i}`);
    /**
     * Polls only the connections not yet done, once a second: 120 status queries every 200 ms were
     * load of the test's own making, enough to time queries out on a busy 2-core machine.
     */
    const untilEvery = async (what: string, connectionIds: string[], done: (s: ConnectionStatus) => boolean): Promise<ConnectionStatus[]> => {
      const doneStatuses = new Map<string, ConnectionStatus>();
      return waitFor(
        what,
        async () => {
          const open = connectionIds.filter((id) => !doneStatuses.has(id));
          const statuses = await Promise.all(open.map((id) => connectionStatus(dsc, id).catch(() => undefined)));
          for (const s of statuses) if (s && done(s)) doneStatuses.set(s.connectionId, s);
          return doneStatuses.size === connectionIds.length ? connectionIds.map((id) => doneStatuses.get(id) as ConnectionStatus) : undefined;
        },
        480_000,
        1_000,
      );
    };
    try {
      const configs = ids.map((connectionId, i) => {
        const path = join(dir, `${connectionId}.json`);
        // No phones: the same test numbers in every directory would be one shared phone, which is another test's subject.
        writeFileSync(path, JSON.stringify({ users: makeUsers(USERS, `c${i}u`).map((u) => ({ ...u, phones: [] })) }));
        return ConnectionConfigSchema.parse({
          connectionId,
          duo: { apiHost: sandbox.apiHost, integrationKey: sandbox.account.integrationKey, secretKey: { env: SECRET_VAR } },
          store: { kind: 'file', path },
          userActions: { create: true, update: true },
          rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }],
        });
      });
      // Every configure starts its connection's first full sync at once.
      await Promise.all(configs.map((config) => configureConnection(dsc, config)));
      const finished = await untilEvery('every connection to finish its first full sync', ids, (s) => s.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome !== 'running'));
      for (const status of finished) {
        const run = status.lastRuns.find((r) => r.kind === 'fullSync');
        assert.equal(run?.outcome, 'succeeded', `${status.connectionId}: ${JSON.stringify(run)}`);
        assert.equal(run?.counts?.created, USERS);
      }
      assert.equal(sandbox.store.users.size, CONNECTIONS * USERS);

      // Then every connection is asked for a sync in the same instant, as the review measured it.
      const started = await Promise.all(ids.map((id) => syncNow(dsc, id, { reason: 'all at once' })));
      const secondRun = new Map(ids.map((id, i) => [id, started[i]?.workflowId]));
      await untilEvery('every second full sync to finish', ids, (s) => s.lastRuns.some((r) => r.workflowId === secondRun.get(s.connectionId) && r.outcome === 'succeeded'));
      // Slots are held only while work runs: the worker never needed more than its default 100.
      assert.ok(peakActivities <= 100, `peak activities in flight ${peakActivities}`);
    } finally {
      clearInterval(sampler);
      await Promise.all(ids.map((id) => dsc.client.workflow.getHandle(connectionWorkflowId(id)).terminate('test done').catch(() => undefined)));
      worker.shutdown();
      await running;
    }
  });
});
