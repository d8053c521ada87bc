/**
 * Duo's username lookups also match aliases. An alias an administrator gives an owned user must
 * never make duo-sync act on that user for a different name: not to delete it (userDeleted,
 * userChanged, syncUser), not to adopt it for another store user (create conflict), not to add it
 * to a group the other store user is in. Real workflows, real worker, Duo sandbox, file store.
 */
import assert from 'node:assert/strict';
import { configureConnection, connectionStatus, signalUserChanged, signalUserDeleted, syncUser, type DuoSyncClient } from '../../src/client';
import { parseMarker } from '../../src/domain/ownership';
import { DuoSyncConnection, DuoSyncKind } from '../../src/contract/search-attributes';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';
import { makeSyncFixture, makeUsers, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { addAlias, duoUserNamed, failureCodes, phoneNumbersOf, runFullSync, runReconcileGroup, runReconcileUser } from './support';
import { writeFileSync } from 'node:fs';

const [ALICE, BOB] = makeUsers(2).map((u, i) => ({ ...u, username: ['alice', 'bob'][i] as string, email: `${['alice', 'bob'][i]}@example.org` })) as [FileUser, FileUser];
/** A different person whose username is the alias an administrator gave alice. */
const ALLY: FileUser = { username: 'ally', email: 'ally@example.org', phones: ['+15550007777'], givenName: 'Ally', familyName: 'Other', enabled: true, groups: ['staff'] };

describe('safety: a Duo alias is never the user it names', function () {
  this.timeout(180_000);

  describe('through the connection entity (userDeleted, userChanged, syncUser)', () => {
    let harness: EntityHarness;
    let fx: SyncFixture;
    let dsc: DuoSyncClient;

    afterEach(() => harness.stop());

    /**
     * The reconcile runs the entity started for this connection, once the entity is idle and they
     * have all completed (changes to one user that arrive together may share a run).
     */
    async function closedReconciles(atLeast: number): Promise<{ workflowId: string; result: unknown }[]> {
      const { client } = testTemporal();
      const query = `${DuoSyncConnection.name}="${fx.connectionId}" AND ${DuoSyncKind.name}="reconcileUser"`;
      const ids = await waitFor(`${atLeast} completed reconcile runs`, async () => {
        const status = await connectionStatus(dsc, fx.connectionId);
        if (status.pendingChanges > 0 || status.reconcilesInFlight > 0) return undefined;
        const found: string[] = [];
        for await (const w of client.workflow.list({ query })) {
          if (w.status.name !== 'COMPLETED') return undefined;
          found.push(w.workflowId);
        }
        return found.length >= atLeast ? found : undefined;
      });
      return Promise.all(ids.map(async (workflowId) => ({ workflowId, result: await client.workflow.getHandle(workflowId).result() })));
    }

    it('userDeleted, userChanged and syncUser for alias "ally" leave alice, who is still in the store, alone', async () => {
      harness = await startEntityHarness({ users: [ALICE, BOB] });
      ({ fx, dsc } = harness);
      await configureConnection(dsc, fx.config);
      await waitFor('the first full sync', async () => {
        const s = await connectionStatus(dsc, fx.connectionId);
        return s.lastRuns.some((r) => r.kind === 'fullSync' && r.outcome === 'succeeded') && !s.currentRun ? s : undefined;
      });
      const alice = duoUserNamed(fx, 'alice');
      assert.ok(alice, 'alice was provisioned');
      addAlias(fx, 'alice', 'ally');

      const summary = await syncUser(dsc, fx.connectionId, { username: 'ally' });
      assert.equal(summary.deleted + summary.disabled + summary.updated, 0, JSON.stringify(summary));
      await signalUserDeleted(dsc, fx.connectionId, { username: 'ally' });
      await signalUserChanged(dsc, fx.connectionId, { username: 'ally' });
      const runs = await closedReconciles(2);
      for (const run of runs) {
        const s = (run.result as { summary: { deleted: number; disabled: number } }).summary;
        assert.equal(s.deleted + s.disabled, 0, `${run.workflowId}: ${JSON.stringify(s)}`);
      }
      const after = duoUserNamed(fx, 'alice');
      assert.equal(after?.user_id, alice.user_id, 'alice still exists');
      assert.equal(after?.status, 'active');
      assert.deepEqual(parseMarker(after?.notes), { connectionId: fx.connectionId, ruleId: 'staff' }, 'and is still owned');
    });
  });

  describe('through full syncs and reconciles', () => {
    const fixtures: SyncFixture[] = [];
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
    });

    it('a store user named like an alias of an owned user fails with UsernameConflict, every run, and the owned user keeps its phone', async () => {
      const fx = await makeSyncFixture({ users: [ALICE, BOB] });
      fixtures.push(fx);
      assert.equal((await runFullSync(fx)).summary.created, 2);
      addAlias(fx, 'alice', 'ally');
      const alicePhones = phoneNumbersOf(fx, duoUserNamed(fx, 'alice'));
      fx.writeUsers([ALICE, BOB, ALLY]);

      for (const attempt of [1, 2]) {
        const { summary } = await runFullSync(fx);
        assert.equal(summary.created, 0, `run ${attempt}: ${JSON.stringify(summary)}`);
        assert.deepEqual(failureCodes(summary), ['UsernameConflict'], `run ${attempt}: ${JSON.stringify(summary.failures)}`);
        assert.match(summary.failures[0]?.message ?? '', /ally/);
        assert.match(summary.failures[0]?.message ?? '', /alice/);
        assert.equal(summary.unchanged, 2, `run ${attempt}: alice and bob unchanged`);
      }
      assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'alice')), alicePhones, 'ally’s phone was never attached to alice');
      assert.equal(duoUserNamed(fx, 'ally'), undefined);
      assert.equal(fx.sandbox.store.findPhone(ALLY.phones![0]!), undefined, 'no phone was created for ally');

      const one = await runReconcileUser(fx, 'ally');
      assert.deepEqual(failureCodes(one.summary), ['UsernameConflict'], JSON.stringify(one.summary));
      assert.deepEqual(phoneNumbersOf(fx, duoUserNamed(fx, 'alice')), alicePhones);
    });

    it('the group-member add path does not add the alias holder to the group of the store user with that name', async () => {
      const fx = await makeSyncFixture({
        users: [ALICE],
        config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, groups: { include: ['eng'] } }] },
      });
      fixtures.push(fx);
      const directory = (users: FileUser[]) => writeFileSync(fx.storePath, JSON.stringify({ users, groups: [{ id: 'eng', name: 'eng' }, { id: 'staff', name: 'staff' }] }));
      directory([{ ...ALICE, groups: ['staff'] }]);
      await runFullSync(fx);
      addAlias(fx, 'alice', 'ally');
      directory([{ ...ALICE, groups: ['staff'] }, { ...ALLY, groups: ['eng'] }]);
      const { summary } = await runReconcileGroup(fx, 'eng');
      assert.equal(summary.groups?.membershipsAdded ?? 0, 0, JSON.stringify(summary));
      const eng = [...fx.sandbox.store.groups.values()].find((g) => g.name === 'eng');
      assert.ok(eng, 'the group exists');
      assert.equal(duoUserNamed(fx, 'alice')?.groupIds.has(eng.group_id), false, 'alice was not added to ally’s group');
    });
  });
});
