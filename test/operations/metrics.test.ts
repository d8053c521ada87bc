/**
 * duo-sync's Prometheus metrics from a real worker (in-process) running real syncs against the Duo
 * sandbox and a file store: Duo calls by category, endpoint template and status, 429s, pacing waits,
 * runs by kind and outcome, objects changed, store latency, and deletions awaiting approval. Labels
 * stay bounded: no username appears anywhere in the scrape.
 */
import assert from 'node:assert/strict';
import { approveDeletionsSignal, type FullSyncResult } from '../../src/contract';
import { createDuoSyncMetrics, type AwaitingApproval } from '../../src/metrics/registry';
import { awaitingApprovalFromTemporal } from '../../src/metrics/awaiting-approval';
import { connectionsFromTemporal } from '../../src/metrics/known-connections';
import { duoEndpointTemplate } from '../../src/metrics/duo-endpoint';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/server';
import { waitFor } from '../support/entity';
import { parseSamples, total, type Sample } from '../support/prometheus-text';
import { configureEntity, fixtureTaskQueue, runByHand, startByHand } from '../support/runs';
import { StoreError, type IdentityStore } from '../../src/stores';
import { makeSyncFixture, makeUsers, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';

describe('metrics: duo-sync\'s own Prometheus metrics from a real worker', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  let server: MetricsServer;
  let reader: () => Promise<AwaitingApproval[]> = async () => [];
  const metrics = createDuoSyncMetrics({ awaitingApproval: () => reader() });
  const scrape = async () => {
    const res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    return res.text();
  };

  before(async () => {
    fx = await makeSyncFixture({ users: makeUsers(10), config: { deletionGuard: { maxFraction: 0.1, maxCount: 500 } } });
    fx.config.duo = { ...fx.config.duo, requestsPerSecond: 500 };
    server = await startMetricsServer(metrics.registry, { host: '127.0.0.1', port: 0 });
    reader = awaitingApprovalFromTemporal(testTemporal().client, await fixtureTaskQueue(fx, { metrics }));
  });

  after(async () => {
    await fx.cleanup();
    await server.close();
  });

  it('templates Duo paths so ids never become label values', () => {
    assert.equal(duoEndpointTemplate('/admin/v1/users/DU123/groups/DG456'), '/admin/v1/users/{id}/groups/{id}');
    assert.equal(duoEndpointTemplate('/admin/v1/users/bulk_create'), '/admin/v1/users/bulk_create');
    assert.equal(duoEndpointTemplate('/admin/v1/info/summary'), '/admin/v1/info/summary');
    assert.equal(duoEndpointTemplate('/admin/v2/groups/DG1/users'), '/admin/v2/groups/{id}/users');
  });

  it('counts Duo calls, 429s, pacing waits, the run, what it changed and store latency', async () => {
    await configureEntity(fx, { metrics });
    fx.sandbox.setFaults([{ endpoint: 'GET /admin/v1/users', failCalls: [1], failWith: 'rateLimit' }]);
    const result = await runByHand(fx, 'fullSyncWorkflow', {}, { worker: { metrics } });
    assert.equal(result.outcome, 'succeeded');
    const text = await scrape();
    const samples = parseSamples(text);
    const mine = { connection_id: fx.connectionId };
    assert.ok(total(samples, 'duo_sync_duo_requests_total', { ...mine, endpoint: '/admin/v1/users', method: 'GET', status: '200', category: 'getPage' }) > 0);
    assert.ok(total(samples, 'duo_sync_duo_requests_total', { ...mine, status: '429' }) >= 1);
    assert.ok(total(samples, 'duo_sync_duo_rate_limited_total', { ...mine, category: 'getPage' }) >= 1);
    assert.ok(total(samples, 'duo_sync_duo_pacing_wait_seconds_count', { ...mine, pacer: 'cap' }) > 0, 'duo.requestsPerSecond pacing is measured');
    assert.ok(total(samples, 'duo_sync_duo_request_duration_seconds_count') > 0);
    assert.equal(total(samples, 'duo_sync_runs_total', { ...mine, kind: 'fullSync', outcome: 'succeeded', dry_run: 'false' }), 1);
    assert.equal(total(samples, 'duo_sync_run_duration_seconds_count', { kind: 'fullSync', outcome: 'succeeded' }), 1);
    assert.equal(total(samples, 'duo_sync_objects_changed_total', { ...mine, object: 'user', action: 'created' }), 10);
    assert.ok(total(samples, 'duo_sync_store_request_duration_seconds_count', { ...mine, store_kind: 'file', operation: 'listUsers' }) > 0);
    assert.ok(total(samples, 'duo_sync_process_cpu_seconds_total') > 0, 'process metrics carry the duo_sync_ prefix');
    assert.ok(!/user\d/.test(text), 'no username in any label');
    const userIds = [...fx.sandbox.store.users.keys()];
    assert.ok(!userIds.some((id) => text.includes(id)), 'no Duo user id in any label');
  });

  it('times store calls and counts their errors by kind, through the store wrapper', async () => {
    const failing = createDuoSyncMetrics({ processMetrics: false });
    const store = failing.instrumentation.wrapStore('c-store', {
      kind: 'ldap',
      location: 'ldap://x',
      capabilities: { write: false, disable: false },
      getUser: async () => {
        throw new StoreError('unavailable', 'down');
      },
    } as unknown as IdentityStore);
    const before = parseSamples(await failing.registry.metrics());
    assert.equal(sample(before, 'duo_sync_store_errors_total', { connection_id: 'c-store', store_kind: 'ldap', operation: 'getUser', error: 'unavailable' })?.value, 0, 'exported at 0 once the store is built, so rate() sees the first error');
    assert.equal(sample(before, 'duo_sync_store_errors_total', { connection_id: 'c-store', operation: 'listUsers' }), undefined, 'only operations the store has');
    await assert.rejects(store.getUser('alice'), StoreError);
    assert.equal(store.kind, 'ldap', 'other properties pass through');
    const samples = parseSamples(await failing.registry.metrics());
    assert.equal(total(samples, 'duo_sync_store_errors_total', { connection_id: 'c-store', store_kind: 'ldap', operation: 'getUser', error: 'unavailable' }), 1);
    assert.equal(total(samples, 'duo_sync_store_request_duration_seconds_count', { operation: 'getUser' }), 1);
  });

  it('has a connection\'s run series at 0 before its first run ends, so increase() sees the first partial run', async () => {
    // A fresh worker and connection: the first run this worker finishes for it ends partial (a phone no one can parse).
    let known: () => Promise<string[]> = async () => [];
    const worker = createDuoSyncMetrics({ processMetrics: false, knownConnections: () => known() });
    const messy: FileUser = { ...(makeUsers(1, 'messy')[0] as FileUser), phones: ['ask reception'] };
    const fx2 = await makeSyncFixture({ users: [...makeUsers(2, 'tidy'), messy] });
    try {
      const taskQueue = await fixtureTaskQueue(fx2, { metrics: worker });
      known = connectionsFromTemporal(testTemporal().client, taskQueue);
      await configureEntity(fx2, { metrics: worker });
      const partial = { connection_id: fx2.connectionId, kind: 'fullSync', outcome: 'partial', dry_run: 'false' };
      const before = parseSamples(await worker.registry.metrics());
      assert.equal(sample(before, 'duo_sync_runs_total', partial)?.value, 0, 'the series exists at 0 before the first increment (else increase() starts from the 1)');
      for (const outcome of ['succeeded', 'failed', 'cancelled']) assert.ok(sample(before, 'duo_sync_runs_total', { ...partial, outcome }), `runs_total ${outcome} is initialised too`);
      const result = await runByHand(fx2, 'fullSyncWorkflow', {}, { worker: { metrics: worker } });
      assert.equal(result.outcome, 'partial');
      const after = parseSamples(await worker.registry.metrics());
      assert.equal(sample(after, 'duo_sync_runs_total', partial)?.value, 1, 'increase() over the two scrapes is 1: the alert fires');

      // Another worker that never ran anything for fx2 learns the connection from Temporal at scrape time.
      const idle = createDuoSyncMetrics({ processMetrics: false, knownConnections: connectionsFromTemporal(testTemporal().client, taskQueue) });
      const idleSamples = await waitFor('the idle worker to know the connection', async () => {
        const s = parseSamples(await idle.registry.metrics());
        return sample(s, 'duo_sync_runs_total', partial) ? s : undefined;
      });
      const mine = { connection_id: fx2.connectionId };
      assert.equal(sample(idleSamples, 'duo_sync_runs_total', partial)?.value, 0);
      assert.equal(sample(idleSamples, 'duo_sync_objects_changed_total', { ...mine, kind: 'fullSync', object: 'user', action: 'created' })?.value, 0);
      assert.equal(sample(idleSamples, 'duo_sync_duo_rate_limited_total', { ...mine, category: 'getPage' })?.value, 0);
      assert.equal(sample(idleSamples, 'duo_sync_webhook_deliveries_total', { ...mine, outcome: 'failed' })?.value, 0);
      assert.equal(sample(idleSamples, 'duo_sync_audit_entries_written_total', mine)?.value, 0);
    } finally {
      await fx2.cleanup();
    }
  });

  it('shows runs and planned deletions awaiting approval, from Temporal, until they are decided', async () => {
    fx.writeUsers(makeUsers(7));
    const handle = await startByHand(fx, 'fullSyncWorkflow', {}, { worker: { metrics } });
    const waiting = await waitFor('the gauge to show the waiting run', async () => {
      const s = parseSamples(await scrape());
      return total(s, 'duo_sync_runs_awaiting_approval', { connection_id: fx.connectionId }) === 1 ? s : undefined;
    });
    assert.equal(total(waiting, 'duo_sync_deletions_awaiting_approval', { connection_id: fx.connectionId }), 3);
    const progress = await waitFor('the deletion set', async () => (await handle.query<{ awaitingApproval?: { deletionSetHash: string } }>('progress')).awaitingApproval);
    await handle.signal(approveDeletionsSignal, { runId: handle.workflowId, deletionSetHash: progress.deletionSetHash, decision: 'skip' });
    const result = (await handle.result()) as FullSyncResult;
    assert.equal(result.deletions, 'withheld');
    await waitFor('the gauge to clear', async () => (total(parseSamples(await scrape()), 'duo_sync_runs_awaiting_approval', { connection_id: fx.connectionId }) === 0 ? true : undefined));
  });
});

function sample(samples: Sample[], name: string, labels: Record<string, string>): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
