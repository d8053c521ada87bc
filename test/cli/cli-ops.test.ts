/**
 * The ops CLI commands not covered by cli.test.ts, end to end against the real dev server, a real
 * worker, the Duo sandbox and a file store: connection test / disable / enable / pause / resume,
 * rule upsert and delete, sync user, sync now --dry-run, and approving a guarded run's deletions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ExitCode } from '../../src/cli/main';
import { signalUserChanged } from '../../src/client';
import type { RunSummary } from '../../src/domain/summary';
import type { ConnectionStatus, ConnectionTestResult } from '../../src/contract';
import type { FullSyncResult } from '../../src/contract';
import { cliDriver, cliEnv } from '../support/cli';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';
import { makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';

describe('duo-sync CLI operations (in-process, real worker)', function () {
  this.timeout(90_000);
  const USERS = 20;
  let harness: EntityHarness;
  let fx: SyncFixture;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  /** The store's users as the tests change them. */
  let staff = makeUsers(USERS);
  const { cli, jsonOf } = cliDriver(() => env);

  async function waitForStatus(what: string, ok: (s: ConnectionStatus) => boolean): Promise<ConnectionStatus> {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const status = await jsonOf<ConnectionStatus>('status', fx.connectionId);
      if (ok(status)) return status;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const idle = (s: ConnectionStatus): boolean => !s.currentRun && !s.syncQueued && s.pendingChanges === 0 && s.reconcilesInFlight === 0;

  before(async () => {
    harness = await startEntityHarness({ users: makeUsers(USERS) });
    fx = harness.fx;
    env = cliEnv(harness.dsc.taskQueue);
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-cli-ops-'));
    const file = join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(fx.config));
    const r = await cli('connection', 'create', file);
    assert.equal(r.code, ExitCode.ok, r.err);
    await waitForStatus('the first full sync', (s) => idle(s) && s.lastRuns.some((run) => run.kind === 'fullSync' && run.outcome === 'succeeded'));
    assert.equal(fx.duoUsernames().length, USERS);
  });

  after(async () => {
    await harness.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connection test reports each check; a revoked key fails it with exit 1 and says which check', async () => {
    const ok = await jsonOf<ConnectionTestResult>('connection', 'test', fx.connectionId);
    assert.equal(ok.ok, true);
    assert.deepEqual(ok.checks.map((c) => c.name).sort(), ['credentials', 'reachable', 'read', 'store', 'write']);

    // The account object is the sandbox's live record: revoking here takes effect on the next request.
    fx.sandbox.account.permissions.writeResource = false;
    try {
      const failed = await cli('connection', 'test', fx.connectionId);
      assert.equal(failed.code, ExitCode.failed);
      assert.match(failed.out, /write/i);
      assert.match(failed.out, /Grant write resource/);
    } finally {
      fx.sandbox.account.permissions.writeResource = true;
    }
    const again = await cli('connection', 'test', fx.connectionId);
    assert.equal(again.code, ExitCode.ok, again.out + again.err);
  });

  it('disable stops provisioning (sync now is refused, saying why); enable brings it back', async () => {
    const off = await cli('connection', 'disable', fx.connectionId);
    assert.equal(off.code, ExitCode.ok, off.err);
    assert.equal((await jsonOf<ConnectionStatus>('status', fx.connectionId)).enabled, false);
    const refused = await cli('sync', 'now', fx.connectionId);
    assert.equal(refused.code, ExitCode.failed);
    assert.match(refused.err, /connection is disabled/);

    const on = await cli('connection', 'enable', fx.connectionId);
    assert.equal(on.code, ExitCode.ok, on.err);
    assert.equal((await jsonOf<ConnectionStatus>('status', fx.connectionId)).enabled, true);
    await waitForStatus('idle after enable', idle);
  });

  it('pause queues changes and applies none; resume applies them', async () => {
    const paused = await jsonOf<{ paused: boolean; reason?: string }>('connection', 'pause', fx.connectionId, '--reason', 'maintenance window');
    assert.deepEqual(paused, { connectionId: fx.connectionId, paused: true, reason: 'maintenance window' });
    const status = await jsonOf<ConnectionStatus>('status', fx.connectionId);
    assert.equal(status.paused, true);
    assert.equal(status.pauseReason, 'maintenance window');
    const human = await cli('status', fx.connectionId);
    assert.match(human.out, /^paused: +yes \(maintenance window\)$/m);

    const syncUser = await cli('sync', 'user', fx.connectionId, 'user0');
    assert.equal(syncUser.code, ExitCode.failed);
    assert.match(syncUser.err, /paused \(maintenance window\)/);

    // A service's change signal while paused is kept, not applied.
    staff = staff.map((u) => (u.username === 'user1' ? { ...u, familyName: 'Paused' } : u));
    fx.writeUsers(staff);
    await signalUserChanged(harness.dsc, fx.connectionId, { username: 'user1' });
    await waitForStatus('the change to be queued', (s) => s.pendingChanges === 1);
    assert.notEqual(fx.duoUser('user1')?.lastname, 'Paused');

    const resumed = await cli('connection', 'resume', fx.connectionId);
    assert.equal(resumed.code, ExitCode.ok, resumed.err);
    assert.match(resumed.out, /resumed/);
    assert.equal((await jsonOf<ConnectionStatus>('status', fx.connectionId)).paused, false);
    await waitForStatus('the queued change to be applied', idle);
    assert.equal(fx.duoUser('user1')?.lastname, 'Paused');
  });

  it('sync user reconciles one user at once and prints its summary', async () => {
    staff = staff.map((u) => (u.username === 'user3' ? { ...u, email: 'user3.new@example.org' } : u));
    fx.writeUsers([...staff, ...makeUsers(1, 'fresh')]);
    const updated = await jsonOf<RunSummary>('sync', 'user', fx.connectionId, 'user3');
    assert.equal(updated.updated, 1);
    assert.equal(fx.duoUser('user3')?.email, 'user3.new@example.org');
    const human = await cli('sync', 'user', fx.connectionId, 'fresh0');
    assert.equal(human.code, ExitCode.ok, human.err);
    assert.match(human.out, /^user fresh0 of connection /m);
    assert.match(human.out, /^created +updated +disabled +deleted +unchanged +skipped +failed$/m);
    assert.match(human.out, /^1 +0 +0 +0 +0 +0 +0$/m);
    assert.ok(fx.duoUser('fresh0'));
  });

  it('sync now --dry-run --wait counts what would change and changes nothing', async () => {
    fx.writeUsers(staff.map((u) => (u.username === 'user5' ? { ...u, givenName: 'Renamed' } : u)));
    await waitForStatus('idle', idle);
    const before = fx.sandbox.stats().writes;
    const r = await jsonOf<{ outcome: string; result: FullSyncResult }>('sync', 'now', fx.connectionId, '--dry-run', '--wait');
    assert.equal(r.result.dryRun, true);
    assert.equal(r.result.summary.updated, 1, JSON.stringify(r.result.summary));
    assert.equal(r.result.summary.deleted, 1, 'fresh0 would be deprovisioned');
    assert.equal(fx.sandbox.stats().writes, before, 'a dry run writes nothing');
    assert.ok(fx.duoUser('fresh0'));
    assert.notEqual(fx.duoUser('user5')?.firstname, 'Renamed');
  });

  it('approve with the planned hash releases a guarded run; its deletions are applied', async () => {
    // 8 of 21 owned users gone is over the 10% guard.
    staff = staff.slice(0, USERS - 7);
    fx.writeUsers(staff);
    // A run that just ended may still be the entity's current run for a moment: start from idle.
    await waitForStatus('idle', idle);
    const started = await jsonOf<{ workflowId: string }>('sync', 'now', fx.connectionId);
    const status = await waitForStatus('the guard to stop the run', (s) => s.currentRun?.phase === 'awaitingApproval');
    const waiting = status.currentRun?.awaitingApproval;
    assert.ok(waiting);
    assert.equal(waiting.plannedDeletions, 8);
    assert.equal(status.currentRun?.workflowId, started.workflowId);
    const human = await cli('status', fx.connectionId);
    assert.match(human.out, new RegExp(`AWAITING APPROVAL of 8/21 deprovisions \\(hash ${waiting.deletionSetHash}\\)`));

    const approved = await cli('approve', fx.connectionId, started.workflowId, '--hash', waiting.deletionSetHash);
    assert.equal(approved.code, ExitCode.ok, approved.err);
    assert.match(approved.out, new RegExp(`deletions approved for ${started.workflowId}`));
    const done = await waitForStatus('the approved run to end', (s) => idle(s) && s.lastRuns.some((run) => run.workflowId === started.workflowId && run.outcome !== 'running'));
    const run = done.lastRuns.find((x) => x.workflowId === started.workflowId);
    assert.equal(run?.outcome, 'succeeded');
    assert.equal(run?.counts?.deleted, 8);
    assert.deepEqual(fx.duoUsernames(), staff.map((u) => u.username).sort());
  });

  it('rule upsert from YAML adds a rule (bad rule files exit 2); rule delete releases its users', async () => {
    const bad = join(dir, 'bad-rule.yaml');
    writeFileSync(bad, stringify({ id: 'Bad Id', direction: 'sideways' }));
    const refused = await cli('rule', 'upsert', fx.connectionId, bad);
    assert.equal(refused.code, ExitCode.usage);
    assert.match(refused.err, /id: must be a lower-case slug/);
    assert.match(refused.err, /direction/);

    const file = join(dir, 'contractors.yaml');
    writeFileSync(file, stringify({ id: 'contractors', direction: 'outbound', scope: { kind: 'filter', filter: { attr: 'username', op: 'startsWith', value: 'contractor' } } }));
    const saved = await jsonOf<{ ruleId: string; rules: number }>('rule', 'upsert', fx.connectionId, file);
    assert.equal(saved.ruleId, 'contractors');
    assert.equal(saved.rules, 2);
    const status = await jsonOf<ConnectionStatus>('status', fx.connectionId);
    assert.deepEqual(status.rules.map((r) => r.id).sort(), ['contractors', 'staff']);

    fx.writeUsers([...staff, ...makeUsers(2, 'contractor')]);
    await waitForStatus('idle', idle);
    const synced = await jsonOf<{ outcome: string; result: FullSyncResult }>('sync', 'now', fx.connectionId, '--rule', 'contractors', '--wait');
    assert.equal(synced.result.summary.created, 2, JSON.stringify(synced.result.summary));
    assert.match(fx.duoUser('contractor0')?.notes ?? '', /r=contractors/);

    const deleted = await jsonOf<{ workflowId: string }>('rule', 'delete', fx.connectionId, 'contractors');
    await testTemporal().client.workflow.getHandle(deleted.workflowId).result();
    // Without deprovisionOnRuleDeletion the users stay, released from the rule's ownership.
    assert.ok(fx.duoUser('contractor0'));
    assert.doesNotMatch(fx.duoUser('contractor0')?.notes ?? '', /duo-sync/);
    assert.deepEqual((await jsonOf<ConnectionStatus>('status', fx.connectionId)).rules.map((r) => r.id), ['staff']);
  });

  it('reset of a running full sync: the connection follows the new run and records its result', async () => {
    await waitForStatus('idle', idle);
    fx.sandbox.setLatency(250);
    try {
      const started = await jsonOf<{ workflowId: string }>('sync', 'now', fx.connectionId);
      await waitForStatus('the sync to be under way', (s) => s.currentRun?.workflowId === started.workflowId);
      // `--to first` needs the run's first workflow task completed; the entity shows the run as soon as it starts it.
      await waitFor('the run\'s first workflow task', async () => {
        const { events } = await testTemporal().client.workflow.getHandle(started.workflowId).fetchHistory();
        return events?.some((e) => e.workflowTaskCompletedEventAttributes) ? true : undefined;
      });
      const reset = await jsonOf<{ runId: string; newRunId: string }>('reset', started.workflowId, '--to', 'first', '--reason', 'test: reset while running');
      assert.notEqual(reset.newRunId, reset.runId);
      const done = await waitForStatus('the reset run to be recorded', (s) => idle(s) && s.lastRuns.some((r) => r.workflowId === started.workflowId && r.outcome !== 'running'));
      const run = done.lastRuns.find((r) => r.workflowId === started.workflowId);
      assert.equal(run?.outcome, 'succeeded', JSON.stringify(run));
      assert.equal(run?.counts?.unchanged, staff.length);
    } finally {
      fx.sandbox.setLatency(0);
    }
  });

  it('events lists what happened, oldest first', async () => {
    const events = await jsonOf<{ at: string; message: string }[]>('events', fx.connectionId, '--limit', '200');
    const text = events.map((e) => e.message).join('\n');
    assert.match(text, /paused: maintenance window/);
    assert.match(text, /resumed/);
    assert.deepEqual([...events].sort((a, b) => a.at.localeCompare(b.at)), events);
    const human = await cli('events', fx.connectionId, '--limit', '3');
    assert.equal(human.out.trim().split('\n').length, 3);
  });
});
