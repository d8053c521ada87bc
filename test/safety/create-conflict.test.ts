/**
 * A create that hits "already exists" (a retry after a crash, or a user that appeared between the
 * lookup and the create) continues with the existing Duo user only when that user carries exactly
 * the marker the create would have written (connection, rule and store id) and its username, not an
 * alias, is the name created. Anything else fails that store user with UsernameConflict and leaves
 * the existing user as it was. These races cannot be staged through a workflow, so the plan is
 * applied directly, as the page activities do, against the Duo sandbox.
 */
import assert from 'node:assert/strict';
import { applyUserPlan } from '../../src/activities/duo-ops';
import { DuoClient } from '../../src/duo';
import { formatMarker, withMarker, type Owner } from '../../src/domain/ownership';
import type { PlanOp } from '../../src/domain/plan';
import { emptySummary } from '../../src/domain/summary';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';

const OWNER: Owner = { connectionId: 'acme', ruleId: 'staff' };

function createPlan(username: string, storeId: string, number: string): PlanOp[] {
  return [
    { op: 'create', username, fields: { username, email: `${username}@example.org`, status: 'active', notes: withMarker('', { ...OWNER, storeId }) } },
    { op: 'attachPhone', userId: null, username, number, type: 'mobile' },
  ];
}

describe('safety: create conflicts never adopt someone else', () => {
  let sandbox: DuoSandbox;
  let duo: DuoClient;

  beforeEach(async () => {
    sandbox = await startDuoSandbox({ seed: 11 });
    duo = new DuoClient(sandbox.clientOptions());
  });
  afterEach(() => sandbox.stop());

  it('an alias of an owned user is not adopted: UsernameConflict names both, the owned user gets no phone', async () => {
    const alice = await duo.createUser({ username: 'alice', alias1: 'ally', notes: withMarker('', { ...OWNER, storeId: 'id-alice' }) });
    const summary = await applyUserPlan(duo, createPlan('ally', 'id-ally', '+15550007777'), OWNER, emptySummary(), false);
    assert.equal(summary.created, 0);
    assert.equal(summary.failures[0]?.code, 'UsernameConflict', JSON.stringify(summary.failures));
    assert.match(summary.failures[0]?.message ?? '', /ally.*alice|alice.*ally/);
    assert.equal((await duo.getUser(alice.user_id)).phones.length, 0);
  });

  it('a same-name user owned by this rule for another store id is not adopted', async () => {
    const jdoe = await duo.createUser({ username: 'jdoe', notes: withMarker('', { ...OWNER, storeId: 'uid=jdoe,ou=people' }) });
    const summary = await applyUserPlan(duo, createPlan('JDoe', 'uid=jdoe,ou=contractors', '+15550007777'), OWNER, emptySummary(), false);
    assert.equal(summary.failures[0]?.code, 'UsernameConflict', JSON.stringify(summary.failures));
    assert.match(summary.failures[0]?.message ?? '', /uid=jdoe,ou=people/);
    assert.match(summary.failures[0]?.message ?? '', /uid=jdoe,ou=contractors/);
    assert.equal((await duo.getUser(jdoe.user_id)).phones.length, 0);
  });

  it('a same-name user without a marker, or with an old marker without store id, is not adopted', async () => {
    await duo.createUser({ username: 'carol', notes: 'created by hand' });
    await duo.createUser({ username: 'dave', notes: formatMarker(OWNER) });
    for (const name of ['carol', 'dave']) {
      const summary = await applyUserPlan(duo, createPlan(name, `id-${name}`, '+15550007777'), OWNER, emptySummary(), false);
      assert.equal(summary.failures[0]?.code, 'UsernameConflict', `${name}: ${JSON.stringify(summary.failures)}`);
    }
  });

  it('the user an earlier attempt created (same marker, same username) is continued with', async () => {
    const plan = createPlan('erin', 'id-erin', '+15550007777');
    const first = plan[0] as Extract<PlanOp, { op: 'create' }>;
    const erin = await duo.createUser(first.fields);
    const summary = await applyUserPlan(duo, plan, OWNER, emptySummary(), false);
    assert.equal(summary.failed, 0, JSON.stringify(summary.failures));
    assert.equal(summary.created, 1);
    assert.deepEqual((await duo.getUser(erin.user_id)).phones.map((p) => p.number), ['+15550007777']);
  });
});
