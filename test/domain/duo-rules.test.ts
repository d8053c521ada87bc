/**
 * Duo's username and email rules (src/domain/duo-rules.ts), one case per rule, each with where the
 * rule comes from; and the Duo sandbox refusing the same values, so tests see what Duo would.
 */
import assert from 'node:assert/strict';
import { EMAIL_MAX_LENGTH, emailProblem, normalizeUsername, usernameKey, usernameProblem } from '../../src/domain/duo-rules';
import { seededRandom } from '../../src/sandbox/random';
import { ApiFailure, DuoStore } from '../../src/sandbox/store';

describe('domain/duo-rules', () => {
  describe('usernames', () => {
    // Duo, "Import Users": a username "may include spaces, numbers, and punctuation".
    it('allows letters (any script), digits, inner spaces and punctuation', () => {
      for (const name of ['ada', 'ada.lovelace@example.com', 'ACME\\ada', 'Ada Lovelace', "o'brien-smith_2", 'zoë', '李雷', 'a*)(uid=*']) {
        assert.equal(usernameProblem(name), null, name);
      }
    });

    // Duo: `username` is required on create (Admin API, POST /admin/v1/users).
    it('refuses an empty username', () => {
      assert.equal(usernameProblem(''), 'is empty');
    });

    // Not letters, digits, spaces or punctuation (the Import Users wording), and untypeable at a login prompt.
    it('refuses control characters and line breaks', () => {
      for (const name of ['ada\nlovelace', 'tab\there', 'nul\u0000', 'del\u007f', 'c1\u0085', 'ls\u2028']) {
        assert.equal(usernameProblem(name), 'contains control characters or line breaks', JSON.stringify(name));
      }
    });

    // duo-sync's normalisation: surrounding white space is removed before anything is sent or compared.
    it('normalises by trimming surrounding white space, keeping case and inner spaces', () => {
      assert.equal(normalizeUsername('  Ada Lovelace\t'), 'Ada Lovelace');
      assert.equal(usernameProblem(' ada'), 'has white space at its start or end', 'a value that skipped normalisation is refused');
    });

    // Duo documents no case rule; its lookups match case-insensitively in practice, and duo-sync assumes so.
    it('compares case-insensitively after the same normalisation', () => {
      assert.equal(usernameKey(' Ada '), usernameKey('ada'));
      assert.equal(usernameKey('ADA'), 'ada');
      assert.notEqual(usernameKey('ada lovelace'), usernameKey('adalovelace'), 'inner spaces are significant');
    });

    // Duo documents no maximum length, so none is enforced.
    it('enforces no length limit', () => {
      assert.equal(usernameProblem('a'.repeat(1000)), null);
    });
  });

  describe('emails', () => {
    // Duo, "Import Users": "The email value must be a correctly formatted SMTP address".
    it('accepts ordinary addresses, RFC 5322 atext in the local part, and punycode domains', () => {
      for (const email of ['ada@example.com', "o'brien+tag@mail.example.co.uk", 'a!#$%&*/=?^_`{|}~-z@example.org', 'x@xn--exmple-cua.com']) {
        assert.equal(emailProblem(email), null, email);
      }
    });

    // RFC 5321 §4.1.2 Mailbox = Local-part "@" Domain.
    it('needs exactly one @', () => {
      for (const email of ['not-an-email', 'two@@example.com', 'a@b@example.com']) assert.equal(emailProblem(email), 'must contain exactly one "@"', email);
    });

    // RFC 5322 §3.2.3 dot-atom: no white space, no leading, trailing or doubled dots; no quoted strings.
    it('refuses local parts that are not a dot-atom', () => {
      for (const email of ['space in@example.com', 'trailing.dot.@example.com', '.lead@example.com', 'a..b@example.com', '"quoted"@example.com', 'ünï@example.com']) {
        assert.match(emailProblem(email) ?? '', /before the "@"/, email);
      }
    });

    // RFC 1123 host names with at least two labels; RFC 5890 ASCII form for internationalised domains.
    it('refuses domains that are not host names', () => {
      for (const email of ['a@example', 'a@-example.com', 'a@exa_mple.com', 'a@[192.0.2.1]', 'a@exämple.com', 'a@example.com.']) {
        assert.match(emailProblem(email) ?? '', /domain/, email);
      }
    });

    // RFC 5321 §4.5.3.1: local part at most 64 octets, path at most 256 (so 254 for the address).
    it('enforces the SMTP length limits', () => {
      assert.equal(emailProblem(`${'a'.repeat(64)}@example.com`), null);
      assert.match(emailProblem(`${'a'.repeat(65)}@example.com`) ?? '', /1-64 characters/);
      const long = `a@${['b', 'c', 'd', 'e'].map((c) => c.repeat(62)).join('.')}.com`;
      assert.ok(long.length > EMAIL_MAX_LENGTH);
      assert.match(emailProblem(long) ?? '', /longer than 254/);
    });
  });

  describe('the Duo sandbox enforces the same rules', () => {
    const params = (entries: Record<string, string>) => new Map(Object.entries(entries));
    const refused = (fn: () => unknown, detail: string) =>
      assert.throws(fn, (err: unknown) => err instanceof ApiFailure && err.code === 40002 && err.detail === detail);

    it('refuses invalid usernames and emails on create and modify with 40002 naming the parameter', () => {
      const store = new DuoStore(seededRandom(1));
      refused(() => store.createUser(params({ username: 'ada\nlovelace' })), 'username');
      refused(() => store.createUser(params({ username: ' ada' })), 'username');
      refused(() => store.createUser(params({ username: 'ada', email: 'trailing.dot.@example.com' })), 'email');
      const ada = store.createUser(params({ username: 'ada', email: 'ada@example.com' }));
      refused(() => store.modifyUser(ada.user_id, params({ username: 'ada ' })), 'username');
      refused(() => store.modifyUser(ada.user_id, params({ email: 'a@example' })), 'email');
      assert.equal(store.modifyUser(ada.user_id, params({ email: '' })).email, '', 'an empty email clears it');
    });
  });
});
