import assert from 'node:assert/strict';
import { normalizeUsername } from '../../src/domain/duo-rules';
import {
  AttributeMappingsSchema,
  evaluateSource,
  mapStoreUser,
  StoreUserSchema,
  usernameKey,
  type DesiredDuoUser,
  type MappingOptions,
  type MappingResult,
} from '../../src/domain/mapping';
import type { Failure } from '../../src/domain/summary';
import { storeUser } from './fixtures';

function ok(result: MappingResult): DesiredDuoUser {
  if (!result.ok) assert.fail(`expected a mapped user, got: ${result.error.message}`);
  assert.deepEqual(result.problems, [], 'expected no per-field problems');
  return result.user;
}

/** A mapped user whose phone failed: the user and its problems. */
function withProblems(result: MappingResult): { user: DesiredDuoUser; problems: Failure[] } {
  if (!result.ok) assert.fail(`expected a mapped user, got: ${result.error.message}`);
  assert.ok(result.problems.length > 0, 'expected per-field problems');
  return { user: result.user, problems: result.problems };
}

const GB: MappingOptions = { phoneRegion: 'GB' };

function fails(result: MappingResult): { field: string; message: string; username: string } {
  if (result.ok) assert.fail(`expected a mapping error, got ${JSON.stringify(result.user)}`);
  return result.error;
}

describe('domain/mapping', () => {
  it('the fixture is a valid store user', () => {
    assert.ok(StoreUserSchema.safeParse(storeUser()).success);
  });

  describe('default mappings', () => {
    it('maps username, email, names, first phone, status and userType', () => {
      const user = ok(mapStoreUser(storeUser({ phones: ['', '+1 (415) 555-0100', '+44 20 7946 0958'] })));
      assert.deepEqual(user, {
        username: 'ada',
        email: 'ada@example.com',
        realname: 'Ada Lovelace',
        firstname: 'Ada',
        lastname: 'Lovelace',
        status: 'active',
        phone: { number: '+14155550100', type: 'mobile' },
        userType: 'user',
      });
      assert.equal('notes' in user, false, 'notes are unmanaged unless mapped');
    });

    it('realname prefers displayName, else "givenName familyName", else cleared', () => {
      assert.equal(ok(mapStoreUser(storeUser({ displayName: 'Countess of Lovelace' }))).realname, 'Countess of Lovelace');
      assert.equal(ok(mapStoreUser(storeUser({ displayName: '  ', givenName: 'Ada', familyName: undefined }))).realname, 'Ada');
      assert.equal(ok(mapStoreUser(storeUser({ displayName: undefined, givenName: undefined, familyName: undefined }))).realname, null);
    });

    it('a source-disabled user maps to status disabled', () => {
      assert.equal(ok(mapStoreUser(storeUser({ enabled: false }))).status, 'disabled');
    });

    it('empty or absent values are cleared (null)', () => {
      const user = ok(mapStoreUser(storeUser({ email: '  ', phones: [], givenName: '', familyName: undefined })));
      assert.equal(user.email, null);
      assert.equal(user.phone, null);
      assert.equal(user.firstname, null);
      assert.equal(user.lastname, null);
    });

    it('trims values', () => {
      const user = ok(mapStoreUser(storeUser({ username: '  ada ', email: ' ada@example.com\t' })));
      assert.equal(user.username, 'ada');
      assert.equal(user.email, 'ada@example.com');
    });
  });

  describe('userType', () => {
    const mapped = AttributeMappingsSchema.parse({ userType: { from: 'attr:userType' } });

    it('is user unless a rule maps it: a store attribute called userType (SCIM: "Admin") is not read by default', () => {
      assert.equal(ok(mapStoreUser(storeUser())).userType, 'user');
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { userType: 'Admin' } }))).userType, 'user');
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { userType: 'Employee' } }))).userType, 'user');
    });

    it('mapped explicitly, reads user or admin in any case', () => {
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { userType: 'Admin' } }), mapped)).userType, 'admin');
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { userType: 'user' } }), mapped)).userType, 'user');
      assert.equal(ok(mapStoreUser(storeUser(), mapped)).userType, 'user', 'an empty value is a plain user');
    });

    it('any other value fails that user with a message naming user and value', () => {
      const error = fails(mapStoreUser(storeUser({ username: 'grace', attributes: { userType: 'superuser' } }), mapped));
      assert.equal(error.field, 'userType');
      assert.equal(error.username, 'grace');
      assert.equal(error.message, 'user grace: userType "superuser" is not valid; use "user" or "admin"');
    });

    it('an admin needs an email (Duo requires one to create an administrator)', () => {
      const error = fails(mapStoreUser(storeUser({ email: undefined, attributes: { userType: 'admin' } }), mapped));
      assert.equal(error.field, 'userType');
      assert.match(error.message, /needs an email/);
    });
  });

  describe('overrides', () => {
    it('reads attributes, constants and templates', () => {
      const mappings = AttributeMappingsSchema.parse({
        email: { from: 'attr:mail' },
        notes: { template: 'Badge ${attr:badge} (${attr:department})' },
        lastname: { const: 'Contractor' },
        userType: { const: 'admin' },
      });
      const user = ok(mapStoreUser(storeUser({ attributes: { mail: ['', 'ada@corp.example'], badge: '42', department: 'R&D' } }), mappings));
      assert.equal(user.email, 'ada@corp.example');
      assert.equal(user.notes, 'Badge 42 (R&D)');
      assert.equal(user.lastname, 'Contractor');
      assert.equal(user.userType, 'admin');
    });

    it('a mapped notes attribute that is empty clears the human notes (null, not absent)', () => {
      const user = ok(mapStoreUser(storeUser(), AttributeMappingsSchema.parse({ notes: { from: 'attr:note' } })));
      assert.equal(user.notes, null);
    });

    it('templates collapse the gaps left by empty placeholders', () => {
      assert.equal(evaluateSource({ template: '${givenName}  ${attr:middle} ${familyName}' }, storeUser()), 'Ada Lovelace');
      assert.equal(evaluateSource({ template: '${attr:none}' }, storeUser()), null);
    });

    it('firstOf takes the first non-empty alternative', () => {
      const expr = { firstOf: [{ from: 'attr:preferred' }, { from: 'email' }] };
      assert.equal(evaluateSource(expr, storeUser()), 'ada@example.com');
      assert.equal(evaluateSource(expr, storeUser({ attributes: { preferred: 'ada.l@example.com' } })), 'ada.l@example.com');
    });

    it('status can come from an attribute with true/false or active/disabled words', () => {
      const mappings = AttributeMappingsSchema.parse({ status: { from: 'attr:accountStatus' } });
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { accountStatus: 'Disabled' } }), mappings)).status, 'disabled');
      assert.equal(ok(mapStoreUser(storeUser({ attributes: { accountStatus: 'yes' } }), mappings)).status, 'active');
      const error = fails(mapStoreUser(storeUser({ attributes: { accountStatus: 'maybe' } }), mappings));
      assert.equal(error.field, 'status');
      assert.match(error.message, /"maybe"/);
    });

    it('an empty username fails the user, named by external id', () => {
      const error = fails(mapStoreUser(storeUser({ username: ' ', externalId: 'cn=x' })));
      assert.equal(error.field, 'username');
      assert.equal(error.username, 'with external id cn=x');
    });
  });

  describe('phones', () => {
    it('reads national formats with the rule region, and trunk prefixes, into E.164', () => {
      const phoneOf = (mobile: string, options?: MappingOptions) => ok(mapStoreUser(storeUser({ phones: [mobile], attributes: { mobile } }), undefined, options)).phone;
      assert.deepEqual(phoneOf('020 7930 1110', GB), { number: '+442079301110', type: 'mobile' });
      assert.deepEqual(phoneOf('07700 900123', GB), { number: '+447700900123', type: 'mobile' });
      assert.deepEqual(phoneOf('+49 (0)30 90090333'), { number: '+493090090333', type: 'mobile' });
    });

    it('keeps extensions and accepts tel: URIs', () => {
      const phoneOf = (telephoneNumber: string, options?: MappingOptions) =>
        ok(mapStoreUser(storeUser({ phones: [telephoneNumber], attributes: { telephoneNumber } }), undefined, options)).phone;
      assert.deepEqual(phoneOf('020 7930 1110 x204', GB), { number: '+442079301110', extension: '204', type: 'landline' });
      assert.deepEqual(phoneOf('+44 20 7930 1110 ext. 12'), { number: '+442079301110', extension: '12', type: 'landline' });
      assert.deepEqual(phoneOf('tel:+1-555-015-0555'), { number: '+15550150555', type: 'landline' });
    });

    it('mobile wins over telephoneNumber, and the type comes from the attribute', () => {
      const both = storeUser({ phones: ['+44 20 7930 1110', '+44 7700 900123'], attributes: { telephoneNumber: '+44 20 7930 1110', mobile: ['', '+44 7700 900123'] } });
      assert.deepEqual(ok(mapStoreUser(both)).phone, { number: '+447700900123', type: 'mobile' });
      const desk = storeUser({ phones: ['+44 20 7930 1110'], attributes: { TelephoneNumber: '+44 20 7930 1110' } });
      assert.deepEqual(ok(mapStoreUser(desk)).phone, { number: '+442079301110', type: 'landline' }, 'attribute names match case-insensitively');
    });

    it('which attribute wins, and its type, are set per rule with phoneSources', () => {
      const both = storeUser({ attributes: { telephoneNumber: '+44 20 7930 1110', mobile: '+44 7700 900123' } });
      const deskFirst: MappingOptions = { phoneSources: [{ from: 'attr:telephoneNumber', type: 'unknown' }, { from: 'attr:mobile', type: 'mobile' }] };
      assert.deepEqual(ok(mapStoreUser(both, undefined, deskFirst)).phone, { number: '+442079301110', type: 'unknown' });
      assert.equal(ok(mapStoreUser(storeUser({ phones: ['+44 20 7946 0958'] }), undefined, { phoneSources: [{ from: 'attr:pager', type: 'mobile' }] })).phone, null);
    });

    it("without phone attributes, the store's phone list is used, as mobile (file and SCIM stores)", () => {
      assert.deepEqual(ok(mapStoreUser(storeUser({ phones: [' ', '+1 (415) 555-0100'] }))).phone, { number: '+14155550100', type: 'mobile' });
    });

    it('an attributeMappings.phone override still picks the value (type mobile)', () => {
      const user = storeUser({ attributes: { pager: '+44 7700 900123', mobile: '+44 20 7930 1110' } });
      assert.deepEqual(ok(mapStoreUser(user, AttributeMappingsSchema.parse({ phone: { from: 'attr:pager' } }))).phone, { number: '+447700900123', type: 'mobile' });
    });

    it('an invalid number fails that phone, not the user: the problem shows the input, and Duo phones are left alone', () => {
      const { user, problems } = withProblems(mapStoreUser(storeUser({ username: 'grace', attributes: { mobile: '013-0481' } }), undefined, GB));
      assert.equal(user.username, 'grace');
      assert.equal(user.phone, undefined, 'undefined: leave Duo phones as they are');
      assert.deepEqual(problems, [
        {
          username: 'grace',
          operation: 'phone',
          code: 'InvalidPhone',
          message:
            'user grace: mobile "013-0481" cannot be read as a GB number (too few digits, or a trunk prefix where none belongs); provisioned without this phone (its Duo phones are left as they are): fix the number in the directory',
        },
      ]);
    });

    it('without phoneRegion, a number without country code fails that phone (never +1)', () => {
      const { user, problems } = withProblems(mapStoreUser(storeUser({ attributes: { mobile: '07700 900123' } })));
      assert.equal(user.phone, undefined);
      assert.match(problems[0]?.message ?? '', /^user ada: mobile "07700 900123" has no country code, and the rule sets no phoneRegion/);
    });

    it('a disabled user is disabled whatever its phone: no problem reported, no phone change', () => {
      const result = mapStoreUser(storeUser({ enabled: false, attributes: { mobile: 'call reception' } }), undefined, GB);
      const user = ok(result);
      assert.equal(user.status, 'disabled');
      assert.equal(user.phone, undefined);
    });
  });

  describe("Duo's username and email rules, before any Duo call", () => {
    it('an email Duo would refuse fails the user, naming the value and the rule', () => {
      const error = fails(mapStoreUser(storeUser({ username: 'grace', email: 'grace@@example.com' })));
      assert.equal(error.field, 'email');
      assert.equal(error.message, 'user grace: email "grace@@example.com" must contain exactly one "@"; Duo would refuse it: fix it in the directory');
    });

    it('a disabled user with a broken email is still disabled (the email is not sent)', () => {
      const user = ok(mapStoreUser(storeUser({ enabled: false, email: 'not-an-email' })));
      assert.equal(user.status, 'disabled');
      assert.equal(user.email, null);
    });

    it('a username with control characters fails the user, shown escaped', () => {
      const error = fails(mapStoreUser(storeUser({ username: 'ada\nlovelace' })));
      assert.equal(error.field, 'username');
      assert.equal(error.message, 'user ada\nlovelace: username "ada\\nlovelace" contains control characters or line breaks; Duo would refuse it: fix it in the directory');
    });

    it('the mapped username is normalised exactly as usernameKey and the Duo lookups normalise it', () => {
      for (const raw of [' ada', 'ada ', '\tAda Lovelace ', 'ada']) {
        const mapped = ok(mapStoreUser(storeUser({ username: raw }))).username;
        assert.equal(mapped, normalizeUsername(raw), JSON.stringify(raw));
        assert.equal(usernameKey(mapped), usernameKey(raw), JSON.stringify(raw));
      }
    });
  });

  it('usernames compare case-insensitively', () => {
    assert.equal(usernameKey(' Ada.Lovelace '), usernameKey('ada.lovelace'));
  });
});
