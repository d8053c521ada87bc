/**
 * Property-based safety check against the real stack (dev server, entity, full syncs, Duo sandbox,
 * file store), with fast-check. Each case is a random brownfield tenant — Duo users duo-sync does
 * not own (same names as store users, names differing only in case, aliases equal to store
 * usernames, hand-typed markers), phones people enrolled, inventory phones nobody holds,
 * administrators — and a random sequence of store changes. After every sync:
 * 1. nothing duo-sync does not own changed: those users, their phones, inventory phones, admins;
 * 2. every deletion or disable was of an owned user the store no longer had in scope (applied ⊆ planned);
 * 3. no user present and enabled in the store is deleted or disabled in Duo.
 * `npm test` runs a few cases; `npm run soak:properties` many (DUO_SYNC_PROPERTY_RUNS, _SEED).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { connectionWorkflowId, type FullSyncResult, type RunProgress } from '../../src/contract';
import { formatMarker } from '../../src/domain/ownership';
import type { DuoSandbox } from '../../src/sandbox';
import { startByHand } from '../support/runs';
import { makeSyncFixture, type FileUser, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { waitFor } from '../support/entity';

const RUNS = Number(process.env.DUO_SYNC_PROPERTY_RUNS ?? 6);
const SEED = process.env.DUO_SYNC_PROPERTY_SEED === undefined ? undefined : Number(process.env.DUO_SYNC_PROPERTY_SEED);
const PHONE_POOL = ['+15550100001', '+15550100002', '+15550100003', '+15550100004', '+15550100005', '+15550100006'];

interface StoreSpec {
  username: string;
  enabled: boolean;
  phone: number | null;
}

interface UnownedSpec {
  /** Which store user's name it clashes with (index), or none. */
  clash: number | null;
  how: 'same' | 'case' | 'alias';
  phone: number | null;
  forgedMarker: boolean;
}

type Change = { op: 'remove' | 'disable' | 'enable' | 'phone'; user: number; phone: number | null } | { op: 'add'; username: string; phone: number | null };

const storeUsersArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 2, maxLength: 8 })
  .chain((ids) =>
    fc.tuple(...ids.map((id) => fc.record({ username: fc.constant(`u${id}`), enabled: fc.constantFrom(true, true, true, false), phone: fc.option(fc.integer({ min: 0, max: PHONE_POOL.length - 1 }), { nil: null }) }))),
  );

const unownedArb = fc.array(
  fc.record({
    clash: fc.option(fc.integer({ min: 0, max: 7 }), { nil: null }),
    how: fc.constantFrom<UnownedSpec['how']>('same', 'case', 'alias'),
    phone: fc.option(fc.integer({ min: 0, max: PHONE_POOL.length - 1 }), { nil: null }),
    forgedMarker: fc.boolean(),
  }),
  { maxLength: 5 },
);

const changesArb = fc.array(
  fc.oneof(
    fc.record({ op: fc.constantFrom<'remove' | 'disable' | 'enable' | 'phone'>('remove', 'disable', 'enable', 'phone'), user: fc.integer({ min: 0, max: 7 }), phone: fc.option(fc.integer({ min: 0, max: PHONE_POOL.length - 1 }), { nil: null }) }),
    fc.record({ op: fc.constant<'add'>('add'), username: fc.constantFrom('x0', 'x1', 'X2', 'alias-0', 'alias-1'), phone: fc.option(fc.integer({ min: 0, max: PHONE_POOL.length - 1 }), { nil: null }) }),
  ),
  { minLength: 1, maxLength: 3 },
);

/** Everything about Duo objects duo-sync must leave alone, one comparable text per object and field. */
function snapshotUnowned(sandbox: DuoSandbox, userIds: string[], phoneIds: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const record = (what: string, obj: object | undefined): void => {
    if (!obj) out.set(what, 'gone');
    else for (const [k, v] of Object.entries(obj)) out.set(`${what}.${k}`, JSON.stringify(v instanceof Set ? [...v].sort() : v));
  };
  for (const id of userIds) record(`user ${sandbox.store.users.get(id)?.username ?? id}`, sandbox.store.users.get(id));
  for (const id of phoneIds) record(`phone ${sandbox.store.phones.get(id)?.number ?? id}`, sandbox.store.phones.get(id));
  for (const a of sandbox.store.admins.values()) record(`admin ${a.email}`, a);
  return out;
}

function changed(before: Map<string, string>, after: Map<string, string>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => before.get(k) !== after.get(k)).map((k) => `${k}: ${before.get(k) ?? '(none)'} -> ${after.get(k) ?? '(none)'}`);
}

interface Violation {
  step: number;
  what: string;
}

async function syncAndApprove(fx: SyncFixture): Promise<FullSyncResult> {
  const handle = await startByHand(fx, 'fullSyncWorkflow', {});
  let finished = false;
  const done = handle.result().then((r) => {
    finished = true;
    return r as FullSyncResult;
  });
  // Poll the run until it either waits for approval or ends; stop polling once it ended, so no query outlives the test.
  const waiting = await waitFor('approval or the end', async () => {
    if (finished) return null;
    const p = await handle.query<RunProgress>('progress').catch(() => undefined);
    return p?.phase === 'awaitingApproval' ? p : p?.phase === 'done' ? null : undefined;
  });
  if (waiting?.awaitingApproval) {
    await testTemporal()
      .client.workflow.getHandle(connectionWorkflowId(fx.connectionId))
      .executeUpdate('approveDeletions', { args: [{ runId: handle.workflowId, deletionSetHash: waiting.awaitingApproval.deletionSetHash }] });
  }
  return done;
}

async function checkTenant(store: StoreSpec[], unowned: UnownedSpec[], changes: Change[]): Promise<Violation[]> {
  const fx = await makeSyncFixture({ config: { sourceHealth: { maxDropFraction: 1 } } });
  const violations: Violation[] = [];
  try {
    const s = fx.sandbox.store;
    const toFile = (users: StoreSpec[]): FileUser[] =>
      users.map((u) => ({ username: u.username, email: `${u.username.toLowerCase()}@example.org`, enabled: u.enabled, phones: u.phone === null ? [] : [PHONE_POOL[u.phone] as string], groups: [] }));
    // The brownfield tenant, seeded straight into the sandbox as an admin would have.
    const unownedUsers: string[] = [];
    const unownedPhones: string[] = [];
    unowned.forEach((spec, i) => {
      const target = spec.clash === null ? undefined : store[spec.clash % store.length]?.username;
      const name = target === undefined ? `other${i}` : spec.how === 'same' ? target : spec.how === 'case' ? target.toUpperCase() : `other${i}`;
      if (s.findUserIdByName(name)) return;
      const params = new Map<string, string>([['username', name], ['email', `someone${i}@example.net`]]);
      if (spec.forgedMarker) params.set('notes', `typed by hand ${formatMarker({ connectionId: fx.connectionId, ruleId: 'staff' })}`);
      const user = s.createUser(params);
      if (spec.how === 'alias' && target !== undefined && !s.findUserIdByName(target)) s.modifyUser(user.user_id, new Map([['alias1', target]]));
      unownedUsers.push(user.user_id);
      if (spec.phone !== null) {
        const number = PHONE_POOL[spec.phone] as string;
        const phone = s.findPhone(number) ?? s.createPhone(new Map([['number', number], ['type', 'mobile']]));
        s.associatePhone(user.user_id, phone.phone_id);
        unownedPhones.push(phone.phone_id);
      }
    });
    // An inventory phone nobody holds, and an administrator.
    unownedPhones.push(s.findPhone(PHONE_POOL[5] as string)?.phone_id ?? s.createPhone(new Map([['number', PHONE_POOL[5] as string], ['type', 'mobile']])).phone_id);
    s.createAdmin(new Map([['email', `${store[0]?.username ?? 'u'}@example.org`], ['name', 'Existing Admin'], ['role', 'Help Desk']]));
    const before = snapshotUnowned(fx.sandbox, unownedUsers, [...new Set(unownedPhones)]);

    let current = store.map((u) => ({ ...u }));
    for (let step = 0; step <= changes.length; step += 1) {
      if (step > 0) {
        const change = changes[step - 1] as Change;
        if (change.op === 'add') {
          if (!current.some((u) => u.username.toLowerCase() === change.username.toLowerCase())) current.push({ username: change.username, enabled: true, phone: change.phone });
        } else {
          const target = current[change.user % Math.max(1, current.length)];
          if (target && change.op === 'remove') current = current.filter((u) => u !== target);
          else if (target && change.op === 'disable') target.enabled = false;
          else if (target && change.op === 'enable') target.enabled = true;
          else if (target && change.op === 'phone') target.phone = change.phone;
        }
      }
      fx.writeUsers(toFile(current));
      const ownedBefore = new Map([...s.users.values()].filter((u) => !unownedUsers.includes(u.user_id)).map((u) => [u.user_id, { ...u }]));
      await syncAndApprove(fx);
      for (const diff of changed(before, snapshotUnowned(fx.sandbox, unownedUsers, [...new Set(unownedPhones)]))) violations.push({ step, what: `unowned ${diff}` });
      const inStore = new Map(current.map((u) => [u.username.toLowerCase(), u]));
      for (const [id, old] of ownedBefore) {
        const now = s.users.get(id);
        const storeUser = inStore.get(old.username.toLowerCase());
        const removedOrDisabled = !now || (old.status !== 'disabled' && now.status === 'disabled');
        if (removedOrDisabled && storeUser?.enabled) violations.push({ step, what: `${old.username} is in the store and enabled, but was ${now ? 'disabled' : 'deleted'} in Duo` });
      }
      for (const u of current.filter((x) => x.enabled)) {
        const id = s.findUserIdByName(u.username);
        const duo = id ? s.users.get(id) : undefined;
        if (duo && !unownedUsers.includes(duo.user_id) && duo.username.toLowerCase() === u.username.toLowerCase() && duo.status === 'disabled') {
          violations.push({ step, what: `${u.username} is enabled in the store but disabled in Duo` });
        }
      }
    }
    return violations;
  } finally {
    await fx.cleanup();
  }
}

describe('safety properties: random brownfield tenants and store changes (fast-check)', function () {
  this.timeout(RUNS * 60_000 + 60_000);

  it(`nothing unowned is touched, only planned deletions happen, nobody present is deleted or disabled (${RUNS} tenants)`, async () => {
    let tenants = 0;
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(storeUsersArb, unownedArb, changesArb, async (store, unowned, changes) => {
        tenants += 1;
        steps += changes.length + 1;
        const violations = await checkTenant(store, unowned, changes);
        assert.deepEqual(violations, []);
      }),
      { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), endOnFailure: true },
    );
    console.log(`      properties: ${tenants} tenants, ${steps} syncs, 0 violations`);
  });
});
