/**
 * Rolling duo-sync out on an existing Duo account (real dev server, Duo sandbox, file store): a
 * rule with `adopt` lists exactly whom it would adopt and whom it refuses (and why) in a dry run,
 * waits at the guard for the approval of that exact list, adopts each user keeping what people
 * enrolled, re-syncs with zero writes, and follows a store rename in place.
 *
 * The same flow at 1,000 users is `npm run soak:brownfield` (DUO_SYNC_BROWNFIELD_USERS, numbers
 * written to bench/RESULTS.md with DUO_SYNC_BROWNFIELD_REPORT=1).
 */
import assert from 'node:assert/strict';
import { connectionWorkflowId, type FullSyncResult, type RunProgress } from '../../src/contract';
import { parseUserMarker } from '../../src/domain/ownership';
import { machine, updateReport } from '../../bench/report';
import { enrolledPhonesKept, seedBrownfield, type Brownfield } from '../support/brownfield';
import { waitFor } from '../support/entity';
import { configureEntity, runByHand, startByHand } from '../support/runs';
import { makeSyncFixture, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';

const SIZE = Number(process.env['DUO_SYNC_BROWNFIELD_USERS'] ?? 50);
const REPORT = process.env['DUO_SYNC_BROWNFIELD_REPORT'] === '1';

const REASONS: Record<string, RegExp> = {
  directorySynced: /directory sync/,
  adminLinked: /linked user of a Duo administrator/,
  otherConnection: /managed by connection other-tenant/,
  trashed: /pending deletion/,
};

/** Starts a full sync, waits until it awaits approval (`whileWaiting` runs then), approves exactly what it shows through the entity, and returns its result. */
async function approvedRun(fx: SyncFixture, whileWaiting?: () => void): Promise<{ result: FullSyncResult; waiting: NonNullable<RunProgress['awaitingApproval']> }> {
  const handle = await startByHand(fx, 'fullSyncWorkflow', {});
  const waiting = await waitFor('the run to await approval', async () => {
    const p = await handle.query<RunProgress>('progress');
    return p.phase === 'awaitingApproval' ? p.awaitingApproval : undefined;
  }, SIZE > 100 ? 900_000 : 120_000);
  whileWaiting?.();
  await testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId, deletionSetHash: waiting.deletionSetHash }] });
  return { result: (await handle.result()) as FullSyncResult, waiting };
}

describe('adoption: rolling out on an existing Duo account', function () {
  this.timeout(SIZE > 100 ? 1_800_000 : 120_000);
  const fixtures: SyncFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((fx) => fx.cleanup()));
  });

  it(`brownfield (${SIZE} Duo users): dry run lists adoptions and conflicts, the approved run adopts them, re-sync writes nothing, a rename keeps the account`, async () => {
    const fx = await makeSyncFixture({
      config: {
        userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'trash' },
        rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, adopt: 'username', groups: { include: ['staff'] } }],
      },
    });
    fixtures.push(fx);
    const duo = fx.sandbox.store;
    const bf: Brownfield = seedBrownfield(duo, SIZE);
    fx.writeUsers(bf.storeUsers);
    const userIds = new Map([...duo.users.values()].map((u) => [u.username, u.user_id]));
    const figures: Record<string, string | number> = {};

    // Dry run: exactly who would be adopted, exactly who is refused and why; nothing written (the connection test's probe comes first).
    await configureEntity(fx);
    fx.sandbox.resetStats();
    let t = Date.now();
    const dry = await runByHand(fx, 'fullSyncWorkflow', { dryRun: true });
    figures['dry run (s)'] = ((Date.now() - t) / 1000).toFixed(1);
    figures['dry run Duo calls (writes)'] = `${fx.sandbox.stats().total} (${fx.sandbox.stats().writes})`;
    assert.equal(fx.sandbox.stats().writes, 0, `a dry run writes nothing: ${JSON.stringify(fx.sandbox.stats().byEndpoint)}`);
    const plannedIds = (dry.plannedAdoptions ?? []).map((a) => a.id.split(':')[2]);
    assert.deepEqual(plannedIds.sort(), bf.adoptable.map((u) => userIds.get(u)).sort(), 'the dry run lists exactly the adoptable users');
    const conflicts = new Map((dry.summary.adoptionConflicts ?? []).map((c) => [c.username, c.reason]));
    assert.deepEqual([...conflicts.keys()].sort(), [...bf.conflicts.keys()].sort(), 'and exactly the refused ones');
    for (const [username, kind] of bf.conflicts) assert.match(conflicts.get(username) ?? '', REASONS[kind] as RegExp, `${username}: ${kind}`);
    assert.match(dry.notes.join('\n'), /planned adoptions: \d+ of 0 owned users/, 'adopting into an account with no owned users needs an approval');
    figures['planned adoptions'] = plannedIds.length;
    figures['conflicts'] = conflicts.size;

    // The real run waits for the approval of that exact list, then adopts each user that still qualifies, reported per user.
    // While it waits, Duo's directory sync takes over one planned user: the approval does not make it adoptable.
    const spoiled = bf.adoptable[1] as string;
    const adopted = bf.adoptable.filter((u) => u !== spoiled);
    fx.sandbox.resetStats();
    t = Date.now();
    const { result, waiting } = await approvedRun(fx, () => duo.markDirectorySynced(userIds.get(spoiled) as string, 'synced-while-waiting'));
    figures['approved run (s, incl. approval)'] = ((Date.now() - t) / 1000).toFixed(1);
    const writes = Object.entries(fx.sandbox.stats().byEndpoint).filter(([k]) => !k.startsWith('GET'));
    figures['approved run Duo calls (writes)'] = `${fx.sandbox.stats().total} (${fx.sandbox.stats().writes}: ${writes.map(([k, n]) => `${k} ${n}`).join(', ')})`;
    assert.equal(waiting.plannedAdoptions, bf.adoptable.length);
    assert.equal(waiting.plannedDeletions, 0);
    assert.equal(result.outcome, 'succeeded', JSON.stringify(result.summary.failures));
    const spoiledId = (dry.plannedAdoptions ?? []).find((a) => a.id.split(':')[2] === userIds.get(spoiled))?.id;
    assert.deepEqual((result.summary.adopted ?? []).map((a) => a.id).sort(), (dry.plannedAdoptions ?? []).map((a) => a.id).filter((id) => id !== spoiledId).sort(), 'each planned adoption that still qualifies is reported as adopted');
    assert.ok(
      (result.summary.adoptionConflicts ?? []).some((c) => c.username.includes(userIds.get(spoiled) as string) && /approved adoption not applied: .*directory sync/.test(c.reason)),
      `${spoiled}, directory-synced after the plan, is skipped with the reason: ${JSON.stringify(result.summary.adoptionConflicts)}`,
    );
    assert.equal(parseUserMarker(fx.duoUser(spoiled)?.notes ?? null), null);
    assert.equal(result.summary.created, bf.created.length);
    figures['adopted'] = result.summary.adopted?.length ?? 0;
    figures['approved but not applied (directory-synced while the run waited)'] = 1;
    figures['created'] = result.summary.created;
    for (const username of adopted) {
      const user = fx.duoUser(username);
      assert.equal(user?.user_id, userIds.get(username), `${username} keeps its user_id`);
      assert.equal(parseUserMarker(user?.notes ?? null)?.storeId, `id-${username}`, `${username} carries our marker`);
      assert.ok(user?.notes.startsWith('added by hand\n'), 'the person’s notes stay above the marker');
      assert.match(user?.realname ?? '', /^Given\d+ Family\d+$/, 'the mapping applies');
    }
    for (const username of bf.conflicts.keys()) assert.equal(parseUserMarker(fx.duoUser(username)?.notes ?? null)?.connectionId ?? 'none', bf.conflicts.get(username) === 'otherConnection' ? 'other-tenant' : 'none');
    assert.equal(enrolledPhonesKept(duo, bf), bf.enrolledPhones.size, 'no phone a person enrolled was detached or deleted');
    const aliased = adopted.find((u) => Number(u.slice(2)) % 10 === 1) as string;
    assert.deepEqual(fx.duoUser(aliased)?.aliases[0], `${aliased}-alias`, 'aliases stay');
    const inVpn = [...(duo.groups.get(bf.vpnGroupId)?.members.keys() ?? [])].length;

    // Re-sync: nothing to do.
    fx.sandbox.resetStats();
    t = Date.now();
    const again = await runByHand(fx, 'fullSyncWorkflow', {});
    figures['re-sync (s)'] = ((Date.now() - t) / 1000).toFixed(1);
    figures['re-sync Duo calls (writes)'] = `${fx.sandbox.stats().total} (${fx.sandbox.stats().writes})`;
    assert.equal(fx.sandbox.stats().writes, 0, `the re-sync wrote: ${JSON.stringify(fx.sandbox.stats().byEndpoint)}`);
    assert.deepEqual(again.plannedAdoptions, []);
    assert.equal([...(duo.groups.get(bf.vpnGroupId)?.members.keys() ?? [])].length, inVpn, 'hand-made group memberships stay');

    // A rename in the store (same id) renames the adopted account in place.
    const renamed = 'bf0';
    const before = fx.duoUser(renamed);
    const phonesBefore = [...(before?.phoneIds ?? [])].sort();
    const groupsBefore = [...(before?.groupIds ?? [])].sort();
    assert.ok(phonesBefore.length > 0 && groupsBefore.length === 2, 'bf0 has an enrolled phone, vpn-users and staff');
    fx.writeUsers(bf.storeUsers.map((u) => (u.username === renamed ? { ...u, username: 'bf0-renamed' } : u)));
    fx.sandbox.resetStats();
    const afterRename = await runByHand(fx, 'fullSyncWorkflow', {});
    figures['full sync after one store rename: writes'] = `${fx.sandbox.stats().writes} (user_id, phones and groups of bf0 kept)`;
    assert.equal(afterRename.outcome, 'succeeded', JSON.stringify(afterRename.summary.failures));
    const after = fx.duoUser('bf0-renamed');
    assert.equal(after?.user_id, userIds.get(renamed), 'same user_id');
    assert.deepEqual([...(after?.phoneIds ?? [])].sort(), phonesBefore, 'same phones');
    assert.deepEqual([...(after?.groupIds ?? [])].sort(), groupsBefore, 'same groups');
    assert.equal(afterRename.summary.created + afterRename.summary.deleted, 0);
    figures['phones people enrolled'] = bf.enrolledPhones.size;
    figures['of them kept'] = enrolledPhonesKept(duo, bf);
    assert.equal(enrolledPhonesKept(duo, bf), bf.enrolledPhones.size);

    if (REPORT) {
      const m = machine();
      const rows = Object.entries(figures).map(([k, v]) => `| ${k} | ${v} |`);
      updateReport(
        'bench/RESULTS.md',
        `brownfield-${SIZE}`,
        [
          `## Brownfield adoption, ${SIZE} existing Duo users (\`npm run soak:brownfield\`)`,
          '',
          `${new Date().toISOString()}, ${m.nproc} CPUs, ${m.memory}, ${m.cpu}. Fixture: test/support/brownfield.ts; the store overlaps 90% of Duo and adds 10% new people.`,
          '',
          '| figure | value |',
          '|---|---|',
          ...rows,
        ].join('\n'),
      );
    }
  });

  it('email mode: adopts the one Duo user with the store email and renames it; several users with one email and a differing email are refused', async () => {
    const fx = await makeSyncFixture({
      config: { rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, adopt: 'email' }] },
    });
    fixtures.push(fx);
    const p = (entries: Record<string, string>) => new Map(Object.entries(entries));
    const duo = fx.sandbox.store;
    const ann = duo.createUser(p({ username: 'ann.old', email: 'Ann@example.org', notes: 'hers' }));
    duo.createUser(p({ username: 'bob1', email: 'bob@example.org' }));
    duo.createUser(p({ username: 'bob2', email: 'bob@example.org' }));
    duo.createUser(p({ username: 'cat', email: 'cat.other@example.org' }));
    const store = (username: string) => ({ id: `id-${username}`, username, email: `${username}@example.org`, phones: [], givenName: username, familyName: 'X', enabled: true, groups: [] });
    fx.writeUsers([store('ann'), store('bob'), store('cat'), store('dan')]);

    // A single user's reconcile has no approval step: it adopts nobody and creates no second ann.
    await configureEntity(fx);
    fx.sandbox.resetStats();
    const one = await runByHand(fx, 'reconcileUserWorkflow', { username: 'ann' });
    assert.match(one.summary.adoptionConflicts?.[0]?.reason ?? '', /would be adopted .* by the next full sync/);
    assert.equal(fx.sandbox.stats().writes, 0);

    const dry = await runByHand(fx, 'fullSyncWorkflow', { dryRun: true });
    assert.deepEqual((dry.plannedAdoptions ?? []).map((a) => a.id.split(':')[2]), [ann.user_id]);
    assert.match(dry.plannedAdoptions?.[0]?.label ?? '', /renamed to "ann"/);
    const reasons = new Map((dry.summary.adoptionConflicts ?? []).map((c) => [c.username, c.reason]));
    assert.match(reasons.get('bob') ?? '', /belongs to 2 Duo users/);
    assert.match(reasons.get('cat') ?? '', /cat\.other@example\.org, not the store's cat@example\.org/);
    assert.equal(dry.summary.created, 1, 'dan is new');

    const { result } = await approvedRun(fx);
    assert.equal(result.summary.adopted?.length, 1, JSON.stringify(result.summary));
    assert.equal(fx.duoUser('ann')?.user_id, ann.user_id, 'ann.old was renamed to ann in place');
    assert.equal(fx.duoUser('ann.old'), undefined);
    assert.ok(fx.duoUser('bob1') && fx.duoUser('bob2') && !fx.duoUser('bob'), 'no bob is created beside the two users that share the email');
    fx.sandbox.resetStats();
    await runByHand(fx, 'fullSyncWorkflow', {});
    assert.equal(fx.sandbox.stats().writes, 0);
  });
});
