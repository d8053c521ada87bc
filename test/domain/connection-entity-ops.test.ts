/**
 * The entity's operator-facing decisions, without a server: the audit trail (who changed what,
 * secrets by path only, kept through continue-as-new, more than 50), when a webhook notification is
 * due, and deleting a connection through its rules' deletions.
 */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { entityConfig, HASH, MIN, readyEntity, T0 } from './entity-fixtures';
import { ConnectionEntity, MAX_AUDIT_KEPT, OPS_RETRY_MINUTES, type OpsAction } from '../../src/domain/entity/connection-entity';
import { actorOf } from '../../src/contract';

const ALICE = { identity: 'alice@ops-1', via: 'cli' } as const;
const counts = { created: 0, updated: 0, disabled: 0, deleted: 0, unchanged: 3, skipped: 0, failed: 1 };

const config = entityConfig;

const hook = (extra: Record<string, unknown> = {}) => ({ notifications: { webhooks: [{ id: 'ops', url: { env: 'DUO_SYNC_HOOK' }, format: 'slack', ...extra }] } });

const entity = (extra: Record<string, unknown> = {}): ConnectionEntity => readyEntity(extra, { actor: ALICE });

/** Takes the ops actions nextAction hands out (as the workflow would), returning them; stops at the first other action. */
function drainOps(e: ConnectionEntity, now = T0): OpsAction[] {
  const out: OpsAction[] = [];
  for (;;) {
    const a = e.nextOpsAction(now);
    if (!a) return out;
    out.push(a);
    if (a.kind === 'writeAudit') e.auditWritten(Math.max(...a.entries.map((x) => x.seq)));
    else e.notificationsDelivered(now, a.deliveries.map((d) => ({ webhookId: d.webhook.id, sent: d.notifications.map((n) => n.id) })));
  }
}

function notifications(actions: OpsAction[]) {
  return actions.flatMap((a) => (a.kind === 'notify' ? a.deliveries.flatMap((d) => d.notifications) : []));
}

describe('ConnectionEntity: audit trail', () => {
  it('records who configured what, with field paths and values, and secret references by path only', () => {
    const e = entity();
    const next = config({ duo: { apiHost: 'api-87654321.duosecurity.com', integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: { file: '/run/secrets/new' } }, fullSyncIntervalMinutes: 60 });
    e.configure(T0 + 1, e.checkConfigure(next), { identity: 'bob@laptop', via: 'api' });
    const [first, second] = e.auditEntries();
    assert.equal(first?.action, 'configure');
    assert.deepEqual(first?.actor, ALICE);
    assert.ok(first?.changes.some((c) => c.path === 'duo.apiHost' && c.to === 'api-12345678.duosecurity.com'), 'the first configure lists every field it set');
    assert.deepEqual(second?.actor, { identity: 'bob@laptop', via: 'api' });
    assert.deepEqual(
      second?.changes,
      [
        { path: 'duo.apiHost', from: 'api-12345678.duosecurity.com', to: 'api-87654321.duosecurity.com' },
        { path: 'duo.secretKey', secret: true },
        { path: 'fullSyncIntervalMinutes', from: 30, to: 60 },
      ],
    );
    assert.ok(!JSON.stringify(e.auditEntries()).includes('/run/secrets/new'), 'no secret reference value in the trail');
    assert.ok(!JSON.stringify(e.auditEntries()).includes('DUO_SYNC_SKEY'), 'not even the first one');
  });

  it('calls a configure that only flips enabled an enable or disable, and rule changes name the rule', () => {
    const e = entity();
    e.configure(T0, e.checkConfigure({ ...config(), enabled: false }), ALICE);
    e.configure(T0, e.checkConfigure(config()), ALICE);
    e.upsertRule(T0, e.checkUpsertRule({ id: 'staff', direction: 'outbound', scope: { kind: 'groups', groups: ['staff'] }, description: 'people on payroll' }), ALICE);
    e.deleteRule(T0, 'staff', ALICE);
    const entries = e.auditEntries().slice(1);
    assert.deepEqual(entries.map((x) => x.action), ['disable', 'enable', 'upsertRule', 'deleteRule']);
    assert.deepEqual(entries[0]?.changes, [{ path: 'enabled', from: true, to: false }]);
    assert.equal(entries[2]?.target, 'staff');
    assert.ok(entries[2]?.changes.some((c) => c.path === 'rules[staff].scope.kind' && c.from === 'all' && c.to === 'groups'));
    assert.ok(entries[2]?.changes.some((c) => c.path === 'rules[staff].description' && c.to === 'people on payroll'));
    assert.ok(entries[3]?.changes.some((c) => c.path === 'rules[staff].direction' && c.from === 'outbound' && c.to === undefined));
  });

  it('records pause, resume and deletion decisions; a message without a caller is the Web UI', () => {
    const e = entity();
    e.pause(T0, { reason: 'INC-1' }, actorOf({ identity: 'carol', via: 'cli' }));
    e.resume(T0, actorOf(undefined));
    e.deletionsDecided(T0, { runId: 'full-sync/acme/3', deletionSetHash: HASH, decision: 'skip' }, ALICE);
    const [, pause, resume, decision] = e.auditEntries();
    assert.deepEqual([pause?.action, pause?.reason, pause?.actor.identity], ['pause', 'INC-1', 'carol']);
    assert.deepEqual(pause?.changes, [{ path: 'paused', from: false, to: true }]);
    assert.deepEqual(resume?.actor, { via: 'web-ui' });
    assert.deepEqual([decision?.action, decision?.target], ['skipDeletions', 'full-sync/acme/3']);
  });

  it('keeps more than 50 entries, through continue-as-new, and hands every entry to the sink once', () => {
    const e = entity();
    for (let i = 0; i < 120; i += 1) e.pause(T0 + i, { reason: `r${i}` }, ALICE);
    const carried = new ConnectionEntity({ connectionId: 'acme', minuteMs: MIN, maxConcurrentReconciles: 2 }, JSON.parse(JSON.stringify(e.carry())));
    assert.equal(carried.auditEntries().length, 121);
    assert.equal(carried.auditEntries(10).at(-1)?.reason, 'r119');
    const writes = drainOps(carried).filter((a) => a.kind === 'writeAudit');
    assert.deepEqual(writes.flatMap((a) => (a.kind === 'writeAudit' ? a.entries.map((x) => x.seq) : [])), Array.from({ length: 121 }, (_, i) => i + 1));
    carried.pause(T0, {}, ALICE);
    const again = drainOps(carried);
    assert.deepEqual(again.flatMap((a) => (a.kind === 'writeAudit' ? a.entries.map((x) => x.seq) : [])), [122], 'only the new entry');
    for (let i = 0; i < MAX_AUDIT_KEPT; i += 1) carried.resume(T0, ALICE);
    assert.equal(carried.auditEntries().length, MAX_AUDIT_KEPT, 'the entity keeps the last MAX_AUDIT_KEPT; the audit file keeps all');
  });

  it('retries a failed audit write after a pause, and continue-as-new waits for the write in flight', () => {
    const e = entity();
    const write = e.nextOpsAction(T0);
    assert.equal(write?.kind, 'writeAudit');
    assert.equal(e.readyToContinueAsNew(), false);
    e.auditWriteFailed(T0, 'EACCES');
    assert.equal(e.readyToContinueAsNew(), true);
    assert.equal(e.nextOpsAction(T0 + 1), undefined, 'not again at once');
    assert.equal(e.nextAction(T0 + 1).kind, 'startRun', 'runs are not held up by the audit sink');
    assert.equal(e.nextOpsAction(T0 + OPS_RETRY_MINUTES * MIN)?.kind, 'writeAudit');
  });
});

describe('ConnectionEntity: when to notify', () => {
  it('notifies nothing without webhooks', () => {
    const e = entity();
    e.connectionTested(T0, { ok: false, testedAt: '', checks: [{ name: 'credentials', ok: false, message: 'bad key' }] });
    assert.deepEqual(notifications(drainOps(e)), []);
  });

  it('tells when the connection test starts failing and when it passes again, once each', () => {
    const e = entity(hook());
    drainOps(e);
    const failing = { ok: false, testedAt: '', checks: [{ name: 'credentials' as const, ok: false, message: 'bad key' }] };
    e.connectionTested(T0, failing);
    e.connectionTested(T0, failing);
    e.connectionTested(T0, { ok: true, testedAt: '', checks: [] });
    e.connectionTested(T0, { ok: true, testedAt: '', checks: [] });
    const sent = notifications(drainOps(e));
    assert.deepEqual(sent.map((n) => n.event), ['connectionTestFailing', 'connectionTestRecovered']);
    assert.match(sent[0]?.text ?? '', /credentials: bad key/);
  });

  it('tells when a sync fails or ends partial, and when deletions wait for approval (once per deletion set)', () => {
    const e = entity(hook());
    drainOps(e);
    const run = e.nextAction(T0);
    assert.equal(run.kind, 'startRun');
    const workflowId = run.kind === 'startRun' ? run.run.workflowId : '';
    const waiting = { workflowId, phase: 'awaitingApproval' as const, pagesDone: 1, usersSeen: 9, counts, awaitingApproval: { plannedDeletions: 7, ownedCount: 9, deletionSetHash: HASH, reason: 'over maxFraction' } };
    e.runProgress(T0, waiting);
    e.runProgress(T0, waiting);
    e.runFinished(T0, { workflowId, kind: 'fullSync', outcome: 'partial', dryRun: false, counts, note: '1 user failed' });
    const sent = notifications(drainOps(e));
    assert.deepEqual(sent.map((n) => n.event), ['deletionsAwaitingApproval', 'runPartial']);
    assert.equal(sent[0]?.details['approveCommand'], `duo-sync approve acme ${workflowId} --hash ${HASH}`);
    assert.equal(sent[1]?.details['workflowId'], workflowId);
    assert.equal(new Set(sent.map((n) => n.id)).size, 2, 'ids are unique');
  });

  it('sends each webhook only the events it asked for, and retries only the webhook that failed', () => {
    const e = entity({
      notifications: {
        webhooks: [
          { id: 'chat', url: { env: 'DUO_SYNC_A' }, format: 'slack', events: ['runFailed'] },
          { id: 'pager', url: { env: 'DUO_SYNC_B' }, events: ['runFailed', 'connectionTestFailing'] },
        ],
      },
    });
    drainOps(e);
    e.connectionTested(T0, { ok: false, testedAt: '', checks: [{ name: 'read', ok: false, message: 'no' }] });
    const first = e.nextOpsAction(T0);
    assert.equal(first?.kind, 'notify');
    if (first?.kind !== 'notify') return;
    assert.deepEqual(first.deliveries.map((d) => d.webhook.id), ['pager']);
    e.notificationsDelivered(T0, [{ webhookId: 'pager', sent: [], error: 'HTTP 503' }]);
    assert.match(e.status().recentEvents.at(-1)?.message ?? '', /webhook pager failed: HTTP 503/);
    assert.equal(e.nextOpsAction(T0 + 1), undefined, 'waits before trying again');
    const retry = e.nextOpsAction(T0 + OPS_RETRY_MINUTES * MIN);
    assert.equal(retry?.kind, 'notify');
  });
});

describe('ConnectionEntity: deleting a connection', () => {
  it('deletes every rule through a rule-deletion run, takes no more changes, and finishes when they succeeded', () => {
    const e = entity({ rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }, { id: 'admins', direction: 'outbound', scope: { kind: 'all' } }] });
    drainOps(e);
    const { runs } = e.deleteConnection(T0, e.checkDeleteConnection({ reason: 'tenant gone' }), ALICE);
    assert.deepEqual(runs.map((r) => [r.kind, r.ruleId]), [['deleteRule', 'staff'], ['deleteRule', 'admins']]);
    assert.equal(e.auditEntries().at(-1)?.action, 'deleteConnection');
    assert.throws(() => e.checkConfigure(config()), (err) => err instanceof ApplicationFailure && err.type === 'ConnectionDeleting');
    assert.throws(() => e.checkSyncNow({}), (err) => err instanceof ApplicationFailure && err.type === 'ConnectionDeleting');
    assert.equal(drainOps(e).length, 1, 'the audit entry is written');
    assert.equal(e.nextAction(T0).kind, 'wait', 'waits for the rule deletions');
    e.runFinished(T0, { workflowId: runs[0]?.workflowId ?? '', kind: 'deleteRule', outcome: 'succeeded', dryRun: false, counts });
    assert.equal(e.nextAction(T0).kind, 'wait');
    e.runFinished(T0, { workflowId: runs[1]?.workflowId ?? '', kind: 'deleteRule', outcome: 'succeeded', dryRun: false, counts });
    assert.equal(e.nextAction(T0).kind, 'finish');
  });

  it('does not finish while a rule deletion failed; sending it again retries that rule', () => {
    const e = entity();
    drainOps(e);
    const { runs } = e.deleteConnection(T0, {}, ALICE);
    drainOps(e);
    e.runFinished(T0, { workflowId: runs[0]?.workflowId ?? '', kind: 'deleteRule', outcome: 'failed', dryRun: false, note: 'Duo down' });
    assert.equal(e.nextAction(T0).kind, 'wait');
    assert.deepEqual(e.status().deleting?.failedRuleDeletions, ['staff']);
    const again = e.deleteConnection(T0 + 1, {}, ALICE);
    assert.deepEqual(again.runs.map((r) => r.ruleId), ['staff']);
    assert.equal(e.claimRun(T0 + 1, { workflowId: again.runs[0]?.workflowId ?? '', kind: 'deleteRule', dryRun: false }).deletedRule?.id, 'staff', 'the retry claims the rule definition');
    drainOps(e);
    e.runFinished(T0, { workflowId: again.runs[0]?.workflowId ?? '', kind: 'deleteRule', outcome: 'succeeded', dryRun: false });
    assert.equal(e.nextAction(T0).kind, 'finish');
  });

  it('finishes at once when there are no rules', () => {
    const e = entity({ rules: [] });
    drainOps(e);
    assert.deepEqual(e.deleteConnection(T0, {}, ALICE).runs, []);
    drainOps(e);
    assert.equal(e.nextAction(T0).kind, 'finish');
  });
});
