/**
 * inboundSyncWorkflow against real parts: the Temporal dev server, a worker, the Duo sandbox
 * (seeded through its store, as an admin would create users in Duo) and the file store.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { approveDeletions, configureConnection, connectionStatus, connectionWorkflowId, syncNow, upsertRule, type DuoSyncClient } from '../../src/client';
import { inboundStoreProblem } from '../../src/activities/inbound';
import { ConnectionConfigSchema, type ConnectionConfig } from '../../src/domain/connection';
import { formatInboundMarker } from '../../src/domain/inbound';
import { withMarker } from '../../src/domain/ownership';
import type { ConnectionStatus, InboundSyncInput, InboundSyncResult, RunProgress } from '../../src/contract';
import { createStore, StoreConfigSchema, type IdentityStore, type StoreConfig } from '../../src/stores';
import { saveHistory } from '../support/histories';
import { deleteRuleThroughEntity, entityStatus, runByHand, startByHand } from '../support/runs';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
import { buildLdif, LDAP_ADMIN_DN, LDAP_ADMIN_PASSWORD, LDAP_GROUPS_DN, LDAP_USERS_DN, startOpenLdap, type OpenLdapServer } from '../support/openldap';
import { fixturesPerTest, makeSyncFixture, type FileUser, type FixtureOptions, type SyncFixture } from '../support/sync-fixture';
import { testTemporal, uniqueId } from '../support/temporal';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';

const RULE = 'duo-users';
const INBOUND_RULE = { id: RULE, direction: 'inbound' as const, scope: { kind: 'all' as const } };

interface SeedUser {
  username: string;
  email?: string;
  realname?: string;
  firstname?: string;
  lastname?: string;
  status?: 'active' | 'disabled' | 'bypass';
  notes?: string;
  phone?: string;
}

function seedDuo(fx: SyncFixture, users: SeedUser[]): void {
  for (const { phone, ...fields } of users) {
    const params = new Map(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
    const user = fx.sandbox.store.createUser(params);
    if (phone) {
      const existing = fx.sandbox.store.findPhone(phone);
      const p = existing ?? fx.sandbox.store.createPhone(new Map([['number', phone], ['type', 'mobile']]));
      fx.sandbox.store.associatePhone(user.user_id, p.phone_id);
    }
  }
}

function people(n: number, prefix = 'duo'): SeedUser[] {
  return Array.from({ length: n }, (_, i) => ({
    username: `${prefix}${i}`,
    email: `${prefix}${i}@example.org`,
    realname: `First${i} Last${i}`,
    firstname: `First${i}`,
    lastname: `Last${i}`,
    phone: `+1555200${String(i).padStart(4, '0')}`,
  }));
}

function storeUsers(fx: SyncFixture): FileUser[] {
  return (JSON.parse(readFileSync(fx.storePath, 'utf8')) as { users: FileUser[] }).users;
}

function storeUser(fx: SyncFixture, username: string): FileUser | undefined {
  return storeUsers(fx).find((u) => u.username === username);
}

function deleteDuoUser(fx: SyncFixture, username: string): void {
  const id = fx.sandbox.store.findUserIdByName(username);
  assert.ok(id, `Duo user ${username} exists`);
  fx.sandbox.store.deleteUser(id);
}

function runInbound(fx: SyncFixture, extra: Omit<InboundSyncInput, 'connectionId'> = {}, historyName?: string): Promise<InboundSyncResult> {
  return runByHand(fx, 'inboundSyncWorkflow', extra, historyName ? { historyName } : {});
}

/** Inbound runs chain an outbound and an inbound sync: they get longer than the default wait. */
const WAIT_MS = 90_000;

describe('inboundSyncWorkflow (real dev server, Duo sandbox, file store)', function () {
  this.timeout(180_000);
  const made = fixturesPerTest();
  const fixture = (options: FixtureOptions = {}) => made({ ...options, config: { rules: [INBOUND_RULE], ...options.config } });

  it('creates store users from Duo with the ownership marker, skips users it provisioned outbound, and a re-run writes nothing', async () => {
    const fx = await fixture();
    seedDuo(fx, people(7));
    seedDuo(fx, [{ username: 'from-store', email: 'fs@example.org', notes: withMarker('', { connectionId: fx.connectionId, ruleId: 'staff' }) }]);
    const first = await runInbound(fx, { duoPageSize: 3, pagesPerRun: 2 }, 'inbound-sync-initial');
    assert.equal(first.outcome, 'succeeded', first.notes.join('\n'));
    assert.equal(first.summary.created, 7);
    assert.equal(first.summary.skipped, 1, 'the outbound-provisioned Duo user is not copied back');
    assert.equal(first.duoCount, 7);
    assert.equal(storeUser(fx, 'from-store'), undefined);
    const u = storeUser(fx, 'duo3');
    assert.deepEqual(u, {
      id: u?.id,
      username: 'duo3',
      email: 'duo3@example.org',
      phones: ['+15552000003'],
      givenName: 'First3',
      familyName: 'Last3',
      displayName: 'First3 Last3',
      enabled: true,
      groups: [],
      attributes: { duoSyncOwner: formatInboundMarker({ connectionId: fx.connectionId, ruleId: RULE }) },
    });

    const before = statSync(fx.storePath).mtimeMs;
    fx.sandbox.resetStats();
    const again = await runInbound(fx);
    assert.equal(again.summary.unchanged, 7);
    assert.equal(again.summary.created + again.summary.updated + again.summary.deleted + again.summary.disabled, 0);
    assert.equal(statSync(fx.storePath).mtimeMs, before, 'a run without changes does not write the store');
    assert.equal(fx.sandbox.stats().writes, 0, 'inbound never writes to Duo');
  });

  it('updates and clears changed attributes; a Duo-disabled user is disabled in the store only with update+disable; users it does not own are untouched', async () => {
    const fx = await fixture({ users: [{ username: 'duo2', email: 'hr@example.org', phones: [], enabled: true, groups: [] }] });
    seedDuo(fx, people(3));
    const first = await runInbound(fx);
    assert.equal(first.summary.created, 2);
    assert.equal(first.summary.skipped, 1, 'duo2 exists in the store and is not adopted');

    const duo0 = fx.duoUser('duo0');
    const duo1 = fx.duoUser('duo1');
    const duo2 = fx.duoUser('duo2');
    assert.ok(duo0 && duo1 && duo2);
    fx.sandbox.store.modifyUser(duo0.user_id, new Map([['email', 'new0@example.org'], ['lastname', ''], ['realname', '']]));
    for (const phoneId of [...duo0.phoneIds]) fx.sandbox.store.disassociatePhone(duo0.user_id, phoneId);
    fx.sandbox.store.modifyUser(duo1.user_id, new Map([['status', 'disabled']]));
    fx.sandbox.store.modifyUser(duo2.user_id, new Map([['email', 'other@example.org'], ['status', 'disabled']]));

    fx.config.userActions.disable = false;
    fx.config.userActions.removeAction = 'delete';
    const noDisable = await runInbound(fx);
    assert.equal(noDisable.summary.updated, 1);
    assert.equal(storeUser(fx, 'duo1')?.enabled, true, 'disable is off');

    fx.config.userActions.disable = true;
    const res = await runInbound(fx);
    assert.equal(res.summary.disabled, 1);
    const u0 = storeUser(fx, 'duo0');
    assert.equal(u0?.email, 'new0@example.org');
    assert.equal(u0?.familyName, undefined, 'an emptied Duo field clears the store attribute');
    assert.equal(u0?.displayName, undefined);
    assert.deepEqual(u0?.phones, []);
    assert.equal(storeUser(fx, 'duo1')?.enabled, false);
    assert.deepEqual(storeUser(fx, 'duo2'), { username: 'duo2', email: 'hr@example.org', phones: [], enabled: true, groups: [], attributes: {} }, 'not owned: untouched');
  });

  it('deprovisions owned store users gone from Duo per removeAction, and never store users it does not own', async () => {
    const fx = await fixture({ users: [{ username: 'hr-only', phones: [], enabled: true, groups: [] }] });
    seedDuo(fx, people(20));
    await runInbound(fx);
    deleteDuoUser(fx, 'duo4');

    fx.config.userActions.removeAction = 'disable';
    const disabled = await runInbound(fx);
    assert.equal(disabled.summary.disabled, 1, JSON.stringify(disabled));
    assert.equal(storeUser(fx, 'duo4')?.enabled, false);

    fx.config.userActions.removeAction = 'delete';
    const deleted = await runInbound(fx, {}, 'inbound-sync-deprovision');
    assert.equal(deleted.summary.deleted, 1);
    assert.equal(storeUser(fx, 'duo4'), undefined);
    assert.ok(storeUser(fx, 'hr-only'), 'a store user inbound did not create survives');
    assert.equal(storeUsers(fx).length, 20);
  });

  it('dryRun plans and counts but writes nothing', async () => {
    const fx = await fixture();
    seedDuo(fx, people(4));
    const dry = await runInbound(fx, { dryRun: true });
    assert.equal(dry.summary.created, 4);
    assert.equal(dry.dryRun, true);
    assert.equal(storeUsers(fx).length, 0);
  });

  it('deletion guard: too many deprovisions wait for approval, then apply exactly the approved set', async () => {
    const fx = await fixture();
    seedDuo(fx, people(10));
    await runInbound(fx);
    for (const name of ['duo1', 'duo2', 'duo3']) deleteDuoUser(fx, name);
    fx.config.sourceHealth.maxDropFraction = 1;

    const handle = await startByHand(fx, 'inboundSyncWorkflow', {});
    const waiting = await waitFor('awaitingApproval', async () => {
      const p = await handle.query<RunProgress>('progress');
      return p.phase === 'awaitingApproval' ? p : undefined;
    }, WAIT_MS);
    assert.equal(waiting.awaitingApproval?.plannedDeletions, 3);
    assert.equal(storeUsers(fx).length, 10, 'nothing deleted while waiting');
    await handle.signal('approveDeletions', { runId: handle.workflowId, decision: 'approve', deletionSetHash: waiting.awaitingApproval?.deletionSetHash });
    const result = (await handle.result()) as InboundSyncResult;
    assert.equal(result.summary.deleted, 3);
    assert.equal(storeUsers(fx).length, 7);
  });

  it('source health: an empty Duo read or a failed one deprovisions nobody and says why', async () => {
    const fx = await fixture();
    seedDuo(fx, people(5));
    await runInbound(fx);

    fx.sandbox.account.permissions.readResource = false;
    const failed = await runInbound(fx);
    fx.sandbox.account.permissions.readResource = true;
    assert.equal(failed.outcome, 'partial');
    assert.equal(failed.duoCount, null);
    assert.ok(failed.notes.some((n) => /could not be synced.*deprovisioning are skipped/.test(n)), failed.notes.join('\n'));
    assert.equal(storeUsers(fx).length, 5);

    for (let i = 0; i < 5; i++) deleteDuoUser(fx, `duo${i}`);
    const empty = await runInbound(fx);
    assert.equal(empty.summary.deleted, 0);
    assert.equal(storeUsers(fx).length, 5);
    assert.ok(empty.notes.some((n) => /source-health gate/.test(n)), empty.notes.join('\n'));
  });

  it('deleting the inbound rule releases its store users, or deprovisions them with deprovisionOnRuleDeletion', async () => {
    const fx = await fixture({ users: [{ username: 'hr-only', phones: [], enabled: true, groups: [] }] });
    seedDuo(fx, people(5));
    await runInbound(fx);
    // Deleting all of a rule's users is above any fraction: the approval path has its own tests.
    fx.config.deletionGuard.maxFraction = 1;
    fx.config.userActions.deprovisionOnRuleDeletion = true;
    const deprovisioned = await deleteRuleThroughEntity(fx, RULE, { historyName: 'delete-rule-inbound' });
    assert.equal(deprovisioned.summary.deleted, 5, JSON.stringify(deprovisioned));
    assert.deepEqual(storeUsers(fx).map((u) => u.username), ['hr-only']);

    fx.config.rules = [INBOUND_RULE as (typeof fx.config.rules)[number]];
    fx.config.userActions.deprovisionOnRuleDeletion = false;
    await runInbound(fx);
    const released = await deleteRuleThroughEntity(fx, RULE);
    assert.equal(released.summary.updated, 5, JSON.stringify(released));
    assert.match(released.notes.join(), /ownership released, users and groups left as they are/);
    assert.equal(storeUsers(fx).length, 6);
    assert.deepEqual(storeUser(fx, 'duo3')?.attributes, {}, 'marker removed: inbound sync no longer manages duo3');
    fx.config.rules = [INBOUND_RULE as (typeof fx.config.rules)[number]];
    const again = await runInbound(fx);
    assert.equal(again.summary.skipped, 5, 'released users are not re-adopted');
  });

  it('a read-only store fails the connection test with a message saying what to change, and no run starts', async () => {
    const fx = await fixture();
    fx.config.store = { kind: 'file', path: fx.storePath, readOnly: true };
    seedDuo(fx, people(1));
    await assert.rejects(runInbound(fx), (err: Error) => /connection test has not passed/.test(String((err.cause as Error | undefined)?.message)));
    const status = await entityStatus(fx);
    assert.ok(status.connectionTest?.checks.some((c) => c.name === 'store' && /readOnly; set readOnly: false to use it for inbound rules/.test(c.message)), JSON.stringify(status.connectionTest));
    assert.equal(storeUsers(fx).length, 0);
  });
});

describe('inboundSyncWorkflow through connectionWorkflow', function () {
  this.timeout(180_000);
  let harness: EntityHarness;
  let fx: SyncFixture;
  let dsc: DuoSyncClient;

  async function setUp(options: FixtureOptions): Promise<void> {
    harness = await startEntityHarness(options);
    ({ fx, dsc } = harness);
  }

  afterEach(() => harness.stop());

  const runsDone = (kind: string, atLeast: number) =>
    waitFor(`${atLeast} finished ${kind} runs`, async () => {
      const status = await connectionStatus(dsc, fx.connectionId);
      return status.lastRuns.filter((r) => r.kind === kind && r.outcome !== 'running').length >= atLeast ? status : undefined;
    }, WAIT_MS);

  it('the scheduled sync of all rules runs outbound, then inbound, never both at once; syncNow with the inbound rule runs just that', async () => {
    await setUp({
      users: [{ username: 'store0', email: 'store0@example.org', phones: [], enabled: true, groups: ['staff'] }],
      config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' } }, INBOUND_RULE] },
    });
    seedDuo(fx, people(3));
    await configureConnection(dsc, fx.config);
    const status: ConnectionStatus = await runsDone('inboundSync', 1);
    const full = status.lastRuns.find((r) => r.kind === 'fullSync');
    const inbound = status.lastRuns.find((r) => r.kind === 'inboundSync');
    assert.ok(full?.finishedAt && inbound, JSON.stringify(status.lastRuns));
    assert.ok(full.finishedAt <= inbound.startedAt, 'inbound starts after the full sync finished');
    assert.equal(full.counts?.created, 1, 'store0 provisioned to Duo');
    assert.equal(inbound.counts?.created, 3, JSON.stringify(inbound));
    assert.equal(inbound.counts?.skipped, 1, 'store0 came from the store: not copied back');
    assert.ok(storeUser(fx, 'duo1'));
    assert.match(inbound.workflowId, new RegExp(`^inbound-sync/${fx.connectionId}/\\d+$`));

    // Loop prevention the other way round: the next full sync leaves the inbound-created users alone.
    const fullAgain = await syncNow(dsc, fx.connectionId, { ruleId: 'staff' });
    const afterFull = await runsDone('fullSync', 2);
    const second = afterFull.lastRuns.find((r) => r.workflowId === fullAgain.workflowId);
    assert.equal(second?.counts?.created, 0, JSON.stringify(second));
    assert.equal(second?.counts?.skipped, 3);
    assert.equal(fx.duoUsernames().length, 4);

    seedDuo(fx, [{ username: 'late', email: 'late@example.org' }]);
    const started = await syncNow(dsc, fx.connectionId, { ruleId: RULE });
    assert.match(started.workflowId, /^inbound-sync\//);
    const after = await runsDone('inboundSync', 2);
    assert.equal(after.lastRuns.filter((r) => r.kind === 'fullSync').length, 2, 'syncNow of the inbound rule ran no outbound sync');
    assert.equal(after.lastRuns.find((r) => r.workflowId === started.workflowId)?.counts?.created, 1);
    assert.ok(storeUser(fx, 'late'));
    await saveHistory('connection-inbound', connectionWorkflowId(fx.connectionId));

    const secondInbound = { ...INBOUND_RULE, id: 'second', attributeMappings: {} };
    await assert.rejects(upsertRule(dsc, fx.connectionId, secondInbound), /rules\[2\]\.direction: only one inbound rule per connection/);
  });

  it('status shows an inbound run waiting at the deletion guard, and approveDeletions on the entity releases exactly that set', async () => {
    await setUp({ config: { rules: [INBOUND_RULE] } });
    seedDuo(fx, people(10));
    await configureConnection(dsc, fx.config);
    await runsDone('inboundSync', 1);
    for (const name of ['duo1', 'duo2', 'duo3']) deleteDuoUser(fx, name);
    const { workflowId } = await syncNow(dsc, fx.connectionId, {});
    const waiting = await waitFor('awaitingApproval in status', async () => {
      const s = await connectionStatus(dsc, fx.connectionId);
      return s.currentRun?.workflowId === workflowId && s.currentRun.phase === 'awaitingApproval' ? s.currentRun : undefined;
    }, WAIT_MS);
    assert.equal(waiting.awaitingApproval?.plannedDeletions, 3);
    assert.equal(storeUsers(fx).length, 10);
    await approveDeletions(dsc, fx.connectionId, { runId: workflowId, deletionSetHash: waiting.awaitingApproval?.deletionSetHash ?? '' });
    const done = await runsDone('inboundSync', 2);
    assert.equal(done.lastRuns.find((r) => r.workflowId === workflowId)?.counts?.deleted, 3);
    assert.deepEqual(storeUsers(fx).map((u) => u.username).sort(), ['duo0', 'duo4', 'duo5', 'duo6', 'duo7', 'duo8', 'duo9']);
  });

  it('configure: a read-only store fails the connection test for an inbound rule, so nothing is provisioned', async () => {
    await setUp({ config: { rules: [INBOUND_RULE] } });
    seedDuo(fx, people(1));
    fx.config.store = { kind: 'file', path: fx.storePath, readOnly: true };
    await configureConnection(dsc, fx.config);
    const status = await connectionStatus(dsc, fx.connectionId);
    const check = status.connectionTest?.checks.find((c) => c.name === 'store');
    assert.equal(status.connectionTest?.ok, false);
    assert.match(check?.message ?? '', /inbound rule duo-users: .*readOnly; set readOnly: false/);
    await assert.rejects(syncNow(dsc, fx.connectionId, {}), /connection test has not passed/);
    assert.equal(storeUsers(fx).length, 0);
  });

  it('an inbound-only connection syncs on configure, and inboundSyncWorkflow starts by hand with just {connectionId}', async () => {
    await setUp({ config: { rules: [INBOUND_RULE] } });
    seedDuo(fx, people(2));
    await configureConnection(dsc, fx.config);
    const status = await runsDone('inboundSync', 1);
    assert.equal(status.lastRuns.filter((r) => r.kind === 'fullSync').length, 0, 'no outbound rules: no full sync');
    assert.equal(storeUsers(fx).length, 2);

    seedDuo(fx, [{ username: 'byhand', email: 'byhand@example.org' }]);
    const result = await testTemporal().client.workflow.execute('inboundSyncWorkflow', {
      taskQueue: dsc.taskQueue,
      workflowId: uniqueId(`inbound-sync/${fx.connectionId}`),
      args: [{ connectionId: fx.connectionId }],
    });
    assert.equal((result as InboundSyncResult).summary.created, 1);
    assert.ok(storeUser(fx, 'byhand'));
  });
});

describe('inboundStoreProblem (config-time store checks)', () => {
  const config = (userActions: Partial<ConnectionConfig['userActions']>): ConnectionConfig =>
    ConnectionConfigSchema.parse({
      connectionId: 'acme',
      duo: { apiHost: 'api-12345678.duosecurity.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: { env: 'X' } },
      store: { kind: 'ldap', url: 'ldap://127.0.0.1:1', usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN },
      userActions: { create: true, update: true, ...userActions },
      rules: [INBOUND_RULE],
    });
  const ldapStore = (extra: Partial<Extract<StoreConfig, { kind: 'ldap' }>> = {}) =>
    createStore({ kind: 'ldap', url: 'ldap://127.0.0.1:1', usersDn: LDAP_USERS_DN, groupsDn: LDAP_GROUPS_DN, ...extra });
  const rule = { ...INBOUND_RULE, attributeMappings: {} };

  it('an LDAP store without a disabled-account convention cannot serve disable or removeAction disable, and says what to set', () => {
    const problem = inboundStoreProblem(ldapStore(), config({ disable: true, deprovision: true, removeAction: 'disable' }), rule);
    assert.match(problem ?? '', /removeAction "disable" needs a store that can disable users.*configure its disabled-account convention/);
    assert.equal(inboundStoreProblem(ldapStore(), config({ deprovision: true, removeAction: 'delete' }), rule), null);
    assert.equal(inboundStoreProblem(ldapStore({ disabled: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' } }), config({ disable: true }), rule), null);
    assert.match(inboundStoreProblem(ldapStore({ readOnly: true }), config({}), rule) ?? '', /read/i);
  });
});

describe('inboundSyncWorkflow into a real OpenLDAP', function () {
  this.timeout(180_000);
  const PASSWORD_ENV = 'DUO_SYNC_TEST_INBOUND_LDAP_PASSWORD';
  let fx: SyncFixture;
  let ldap: OpenLdapServer;
  let store: IdentityStore;

  before(async () => {
    process.env[PASSWORD_ENV] = LDAP_ADMIN_PASSWORD;
    ldap = await startOpenLdap(buildLdif([{ uid: 'hr0', sn: 'Resources', mail: 'hr0@example.org' }], []));
  });
  after(async () => {
    await store?.close();
    await fx?.cleanup();
    await ldap?.stop();
    delete process.env[PASSWORD_ENV];
  });

  it('creates, updates, disables and deletes the LDAP entries it owns (marker in description) and leaves others alone', async () => {
    fx = await makeSyncFixture({ config: { rules: [INBOUND_RULE], deletionGuard: { maxFraction: 1 } } });
    const storeConfig: StoreConfig = {
      kind: 'ldap',
      url: ldap.url,
      bind: { dn: LDAP_ADMIN_DN, password: { env: PASSWORD_ENV } },
      usersDn: LDAP_USERS_DN,
      groupsDn: LDAP_GROUPS_DN,
      disabled: { kind: 'attribute', attribute: 'employeeType', value: 'disabled' },
    };
    fx.config.store = StoreConfigSchema.parse(storeConfig);
    store = createStore(storeConfig);
    seedDuo(fx, [...people(3), { username: 'hr0', email: 'impostor@example.org', realname: 'Not HR' }]);

    const first = await runInbound(fx);
    assert.equal(first.outcome, 'succeeded', JSON.stringify(first));
    assert.equal(first.summary.created, 3);
    assert.equal(first.summary.skipped, 1, 'hr0 exists in LDAP and is not adopted');
    const u1 = await store.getUser('duo1');
    assert.equal(u1?.email, 'duo1@example.org');
    assert.equal(u1?.displayName, 'First1 Last1');
    assert.deepEqual(u1?.phones, ['+15552000001']);
    assert.equal(u1?.attributes.description, formatInboundMarker({ connectionId: fx.connectionId, ruleId: RULE }));

    const again = await runInbound(fx);
    assert.equal(again.summary.unchanged, 3, JSON.stringify(again));

    const d0 = fx.duoUser('duo0');
    const d1 = fx.duoUser('duo1');
    assert.ok(d0 && d1);
    fx.sandbox.store.modifyUser(d0.user_id, new Map([['email', 'new0@example.org'], ['firstname', '']]));
    fx.sandbox.store.modifyUser(d1.user_id, new Map([['status', 'disabled']]));
    deleteDuoUser(fx, 'duo2');
    const res = await runInbound(fx);
    assert.deepEqual([res.summary.updated, res.summary.disabled, res.summary.deleted, res.summary.failed], [1, 1, 1, 0], JSON.stringify(res));
    const u0 = await store.getUser('duo0');
    assert.equal(u0?.email, 'new0@example.org');
    assert.equal(u0?.givenName, undefined, 'emptied in Duo, cleared in LDAP');
    assert.equal((await store.getUser('duo1'))?.enabled, false);
    assert.equal(await store.getUser('duo2'), null);
    const hr = await store.getUser('hr0');
    assert.equal(hr?.email, 'hr0@example.org', 'not owned: untouched');
  });
});

describe('inboundSyncWorkflow into a real SCIM 2.0 server', function () {
  this.timeout(180_000);
  const TOKEN_ENV = 'DUO_SYNC_TEST_INBOUND_SCIM_TOKEN';
  let fx: SyncFixture | undefined;
  let scim: ScimTestServer | undefined;

  after(async () => {
    await fx?.cleanup();
    await scim?.close();
    delete process.env[TOKEN_ENV];
  });

  it('with ownerAttribute set, creates, updates and deletes the SCIM users it owns and leaves others alone', async () => {
    process.env[TOKEN_ENV] = 'inbound-token';
    scim = await startScimServer({ bearerTokens: ['inbound-token'] });
    scim.seed([{ userName: 'hr0', email: 'hr0@example.org', phones: [], active: true, groups: [] }], []);
    fx = await makeSyncFixture({ config: { rules: [{ ...INBOUND_RULE, ownerAttribute: 'nickName' }], deletionGuard: { maxFraction: 1 } } });
    const storeConfig: StoreConfig = { kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 };
    fx.config.store = StoreConfigSchema.parse(storeConfig);
    const store = createStore(storeConfig);
    try {
      seedDuo(fx, [...people(2), { username: 'hr0', email: 'impostor@example.org' }]);
      const first = await runInbound(fx);
      assert.deepEqual([first.summary.created, first.summary.skipped, first.summary.failed], [2, 1, 0], JSON.stringify(first));
      const u1 = await store.getUser('duo1');
      assert.equal(u1?.attributes.nickName, formatInboundMarker({ connectionId: fx.connectionId, ruleId: RULE }));
      assert.equal(u1?.email, 'duo1@example.org');

      const again = await runInbound(fx);
      assert.equal(again.summary.unchanged, 2, JSON.stringify(again));

      const d0 = fx.duoUser('duo0');
      assert.ok(d0);
      fx.sandbox.store.modifyUser(d0.user_id, new Map([['email', 'new0@example.org']]));
      deleteDuoUser(fx, 'duo1');
      const res = await runInbound(fx);
      assert.deepEqual([res.summary.updated, res.summary.deleted, res.summary.failed], [1, 1, 0], JSON.stringify(res));
      assert.equal((await store.getUser('duo0'))?.email, 'new0@example.org');
      assert.equal(await store.getUser('duo1'), null);
      assert.equal((await store.getUser('hr0'))?.email, 'hr0@example.org', 'not owned: untouched');
    } finally {
      await store.close();
    }
  });
});
