import assert from 'node:assert/strict';
import { AttributeMappingsSchema, evaluateSource, mapStoreUser, normalizePhone, StoreUserSchema, usernameKey, type DesiredDuoUser, type MappingResult } from '../../src/domain/mapping';
import { storeUser } from './fixtures';

function ok(result: MappingResult): DesiredDuoUser {
  if (!result.ok) assert.fail(`expected a mapped user, got: ${result.error.message}`);
  return result.user;
}

function fails(result: MappingResult): { field: string; message: string; username: string } {
  if (result.ok) assert.fail(`expected a mapping error, got ${JSON.stringify(result.user)}`);
  return result.error;
}

describe('domain/mapping', () => {
  it('the fixture is a valid store user', () => {
    assert.ok(StoreUserSchema.safeParse(storeUser()).success);
  });

  describe('default mappings (DESIGN §1)', () => {
    it('maps username, email, names, first phone, status and userType', () => {
      const user = ok(mapStoreUser(storeUser({ phones: ['', '+1 (415) 555-0100', '+44 20 7946 0958'] })));
      assert.deepEqual(user, {
        username: 'ada',
        email: 'ada@example.com',
        realname: 'Ada Lovelace',
        firstname: 'Ada',
        lastname: 'Lovelace',
        status: 'active',
        phone: '+14155550100',
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
    it('normalises to + and digits (E.164-ish)', () => {
      assert.equal(normalizePhone('+44 20 7946 0958'), '+442079460958');
      assert.equal(normalizePhone('+1 (415) 555-0100'), '+14155550100');
      assert.equal(normalizePhone('0044 20 7946 0958'), '+442079460958');
      assert.equal(normalizePhone('+1 415.555.0100 x123'), '+14155550100');
      assert.equal(normalizePhone('  '), null);
    });

    it('assumes a North-American number without + (as Duo does)', () => {
      assert.equal(normalizePhone('415-555-0100'), '+14155550100');
      assert.equal(normalizePhone('1 415 555 0100'), '+14155550100');
    });

    it('rejects letters and impossible lengths, failing the user on the phone field', () => {
      assert.throws(() => normalizePhone('call me'), /contains characters/);
      assert.throws(() => normalizePhone('+12'), /7-15/);
      assert.throws(() => normalizePhone('+1234567890123456'), /7-15/);
      const error = fails(mapStoreUser(storeUser({ phones: ['555-CALL-NOW'] })));
      assert.equal(error.field, 'phone');
      assert.match(error.message, /^user ada: phone number "555-CALL-NOW"/);
    });
  });

  it('usernames compare case-insensitively', () => {
    assert.equal(usernameKey(' Ada.Lovelace '), usernameKey('ada.lovelace'));
  });
});
