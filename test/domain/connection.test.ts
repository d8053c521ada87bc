import assert from 'node:assert/strict';
import {
  ConnectionConfigSchema,
  formatIssues,
  isValidApiHost,
  outboundRules,
  RuleSchema,
  validateConnectionConfig,
  validateRule,
} from '../../src/domain/connection';
import { SecretRefSchema as ConfigSecretRefSchema } from '../../src/config/secrets';
import { SecretRefSchema } from '../../src/domain/secret-ref';
import { baseConfig, parseConfig } from './fixtures';

function errorsOf(input: unknown): string[] {
  const result = validateConnectionConfig(input);
  assert.equal(result.ok, false, 'expected the config to be rejected');
  return result.ok ? [] : result.errors;
}

describe('domain/connection', () => {
  describe('defaults', () => {
    it('fills the documented defaults: enabled, all actions off, phone cleanup on, 30 min interval, guard 10%/500/1440 min, health 50%', () => {
      const config = parseConfig();
      assert.equal(config.enabled, true);
      assert.deepEqual(config.userActions, {
        create: false,
        update: false,
        disable: false,
        deprovision: false,
        deprovisionOnRuleDeletion: false,
        cleanupUnusedPhones: true,
      });
      assert.equal(config.fullSyncIntervalMinutes, 30);
      assert.deepEqual(config.deletionGuard, { maxFraction: 0.1, maxCount: 500, approvalTimeoutMinutes: 1440, onTimeout: 'skipDeletions' });
      assert.deepEqual(config.sourceHealth, { maxDropFraction: 0.5 });
      assert.deepEqual(config.rules, []);
    });

    it('parses idempotently (configs are re-parsed after continue-as-new)', () => {
      const once = parseConfig({
        userActions: { create: true, update: true, disable: true, deprovision: true, removeAction: 'disable' },
        rules: [{ id: 'staff', direction: 'outbound', scope: { kind: 'filter', filter: { and: [{ attr: 'department', op: 'eq', value: 'R&D' }, { not: { attr: 'contractor', op: 'present' } }] } } }],
      });
      assert.deepEqual(ConnectionConfigSchema.parse(JSON.parse(JSON.stringify(once))), once);
    });

    it('validates the store section at configure time: a bad store is rejected with the path of each problem', () => {
      const errors = errorsOf(baseConfig({ store: { kind: 'ldap', url: 'ldaps://dc1', baseDn: 'dc=example,dc=com' } as never }));
      assert.ok(errors.some((e) => /^store.*baseDn/.test(e)), errors.join('\n'));
      assert.ok(errors.some((e) => /^store\.usersDn/.test(e)), errors.join('\n'));
      const good = parseConfig({ store: { kind: 'ldap', url: 'ldaps://dc1', usersDn: 'ou=people,dc=example,dc=com', groupsDn: 'ou=groups,dc=example,dc=com' } });
      assert.equal(good.store.kind, 'ldap');
      assert.deepEqual(ConnectionConfigSchema.parse(good), good, 'parsing the parsed store again changes nothing');
    });
  });

  describe('fields', () => {
    it('rejects a connection id that is not a slug', () => {
      assert.match(errorsOf(baseConfig({ connectionId: 'Acme Corp' })).join('\n'), /^connectionId: must be a lower-case slug/m);
    });

    it('accepts Duo host names and loopback host:port, rejects schemes, paths and public ports', () => {
      for (const ok of ['api-12345678.duosecurity.com', '127.0.0.1:8443', 'localhost:9000', '[::1]:8080']) assert.ok(isValidApiHost(ok), ok);
      for (const bad of ['https://api-1.duosecurity.com', 'api-1.duosecurity.com/admin', 'api-1.duosecurity.com:8443', 'localhost:0', 'localhost:70000', '']) {
        assert.equal(isValidApiHost(bad), false, bad);
      }
      assert.match(errorsOf(baseConfig({ duo: { apiHost: 'https://x.duosecurity.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: { env: 'K' } } })).join('\n'), /^duo\.apiHost: must be a host name/m);
    });

    it('normalises the API host to lower case', () => {
      assert.equal(parseConfig({ duo: { apiHost: ' API-1.DuoSecurity.com ', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: { env: 'K' } } }).duo.apiHost, 'api-1.duosecurity.com');
    });

    it('validates the integration key alphabet and length', () => {
      assert.match(errorsOf(baseConfig({ duo: { apiHost: 'a.example.com', integrationKey: 'di-lower', secretKey: { env: 'K' } } })).join('\n'), /^duo\.integrationKey: must be 10-40/m);
      assert.equal(parseConfig({ duo: { apiHost: 'a.example.com', integrationKey: 'SANDBOXKEY01', secretKey: { env: 'K' } } }).duo.integrationKey, 'SANDBOXKEY01');
    });

    it('takes the secret key only as a reference, never inline', () => {
      const errors = errorsOf(baseConfig({ duo: { apiHost: 'a.example.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: 'hunter2' as never } }));
      assert.ok(errors.some((e) => e.startsWith('duo.secretKey:')), errors.join('\n'));
      assert.deepEqual(parseConfig({ duo: { apiHost: 'a.example.com', integrationKey: 'DIWJ8X6AEYOR5OMC6TQ1', secretKey: { file: '/run/secrets/duo' } } }).duo.secretKey, { file: '/run/secrets/duo' });
    });

    it('rejects unknown keys so typos surface', () => {
      assert.deepEqual(errorsOf({ ...baseConfig(), userAction: {} }), ['(root): unknown key "userAction" (check the spelling)']);
    });

    it('rejects an unknown store kind and out-of-range numbers', () => {
      const errors = errorsOf(baseConfig({ store: { kind: 'ad' } as never, fullSyncIntervalMinutes: 0, deletionGuard: { maxFraction: 1.5 } }));
      assert.ok(errors.includes('store.kind: expected one of file|ldap|scim'), errors.join('\n'));
      assert.ok(errors.some((e) => e.startsWith('fullSyncIntervalMinutes:')), errors.join('\n'));
      assert.ok(errors.some((e) => e.startsWith('deletionGuard.maxFraction:')), errors.join('\n'));
    });
  });

  describe('cross-field rules', () => {
    it('disable requires update', () => {
      assert.deepEqual(errorsOf(baseConfig({ userActions: { disable: true } })), ['userActions.disable: disable needs update: set userActions.update to true, or disable to false']);
      assert.equal(parseConfig({ userActions: { update: true, disable: true } }).userActions.disable, true);
    });

    it('removeAction "disable" requires disable', () => {
      const errors = errorsOf(baseConfig({ userActions: { update: true, deprovision: true, removeAction: 'disable' } }));
      assert.deepEqual(errors, ['userActions.removeAction: removeAction "disable" needs disable: set userActions.disable (and update) to true, or removeAction to "delete"']);
    });

    it('deprovisioning needs an explicit removeAction (no destructive default)', () => {
      assert.deepEqual(errorsOf(baseConfig({ userActions: { deprovision: true } })), ['userActions.removeAction: required when deprovision is on: set it to "trash" (recommended: restorable for 7 days), "delete" or "disable"']);
      assert.deepEqual(errorsOf(baseConfig({ userActions: { deprovisionOnRuleDeletion: true } })), [
        'userActions.removeAction: required when deprovisionOnRuleDeletion is on: set it to "trash" (recommended: restorable for 7 days), "delete" or "disable"',
      ]);
      assert.equal(parseConfig({ userActions: { deprovision: true, removeAction: 'delete' } }).userActions.removeAction, 'delete');
    });

    it('rule ids are unique within a connection', () => {
      const rule = { id: 'staff', direction: 'outbound' as const, scope: { kind: 'all' as const } };
      assert.deepEqual(errorsOf(baseConfig({ rules: [rule, { ...rule, direction: 'inbound' }] })), ['rules[1].id: duplicate rule id "staff" (also rules[0].id)']);
    });
  });

  describe('rules', () => {
    it('reports a bad scope kind with the choices', () => {
      const errors = errorsOf(baseConfig({ rules: [{ id: 'r1', direction: 'outbound', scope: { kind: 'everyone' } as never }] }));
      assert.deepEqual(errors, ['rules[0].scope.kind: expected one of all|groups|filter']);
    });

    it('reports a bad direction with the choices', () => {
      assert.deepEqual(validateRule({ id: 'r1', direction: 'both', scope: { kind: 'all' } }), { ok: false, errors: ['direction: expected one of outbound|inbound'] });
    });

    it('validates filters deeply: ops, attribute names, value presence', () => {
      const result = validateRule({
        id: 'r1',
        direction: 'outbound',
        scope: { kind: 'filter', filter: { or: [{ attr: 'dept', op: 'eq' }, { attr: '1bad', op: 'present' }, { attr: 'x', op: 'present', value: 'y' }, { attr: 'x', op: 'like', value: 'y' }] } },
      });
      assert.equal(result.ok, false);
      assert.deepEqual(result.ok ? [] : result.errors, [
        'scope.filter.or[0].value: op "eq" needs a value (attribute dept)',
        'scope.filter.or[1].attr: must be an attribute name: a letter, then letters, digits, "-" or "_" (optionally "parent.sub")',
        'scope.filter.or[2].value: remove value: op "present" takes none (attribute x)',
        'scope.filter.or[3].op: expected one of eq|ne|present|startsWith|endsWith|contains',
      ]);
    });

    it('accepts exactly the attribute names every store adapter accepts (one grammar for rules and adapters)', () => {
      const rule = (attr: string) => validateRule({ id: 'r1', direction: 'outbound', scope: { kind: 'filter', filter: { attr, op: 'present' } } });
      assert.equal(rule('name.givenName').ok, true);
      assert.equal(rule('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department').ok, true);
      // Once accepted here and refused by the adapters only at run time.
      assert.equal(rule('a.b.c').ok, false);
      assert.equal(rule('cn=x').ok, false);
    });

    it('group scopes need at least one group', () => {
      const result = validateRule({ id: 'r1', direction: 'outbound', scope: { kind: 'groups', groups: [] } });
      assert.deepEqual(result.ok ? [] : result.errors, ['scope.groups: list at least one group']);
    });

    it('validates attribute mapping overrides: known Duo fields, sources, template placeholders', () => {
      const result = validateRule({
        id: 'r1',
        direction: 'outbound',
        scope: { kind: 'all' },
        attributeMappings: {
          email: { from: 'attr:mail' },
          notes: { template: 'Dept ${attr:department}, badge ${badge}' },
          realname: { form: 'displayName' },
          phone: { from: 'mobile' },
          nickname: { const: 'x' },
        },
      });
      assert.equal(result.ok, false);
      assert.deepEqual((result.ok ? [] : result.errors).sort(), [
        'attributeMappings: unknown key "nickname" (check the spelling)',
        'attributeMappings.realname: expected {from}, {const}, {template} or {firstOf}',
        'attributeMappings.phone.from: must be one of username|email|givenName|familyName|displayName|primaryPhone|enabled|externalId or attr:<name>',
        'attributeMappings.notes.template: placeholder ${badge} is not one of username|email|givenName|familyName|displayName|primaryPhone|enabled|externalId or attr:<name>',
      ].sort());
    });

    it('accepts a full rule and defaults attributeMappings to no overrides', () => {
      const rule = RuleSchema.parse({ id: 'staff', direction: 'outbound', scope: { kind: 'groups', groups: ['Staff', 'g-42'] }, groups: { include: ['Staff'] } });
      assert.deepEqual(rule.attributeMappings, {});
      assert.deepEqual(rule.groups, { include: ['Staff'] });
    });

    describe('administrators', () => {
      const mapsUserType = { userType: { from: 'attr:duoRole' } };
      const rule = (extra: Record<string, unknown>) => validateRule({ id: 'admins', direction: 'outbound', scope: { kind: 'all' }, ...extra });
      const errors = (extra: Record<string, unknown>) => {
        const result = rule(extra);
        return result.ok ? [] : result.errors;
      };

      it('a userType mapping needs an explicit administrator role', () => {
        assert.deepEqual(errors({ attributeMappings: mapsUserType }).length, 1);
        assert.match(errors({ attributeMappings: mapsUserType })[0] ?? '', /^attributeMappings\.userType: mapping userType lets this rule create Duo administrators: add "administrators"/);
        assert.equal(rule({ attributeMappings: mapsUserType, administrators: { role: 'Help Desk' } }).ok, true);
      });

      it('Owner needs allowOwnerRole; roles are Duo’s, case-sensitive', () => {
        assert.match(errors({ attributeMappings: mapsUserType, administrators: { role: 'Owner' } })[0] ?? '', /^administrators\.role: Owner is Duo's unrestricted role: set "allowOwnerRole": true/);
        assert.equal(rule({ attributeMappings: mapsUserType, administrators: { role: 'Owner', allowOwnerRole: true } }).ok, true);
        assert.match(errors({ attributeMappings: mapsUserType, administrators: { role: 'help desk' } })[0] ?? '', /^administrators\.role: expected one of Owner\|Administrator\|/);
        assert.match(errors({ attributeMappings: mapsUserType, administrators: { role: 'Help Desk', sendEmail: true } })[0] ?? '', /unknown key "sendEmail"/);
      });

      it('administrators without a userType mapping, or on an inbound rule, is rejected', () => {
        assert.match(errors({ administrators: { role: 'Help Desk' } })[0] ?? '', /^administrators: administrators has no effect without a userType mapping/);
        const inbound = validateRule({ id: 'in', direction: 'inbound', scope: { kind: 'all' }, administrators: { role: 'Help Desk' } });
        assert.ok(!inbound.ok && inbound.errors.some((e) => /only outbound rules create Duo administrators/.test(e)), JSON.stringify(inbound));
      });

      it('configure rejects such a rule too, and a valid one parses idempotently', () => {
        assert.equal(validateConnectionConfig(baseConfig({ rules: [{ id: 'a', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: mapsUserType }] })).ok, false);
        const config = parseConfig({ rules: [{ id: 'a', direction: 'outbound', scope: { kind: 'all' }, attributeMappings: mapsUserType, administrators: { role: 'Read-only' } }] });
        assert.deepEqual(config.rules[0]?.administrators, { role: 'Read-only', allowOwnerRole: false });
        assert.deepEqual(ConnectionConfigSchema.parse(config), config);
      });
    });

    it('phoneRegion and phoneSources: a known region (upper-cased), sources in priority order with a Duo phone type', () => {
      const rule = RuleSchema.parse({
        id: 'uk',
        direction: 'outbound',
        scope: { kind: 'all' },
        phoneRegion: 'gb',
        phoneSources: [{ from: 'attr:telephoneNumber', type: 'landline' }, { from: 'phones', type: 'mobile' }],
      });
      assert.equal(rule.phoneRegion, 'GB');
      assert.deepEqual(RuleSchema.parse(rule), rule, 'parsing is idempotent');
      assert.equal('phoneSources' in RuleSchema.parse({ id: 'r', direction: 'outbound', scope: { kind: 'all' } }), false, 'absent stays absent (defaults apply in mapping)');
      const bad = validateRule({
        id: 'r1',
        direction: 'outbound',
        scope: { kind: 'all' },
        phoneRegion: 'UK',
        phoneSources: [{ from: 'mobile', type: 'cell' }],
      });
      assert.deepEqual((bad.ok ? [] : bad.errors).sort(), [
        'phoneRegion: must be a two-letter ISO 3166-1 region code with a phone numbering plan, e.g. "GB", "US" or "DE"',
        'phoneSources[0].from: must be "phones" (the store\'s phone list) or attr:<name>',
        'phoneSources[0].type: expected one of mobile|landline|unknown',
      ].sort());
    });

    it('phoneSources and an attributeMappings.phone override exclude each other', () => {
      const result = validateRule({
        id: 'r1',
        direction: 'outbound',
        scope: { kind: 'all' },
        attributeMappings: { phone: { from: 'attr:pager' } },
        phoneSources: [{ from: 'attr:mobile', type: 'mobile' }],
      });
      assert.deepEqual(result.ok ? [] : result.errors, ['phoneSources: set either phoneSources or attributeMappings.phone, not both (attributeMappings.phone picks one value, typed mobile)']);
    });

    it('outboundRules keeps only outbound rules, in order', () => {
      const config = parseConfig({
        rules: [
          { id: 'a', direction: 'outbound', scope: { kind: 'all' } },
          { id: 'b', direction: 'inbound', scope: { kind: 'all' } },
          { id: 'c', direction: 'outbound', scope: { kind: 'all' } },
        ],
      });
      assert.deepEqual(outboundRules(config).map((r) => r.id), ['a', 'c']);
    });
  });

  describe('formatIssues', () => {
    it('writes array indexes in brackets and nested keys with dots', () => {
      const parsed = ConnectionConfigSchema.safeParse(baseConfig({ rules: [{ id: 'ok', direction: 'outbound', scope: { kind: 'all' } }, { id: 'BAD', direction: 'outbound', scope: { kind: 'all' } }] }));
      assert.equal(parsed.success, false);
      assert.deepEqual(parsed.success ? [] : formatIssues(parsed.error), ['rules[1].id: must be a lower-case slug: a-z, 0-9 and -, starting with a letter or digit, at most 63 characters']);
    });
  });

  it('SecretRefSchema here has the same shape as src/config/secrets', () => {
    for (const sample of [{ env: 'DUO_SKEY' }, { file: '/run/secrets/duo' }, { env: '1BAD' }, { file: '' }, { env: 'A', file: 'b' }, 'plain', {}]) {
      assert.equal(SecretRefSchema.safeParse(sample).success, ConfigSecretRefSchema.safeParse(sample).success, JSON.stringify(sample));
    }
  });
});
