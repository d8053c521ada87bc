/**
 * The operator features end to end on a real dev server, a real worker, the Duo sandbox and a file
 * store: the audit trail (CLI, client API and the Web UI's path; the audit file; continue-as-new),
 * webhook notifications to a local receiver, and listing and deleting connections.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/main';
import { configureConnection, connectionAudit, connectionStatus, testConnection, type DuoSyncClient } from '../../src/client';
import { connectionWorkflowId, type AuditEntry, type ConnectionStatus } from '../../src/contract';
import type { ConnectionListing } from '../../src/client';
import { cliDriver, cliEnv } from '../support/cli';
import { waitFor } from '../support/entity';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { createTestWorker, testTemporal } from '../support/temporal';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

describe('operations: audit trail, notifications, connection lifecycle (real worker)', function () {
  this.timeout(120_000);
  let fx: SyncFixture;
  let receiver: WebhookReceiver;
  let dir: string;
  let auditFile: string;
  let dsc: DuoSyncClient;
  let env: NodeJS.ProcessEnv;
  let stopWorker: () => Promise<void>;
  const { cli, jsonOf } = cliDriver(() => env);
  const hookVar = `DUO_SYNC_TEST_HOOK_${process.pid}`;
  const signVar = `DUO_SYNC_TEST_HOOK_SECRET_${process.pid}`;

  const auditFileEntries = (): AuditEntry[] => (existsSync(auditFile) ? readFileSync(auditFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry) : []);
  const notificationsReceived = () =>
    receiver.posts.filter((p) => p.path === '/json').flatMap((p) => (JSON.parse(p.body) as { notifications: { event: string; id: string; details: Record<string, unknown> }[] }).notifications);

  before(async () => {
    receiver = await startWebhookReceiver();
    process.env[hookVar] = receiver.url('/json');
    process.env[`${hookVar}_SLACK`] = receiver.url('/slack');
    process.env[signVar] = 'shared-signing-secret';
    fx = await makeSyncFixture({
      users: makeUsers(4),
      config: {
        description: 'the test tenant',
        notifications: {
          webhooks: [
            { id: 'ops-json', url: { env: hookVar }, format: 'json', signingSecret: { env: signVar } },
            { id: 'chat', url: { env: `${hookVar}_SLACK` }, format: 'slack', events: ['runPartial', 'runFailed'] },
          ],
        },
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-ops-'));
    auditFile = join(dir, 'audit', 'audit.jsonl');
    const { worker, taskQueue } = await createTestWorker({ dependencies: { audit: { auditFile }, secretTtlMs: 0 } });
    const running = worker.run();
    stopWorker = async () => {
      worker.shutdown();
      await running;
    };
    dsc = { client: testTemporal().client, taskQueue, requestedBy: { identity: 'provisioning-service', via: 'api' }, close: async () => undefined };
    env = cliEnv(taskQueue);
    // A short history budget, so the entity continues as new during these tests.
    await testTemporal().client.workflow.start('connectionWorkflow', { taskQueue, workflowId: connectionWorkflowId(fx.connectionId), args: [{ connectionId: fx.connectionId, historyEventBudget: 100 }] });
  });

  after(async () => {
    try {
      await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).terminate('test done');
    } catch {
      // deleted by the last test
    }
    await stopWorker();
    await fx.cleanup();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
    for (const v of [hookVar, `${hookVar}_SLACK`, signVar]) delete process.env[v];
  });

  async function idleStatus(): Promise<ConnectionStatus> {
    return waitFor('the connection to be idle', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return !s.currentRun && s.runsInFlight.length === 0 && !s.syncQueued && s.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome !== 'running') ? s : undefined;
    });
  }

  it('records who changed what from the client API, the CLI and the Web UI, and appends every entry to the audit file', async () => {
    await configureConnection(dsc, fx.config);
    await idleStatus();
    assert.equal((await cli('--as', 'alice@ops', 'connection', 'pause', fx.connectionId, '--reason', 'INC-7')).code, ExitCode.ok);
    // The Web UI sends a signal's one JSON value and nothing else.
    await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).signal('resume');
    assert.equal((await cli('--as', 'alice@ops', 'connection', 'disable', fx.connectionId)).code, ExitCode.ok);
    assert.equal((await cli('connection', 'enable', fx.connectionId)).code, ExitCode.ok);
    const entries = await waitFor('five audit entries', async () => {
      const e = await jsonOf<AuditEntry[]>('audit', fx.connectionId);
      return e.length >= 5 ? e : undefined;
    });
    assert.deepEqual(
      entries.map((e) => [e.action, e.actor.via, e.actor.identity ?? null]),
      [
        ['configure', 'api', 'provisioning-service'],
        ['pause', 'cli', 'alice@ops'],
        ['resume', 'web-ui', null],
        ['disable', 'cli', 'alice@ops'],
        ['enable', 'cli', entries[4]?.actor.identity ?? 'missing'],
      ],
    );
    assert.match(entries[4]?.actor.identity ?? '', /@/, 'without --as the CLI names the OS user and host');
    assert.equal(entries[1]?.reason, 'INC-7');
    assert.deepEqual(entries[3]?.changes, [{ path: 'enabled', from: true, to: false }]);
    assert.ok(!JSON.stringify(entries).includes(hookVar), 'secret references appear by path only');
    const text = (await cli('audit', fx.connectionId)).out;
    assert.match(text, /pause {2}by alice@ops \(cli\) {2}reason: INC-7/);
    assert.match(text, /enabled: true → false/);
    const inFile = await waitFor('the audit file to hold every entry', () => {
      const lines = auditFileEntries();
      return lines.length >= 5 ? lines : undefined;
    });
    assert.deepEqual([...new Set(inFile.map((e) => e.seq))].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
    assert.ok(inFile.every((e) => e.connectionId === fx.connectionId));
  });

  it('sends webhooks when a sync ends partial and when the connection test starts and stops failing (signed JSON and Slack text)', async () => {
    const users = makeUsers(4);
    // A phone number no region can read fails that user (userType is not mapped by default, so it cannot fail one).
    users[1] = { ...users[1]!, phones: ['12'] };
    fx.writeUsers(users);
    assert.equal((await cli('sync', 'now', fx.connectionId, '--wait')).code, ExitCode.failed, 'the run ends partial');
    const partial = await waitFor('a runPartial notification', () => notificationsReceived().find((n) => n.event === 'runPartial'));
    assert.match(String(partial.details['workflowId']), new RegExp(`^full-sync/${fx.connectionId}/`));
    const jsonPost = receiver.posts.find((p) => p.path === '/json');
    assert.ok(jsonPost);
    const expected = `sha256=${createHmac('sha256', 'shared-signing-secret').update(jsonPost.body).digest('hex')}`;
    assert.equal(jsonPost.headers['x-duo-sync-signature'], expected);
    const slack = await waitFor('the Slack-format post', () => receiver.posts.find((p) => p.path === '/slack'));
    assert.match((JSON.parse(slack.body) as { text: string }).text, /ended partial/);

    const secretVar = 'env' in fx.config.duo.secretKey ? fx.config.duo.secretKey.env : '';
    const good = process.env[secretVar];
    process.env[secretVar] = 'wrong-secret-key-0123456789012345678901';
    receiver.failNext(503);
    assert.equal((await testConnection(dsc, fx.connectionId)).ok, false, 'a changed secret is used without a restart');
    // The receiver records the first try before answering 503; the activity's retry sends the same body again.
    const tries = await waitFor('the connectionTestFailing notification, retried after a 503', () => {
      const posts = receiver.posts.filter((p) => p.path === '/json' && p.body.includes('connectionTestFailing'));
      return posts.length >= 2 ? posts : undefined;
    });
    process.env[secretVar] = good;
    assert.equal(tries.length, 2);
    assert.equal(new Set(tries.map((p) => p.body)).size, 1, 'the same notification id, so a receiver can drop the duplicate');
    assert.equal((await testConnection(dsc, fx.connectionId)).ok, true);
    await waitFor('a connectionTestRecovered notification', () => notificationsReceived().find((n) => n.event === 'connectionTestRecovered'));
    assert.equal(receiver.posts.filter((p) => p.path === '/slack').length, 1, 'the chat webhook asked for run events only');
    fx.writeUsers(makeUsers(4));
  });

  it('keeps the audit trail through continue-as-new, with more than 50 entries', async () => {
    const handle = testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId));
    const firstRun = (await handle.describe()).runId;
    for (let i = 0; i < 30; i += 1) {
      await cli('--as', 'bob@ops', 'connection', 'pause', fx.connectionId, '--reason', `drill ${i}`);
      await cli('--as', 'bob@ops', 'connection', 'resume', fx.connectionId);
    }
    const entries = await waitFor('65 entries', async () => {
      const e = await connectionAudit(dsc, fx.connectionId);
      return e.length >= 65 ? e : undefined;
    });
    await waitFor('the entity to continue as new (history budget 100 events)', async () => ((await handle.describe()).runId !== firstRun ? true : undefined));
    const afterCan = await connectionAudit(dsc, fx.connectionId);
    assert.deepEqual(afterCan.slice(0, entries.length), entries, 'the new run of the entity has every entry');
    assert.equal(entries.filter((e) => e.actor.identity === 'bob@ops').length, 60);
    assert.deepEqual(entries.slice(0, 5).map((e) => e.seq), [1, 2, 3, 4, 5], 'the first entries are still there');
    assert.equal((await connectionAudit(dsc, fx.connectionId, 10)).length, 10);
    const seqs = new Set((await waitFor('the file to catch up', () => (auditFileEntries().length >= 65 ? auditFileEntries() : undefined))).map((e) => e.seq));
    assert.equal(seqs.size, 65, 'the file holds every entry, across runs of the entity');
  });

  it('lists connections by search attribute and deletes one through its rules\' deletion runs, recording who did it', async () => {
    const listed = await waitFor('the connection in the list', async () => {
      const list = await jsonOf<ConnectionListing[]>('connection', 'list');
      return list.find((c) => c.connectionId === fx.connectionId && c.description !== undefined);
    });
    assert.equal(listed.description, 'the test tenant');
    assert.equal(listed.enabled, true);
    const refused = await cli('connection', 'delete', fx.connectionId);
    assert.equal(refused.code, ExitCode.usage);
    assert.match(refused.err, /run again with --yes/);
    const before = fx.duoUsernames();
    const deleted = await jsonOf<{ deletionRuns: string[] }>('--as', 'carol@ops', 'connection', 'delete', fx.connectionId, '--yes', '--reason', 'tenant offboarded');
    assert.deepEqual(deleted.deletionRuns.map((r) => r.split('/')[0]), ['delete-rule']);
    await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).result();
    assert.deepEqual(fx.duoUsernames(), before, 'deprovisionOnRuleDeletion is off: users are released, not deleted');
    const last = auditFileEntries().at(-1);
    assert.deepEqual([last?.action, last?.actor.identity, last?.reason], ['deleteConnection', 'carol@ops', 'tenant offboarded']);
    const running = await jsonOf<ConnectionListing[]>('connection', 'list');
    assert.ok(!running.some((c) => c.connectionId === fx.connectionId));
    const all = await waitFor('the deleted connection in list --all', async () => (await jsonOf<ConnectionListing[]>('connection', 'list', '--all')).find((c) => c.connectionId === fx.connectionId && c.status === 'COMPLETED'));
    assert.equal(all.status, 'COMPLETED');
  });
});
