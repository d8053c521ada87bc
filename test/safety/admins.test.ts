/**
 * Duo administrators are created only on purpose: no default mapping reads `userType` (SCIM's core
 * `userType` says "Admin" for IdP admins, and Duo makes an administrator created without a role an
 * Owner), a rule that maps it names the role, Owner needs `allowOwnerRole`, and the connection
 * test checks "Grant administrators" for such a rule. Real workflows, a real SCIM 2.0 server, the
 * connection entity and the Duo sandbox.
 */
import assert from 'node:assert/strict';
import { configureConnection, connectionStatus, connectionWorkflowId, type DuoSyncClient } from '../../src/client';
import { ConnectionConfigSchema, type RuleInput } from '../../src/domain/connection';
import { createStore, type StoreConfig } from '../../src/stores';
import { startEntityHarness, waitFor, type EntityHarness } from '../support/entity';
import { startScimServer, type ScimTestServer } from '../support/scim-server';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal } from '../support/temporal';
import { duoUserNamed, runFullSync } from './support';

const TOKEN_ENV = 'DUO_SYNC_TEST_SAFETY_SCIM_TOKEN';

function adminRule(administrators: Record<string, unknown>): RuleInput {
  return { id: 'staff', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: { userType: { from: 'attr:userType' } }, administrators } as RuleInput;
}

describe('safety: administrators are created only on purpose', function () {
  this.timeout(180_000);

  describe('SCIM users whose core userType is "Admin"', () => {
    let scim: ScimTestServer;
    const fixtures: SyncFixture[] = [];
    before(async () => {
      process.env[TOKEN_ENV] = 'safety-token';
      scim = await startScimServer({ bearerTokens: ['safety-token'] });
      const store = createStore({ kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 });
      try {
        await store.createUser({ username: 'idp-admin', email: 'idp-admin@example.org', givenName: 'Idp', familyName: 'Admin', enabled: true, attributes: { userType: 'Admin' } });
        await store.createUser({ username: 'plain', email: 'plain@example.org', givenName: 'Plain', familyName: 'User', enabled: true, attributes: { userType: 'Employee' } });
      } finally {
        await store.close();
      }
    });
    after(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
      await scim.close();
      delete process.env[TOKEN_ENV];
    });

    async function scimFixture(rules?: RuleInput[]): Promise<SyncFixture> {
      const fx = await makeSyncFixture(rules ? { config: { rules } } : {});
      fixtures.push(fx);
      const store: StoreConfig = { kind: 'scim', baseUrl: scim.baseUrl, auth: { kind: 'bearer', token: { env: TOKEN_ENV } }, timeoutMs: 5000 };
      fx.config.store = store as SyncFixture['config']['store'];
      return fx;
    }

    it('with the default mappings: both are provisioned as plain users and no administrator is created', async () => {
      const fx = await scimFixture();
      const { summary } = await runFullSync(fx);
      assert.deepEqual([...fx.sandbox.store.admins.values()].map((a) => `${a.email} (${a.role})`), [], 'no administrator');
      assert.equal(summary.failed, 0, `a store's userType is not read unless mapped: ${JSON.stringify(summary)}`);
      assert.equal(summary.created, 2);
      assert.ok(duoUserNamed(fx, 'idp-admin'));
    });

    it('a rule that maps userType creates administrators with its role, never an Owner by default', async () => {
      const fx = await scimFixture([adminRule({ role: 'Help Desk' })]);
      const { summary } = await runFullSync(fx);
      // "Employee" is neither user nor admin: that user fails, clearly, as before.
      assert.equal(summary.created, 1, JSON.stringify(summary));
      assert.match(summary.failures[0]?.message ?? '', /plain: userType "Employee" is not valid/);
      const admins = [...fx.sandbox.store.admins.values()].map((a) => ({ email: a.email, role: a.role }));
      assert.deepEqual(admins, [{ email: 'idp-admin@example.org', role: 'Help Desk' }]);
    });
  });

  describe('configuring a rule that maps userType', () => {
    let harness: EntityHarness | undefined;
    let dsc: DuoSyncClient;
    afterEach(async () => {
      await harness?.stop();
      harness = undefined;
    });

    it('the rule is rejected without a role, and with Owner unless allowOwnerRole is set', () => {
      const config = (rules: RuleInput[]) => ConnectionConfigSchema.safeParse({ connectionId: 'acme', duo: { apiHost: '127.0.0.1:1', integrationKey: 'DIXXXXXXXXXXXXXXXXXX', secretKey: { env: 'X' } }, store: { kind: 'file', path: 'x.json' }, rules });
      const noRole = config([{ id: 'staff', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: { userType: { from: 'attr:userType' } } }]);
      assert.equal(noRole.success, false);
      assert.match(JSON.stringify(noRole.error?.issues), /add \\"administrators\\"/);
      const owner = config([adminRule({ role: 'Owner' })]);
      assert.equal(owner.success, false);
      assert.match(JSON.stringify(owner.error?.issues), /allowOwnerRole/);
      assert.equal(config([adminRule({ role: 'Owner', allowOwnerRole: true })]).success, true);
      assert.equal(config([adminRule({ role: 'Superuser' })]).success, false);
    });

    it('configure refuses an Owner role without allowOwnerRole; the connection test checks "Grant administrators"', async () => {
      harness = await startEntityHarness({ users: makeUsers(2) });
      dsc = harness.dsc;
      const { fx } = harness;
      // A key without "Grant administrators" and a rule that may create administrators.
      const limited = fx.sandbox.addAccount({ permissions: { administrators: false } });
      const secretVar = `DUO_SYNC_TEST_SAFETY_SKEY_${fx.connectionId.replace(/-/g, '_').toUpperCase()}`;
      process.env[secretVar] = limited.secretKey;
      try {
        const config = ConnectionConfigSchema.parse({
          ...fx.config,
          duo: { ...fx.config.duo, integrationKey: limited.integrationKey, secretKey: { env: secretVar } },
          rules: [adminRule({ role: 'Help Desk' })],
        });
        await configureConnection(dsc, config);
        const status = await waitFor('the connection test', async () => {
          const s = await connectionStatus(dsc, fx.connectionId);
          return s.connectionTest ? s : undefined;
        });
        assert.equal(status.connectionTest?.ok, false, JSON.stringify(status.connectionTest));
        assert.match(JSON.stringify(status.connectionTest?.checks), /Grant administrators/);
        assert.deepEqual(fx.duoUsernames(), [], 'a connection failing its test provisions nobody');

        const handle = testTemporal().client.workflow.getHandle(connectionWorkflowId(fx.connectionId));
        const ownerByDefault = { ...config, rules: [adminRule({ role: 'Owner' })] };
        await assert.rejects(handle.executeUpdate('configure', { args: [ownerByDefault] }), (err: unknown) => /allowOwnerRole/.test(String((err as { cause?: { message?: string } }).cause?.message ?? err)));
      } finally {
        delete process.env[secretVar];
      }
    });
  });
});
