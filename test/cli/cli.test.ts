/**
 * The ops CLI end to end: `runCli` in-process against the real dev server, with a real worker on its
 * own task queue, the Duo sandbox and a file store (test/support), plus one spawned `--help` smoke
 * test of bin/duo-sync.js. Covers configure from YAML and bad files, `sync now --wait`, status,
 * a refused approval, replay (OK and a detected non-determinism) and reset.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { stringify } from 'yaml';
import { runCli, ExitCode } from '../../src/cli/main';
import type { ConnectionStatus } from '../../src/contract';
import type { FullSyncResult } from '../../src/contract';
import { cliDriver, cliEnv, collector } from '../support/cli';
import { startEntityHarness, type EntityHarness } from '../support/entity';
import { makeUsers, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';

describe('duo-sync CLI (in-process, real worker)', function () {
  this.timeout(60_000);
  const USERS = 6;
  let harness: EntityHarness;
  let fx: SyncFixture;
  let env: NodeJS.ProcessEnv;
  let dir: string;

  const { cli, jsonOf } = cliDriver(() => env);

  async function firstSyncDone(): Promise<ConnectionStatus> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await jsonOf<ConnectionStatus>('status', fx.connectionId);
      if (status.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome !== 'running') && !status.currentRun) return status;
      if (Date.now() > deadline) throw new Error(`first full sync did not finish: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  before(async () => {
    // userType is mapped (with a role) so a bad value can make a run partial below.
    const rules = [{ id: 'staff', direction: 'outbound' as const, scope: { kind: 'all' as const }, attributeMappings: { userType: { from: 'attr:userType' } }, administrators: { role: 'Help Desk' as const } }];
    harness = await startEntityHarness({ users: makeUsers(USERS), config: { rules } });
    fx = harness.fx;
    env = cliEnv(harness.dsc.taskQueue);
    dir = mkdtempSync(join(tmpdir(), 'duo-sync-cli-'));
  });

  after(async () => {
    await harness.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad files with path: message lines and exit 2, before touching Temporal', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, stringify({ ...fx.config, bogus: 1, duo: { ...fx.config.duo, apiHost: 'https://x.example.com/' }, userActions: { deprovision: true } }));
    const r = await cli('connection', 'configure', bad);
    assert.equal(r.code, ExitCode.usage);
    assert.match(r.err, /^duo-sync: invalid connection configuration in .*bad\.yaml \(\d+ problems\):$/m);
    assert.match(r.err, /^ {2}\(root\): unknown key "bogus"/m);
    assert.match(r.err, /^ {2}duo\.apiHost: must be a host name/m);
    assert.match(r.err, /^ {2}userActions\.removeAction: required when deprovision is on/m);
    assert.equal(r.out, '');

    const unparsable = join(dir, 'broken.yaml');
    writeFileSync(unparsable, 'connectionId: [unclosed\n');
    const p = await cli('connection', 'create', unparsable);
    assert.equal(p.code, ExitCode.usage);
    assert.match(p.err, /cannot parse connection configuration file .*broken\.yaml as YAML/);

    const missing = await cli('connection', 'configure', join(dir, 'nope.json'));
    assert.equal(missing.code, ExitCode.usage);
    assert.match(missing.err, /cannot read connection configuration file .*nope\.json \(ENOENT\)/);

    const usage = await cli('status', 'Not A Slug');
    assert.equal(usage.code, ExitCode.usage);
    assert.match(usage.err, /connectionId: must be a lower-case slug/);

    const badEnv = await runCli(['status', 'acme'], { stdout: new PassThrough(), stderr: collector().stream }, { TEMPORAL_ADDRESS: 'nope' });
    assert.equal(badEnv, ExitCode.usage);
  });

  it('creates a connection from YAML (update-with-start), refuses to create it twice, reports an unknown one', async () => {
    const file = join(dir, 'connection.yaml');
    writeFileSync(file, stringify(fx.config));
    const r = await cli('connection', 'create', file);
    assert.equal(r.code, ExitCode.ok, r.err);
    assert.match(r.out, new RegExp(`connection ${fx.connectionId} created \\(1 rule, enabled=true\\)`));
    assert.match(r.out, /connection test of .*: passed/);

    const again = await cli('connection', 'create', file);
    assert.equal(again.code, ExitCode.failed);
    assert.match(again.err, /already exists; change it with: duo-sync connection configure/);

    const unknown = await cli('status', 'no-such-connection');
    assert.equal(unknown.code, ExitCode.failed);
    assert.match(unknown.err, /^duo-sync: could not read the status of connection no-such-connection: workflow connection\/no-such-connection .*not found; .*duo-sync connection create <file>\n$/);

    const status = await firstSyncDone();
    assert.equal(status.lastRuns.find((run) => run.kind === 'fullSync')?.counts?.created, USERS);
    assert.equal(fx.duoUsernames().length, USERS);
  });

  let syncedRun = '';

  it('sync now --wait --json prints the final result; status --json and the human status table', async () => {
    const result = await jsonOf<{ workflowId: string; queued: boolean; outcome: string; result: FullSyncResult }>('sync', 'now', fx.connectionId, '--wait', '--reason', 'cli test');
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.result.summary.unchanged, USERS);
    assert.match(result.workflowId, new RegExp(`^full-sync/${fx.connectionId}/\\d+$`));
    syncedRun = result.workflowId;

    const status = await jsonOf<ConnectionStatus>('status', fx.connectionId);
    assert.equal(status.enabled, true);
    assert.equal(status.connectionTest?.ok, true);
    assert.equal(status.lastRuns.find((run) => run.workflowId === syncedRun)?.outcome, 'succeeded');

    const human = await cli('status', fx.connectionId);
    assert.equal(human.code, ExitCode.ok);
    assert.match(human.out, /^enabled: +yes$/m);
    assert.match(human.out, /^rules: +staff \(outbound\)$/m);
    assert.match(human.out, new RegExp(`${syncedRun.replace(/\//g, '\\/')} +fullSync +succeeded`));

    const events = await jsonOf<{ message: string }[]>('events', fx.connectionId, '--limit', '50');
    assert.ok(events.some((e) => /sync requested: cli test/.test(e.message)), JSON.stringify(events));
  });

  it('approve is refused for a run that is not awaiting approval: exit 1, one clear line', async () => {
    const r = await cli('approve', fx.connectionId, syncedRun, '--hash', 'ffffffffffffffff');
    assert.equal(r.code, ExitCode.failed);
    assert.equal(r.out, '');
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, new RegExp(`could not approve deletions for run ${syncedRun} of connection ${fx.connectionId}: run ${syncedRun} is not awaiting deletion approval \\(NotAwaitingApproval\\); find the run awaiting approval with: duo-sync status ${fx.connectionId}`));
  });

  it('replay: OK for a finished run; a doctored history is reported as non-determinism (exit 1)', async () => {
    const ok = await cli('replay', syncedRun);
    assert.equal(ok.code, ExitCode.ok, ok.err);
    assert.match(ok.out, /^replay OK: /);

    // A history whose first scheduled activity has another type: what a changed workflow would meet.
    const history = await testTemporal().client.workflow.getHandle(syncedRun).fetchHistory();
    const json = JSON.parse(historyToJSON(history)) as { events: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }[] };
    const scheduled = json.events.find((e) => e.activityTaskScheduledEventAttributes);
    assert.ok(scheduled?.activityTaskScheduledEventAttributes);
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'renamedActivity';
    const file = join(dir, 'doctored-history.json');
    writeFileSync(file, JSON.stringify(json));
    const failed = await cli('--json', 'replay', syncedRun, '--file', file);
    assert.equal(failed.code, ExitCode.failed);
    const report = JSON.parse(failed.out) as { ok: boolean; nondeterministic: boolean; message: string };
    assert.equal(report.ok, false);
    assert.equal(report.nondeterministic, true, report.message);
    assert.match(report.message, /renamedActivity/);
  });

  it('reset of a completed full sync to its first workflow task returns a new run id that completes', async () => {
    const bad = await cli('reset', syncedRun, '--event-id', '1');
    assert.equal(bad.code, ExitCode.usage);
    assert.match(bad.err, /event 1 is a WORKFLOW_EXECUTION_STARTED event; reset needs a WORKFLOW_TASK_COMPLETED/);

    const r = await jsonOf<{ runId: string; newRunId: string; eventId: number }>('reset', syncedRun, '--to', 'first', '--reason', 'cli test');
    assert.notEqual(r.newRunId, r.runId);
    const result = (await testTemporal().client.workflow.getHandle(syncedRun, r.newRunId).result()) as FullSyncResult;
    assert.equal(result.outcome, 'succeeded');
    assert.equal(result.summary.unchanged, USERS);
  });

  it('sync now --wait exits 1 with the failures when the run is partial', async () => {
    fx.writeUsers([...makeUsers(USERS), { ...makeUsers(1, 'odd')[0], attributes: { userType: 'wizard' } } as FileUser]);
    const r = await cli('sync', 'now', fx.connectionId, '--wait');
    assert.equal(r.code, ExitCode.failed, r.err);
    assert.match(r.out, /^outcome: +partial$/m);
    assert.match(r.out, /^ {2}odd0 +\S+ +.*userType "wizard" is not valid/m);
    assert.match(r.err, /ended partial; read why with: duo-sync status/);
  });

  it('bin/duo-sync.js --help runs as a process', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [resolve(__dirname, '../../bin/duo-sync.js'), '--help'], { timeout: 30_000 });
    assert.match(stdout, /^Usage: duo-sync \[options\] \[command\]/);
    assert.match(stdout, /replay \[options\] <workflowId>/);
  });
});
